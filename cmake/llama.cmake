# Locate (or fetch) the pinned llama.cpp sources and add only ggml + llama,
# in one of two flavours (README "Building"):
#   native (default)      ggml's CPU backend compiled for the build machine's
#                         CPU (-march=native), all linked statically into _core;
#   STREAMINFER_PORTABLE  ggml and llama as shared libraries, ggml's CPU backend
#                         in every x86-64 variant as a module; the best variant
#                         this CPU and OS run is chosen at run time (backends.cpp).
# Either way ggml's AMX kernels are left out unless STREAMINFER_AMX is on.
#
# Sources: STREAMINFER_LLAMA_SRC (environment or cache variable), else
# third_party/llama.cpp, fetched from the package registry and patched by
# cmake/llama/fetch_llama.py (a no-op while the tree is current).

if(DEFINED ENV{STREAMINFER_LLAMA_SRC} AND NOT STREAMINFER_LLAMA_SRC)
    set(STREAMINFER_LLAMA_SRC "$ENV{STREAMINFER_LLAMA_SRC}")
endif()
if(NOT STREAMINFER_LLAMA_SRC)
    set(STREAMINFER_LLAMA_SRC "${PROJECT_SOURCE_DIR}/third_party/llama.cpp")
    find_package(Python COMPONENTS Interpreter REQUIRED)
    execute_process(
        COMMAND "${Python_EXECUTABLE}" "${PROJECT_SOURCE_DIR}/cmake/llama/fetch_llama.py" "${STREAMINFER_LLAMA_SRC}"
        RESULT_VARIABLE fetch_result)
    if(NOT fetch_result EQUAL 0)
        message(FATAL_ERROR "streaminfer: fetching llama.cpp failed (see above). "
                            "Set STREAMINFER_LLAMA_SRC=/path/to/llama.cpp to use a local copy.")
    endif()
    file(GLOB _patches CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/cmake/llama/patches/*.patch")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
                 "${PROJECT_SOURCE_DIR}/cmake/llama/fetch_llama.py" "${PROJECT_SOURCE_DIR}/cmake/llama/llama.sha256"
                 ${_patches})
elseif(STREAMINFER_AMX)
    message(WARNING "streaminfer: STREAMINFER_AMX with STREAMINFER_LLAMA_SRC: make sure that tree carries "
                    "cmake/llama/patches/ggml-amx-tile-config.patch, or AMX decodes may die with SIGILL")
endif()
if(NOT EXISTS "${STREAMINFER_LLAMA_SRC}/include/llama.h")
    message(FATAL_ERROR "streaminfer: ${STREAMINFER_LLAMA_SRC} is not a llama.cpp source tree (no include/llama.h)")
endif()

if(GGML_CUDA)
    include(CheckLanguage)
    check_language(CUDA)
    if(NOT CMAKE_CUDA_COMPILER)
        message(FATAL_ERROR "streaminfer: -DGGML_CUDA=ON was given but no CUDA toolkit (nvcc) was found. "
                            "Install the CUDA toolkit and put nvcc on PATH (or set CUDACXX), "
                            "or build without GGML_CUDA for the CPU backend.")
    endif()
endif()

if(STREAMINFER_PORTABLE)
    if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
        message(FATAL_ERROR "streaminfer: STREAMINFER_PORTABLE is for x86-64 (this is ${CMAKE_SYSTEM_PROCESSOR})")
    endif()
    # ggml loads the CPU variants with dlopen, and they link ggml-base: shared.
    set(BUILD_SHARED_LIBS     ON  CACHE BOOL "" FORCE)
    set(GGML_BACKEND_DL       ON  CACHE BOOL "" FORCE)
    set(GGML_CPU_ALL_VARIANTS ON  CACHE BOOL "" FORCE)
    set(GGML_NATIVE           OFF CACHE BOOL "" FORCE)
    set(_STREAMINFER_NATIVE_FORCED_OFF ON CACHE INTERNAL "GGML_NATIVE was turned off by STREAMINFER_PORTABLE")
    # The baseline of everything but the variants' own instructions, whatever
    # the compiler's default (x86-64-v2 or v3 on some distributions).
    add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:-march=x86-64;-mtune=generic>")
    # Every library finds the others beside itself, in the build tree (bin/,
    # where llama.cpp puts them) as in the wheel (streaminfer/).
    set(CMAKE_INSTALL_RPATH "$ORIGIN")
else()
    set(BUILD_SHARED_LIBS     OFF CACHE BOOL "" FORCE)
    set(GGML_BACKEND_DL       OFF CACHE BOOL "" FORCE)
    set(GGML_CPU_ALL_VARIANTS OFF CACHE BOOL "" FORCE)
    if(_STREAMINFER_NATIVE_FORCED_OFF) # this build tree was portable
        set(GGML_NATIVE ON CACHE BOOL "" FORCE)
        unset(_STREAMINFER_NATIVE_FORCED_OFF CACHE)
    endif()
    # Native means native, also where SOURCE_DATE_EPOCH would make ggml's
    # default a fixed AVX2 build; -DGGML_NATIVE=OFF still chooses otherwise.
    set(GGML_NATIVE ON CACHE BOOL "ggml: optimize the build for the current system")
endif()
# ggml appends every backend it adds to this cached list and never resets it:
# left over from another flavour, it would name targets this one lacks.
unset(GGML_AVAILABLE_BACKENDS CACHE)
# llama.cpp's tools only with STREAMINFER_LLAMA_BENCH, for the benchmarks that
# run llama-bench beside _core on the same ggml build (python -m bench gpu,
# bench/gpu.py); they are built only on request (--target llama-bench).
set(LLAMA_BUILD_COMMON   ${STREAMINFER_LLAMA_BENCH} CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TESTS    OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TOOLS    ${STREAMINFER_LLAMA_BENCH} CACHE BOOL "" FORCE)
set(LLAMA_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_SERVER   OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_APP      OFF CACHE BOOL "" FORCE)
set(LLAMA_CURL           OFF CACHE BOOL "" FORCE)
set(LLAMA_OPENSSL        OFF CACHE BOOL "" FORCE)
# ggml's own thread pool instead of OpenMP: no libgomp inside the Python
# process, and ThreadSanitizer understands plain pthreads + atomics.
set(GGML_OPENMP          OFF CACHE BOOL "" FORCE)
set(LLAMA_ALL_WARNINGS   OFF CACHE BOOL "" FORCE)

add_subdirectory("${STREAMINFER_LLAMA_SRC}" "${CMAKE_BINARY_DIR}/llama.cpp" EXCLUDE_FROM_ALL SYSTEM)

# ggml's CPU backend targets: ggml-cpu, or one ggml-cpu-<variant> per variant.
set(STREAMINFER_CPU_BACKENDS ${GGML_AVAILABLE_BACKENDS})
list(FILTER STREAMINFER_CPU_BACKENDS INCLUDE REGEX "^ggml-cpu")

if(STREAMINFER_PORTABLE)
    # What the portable wheel ships beside _core (CMakeLists.txt installs it):
    # the shared libraries under names of our own (another package in the same
    # process may bring a libllama.so or libggml.so, and the loader would hand
    # ours that copy by its soname), unversioned (a wheel holds no symlinks),
    # and every backend module (the CPU variants; CUDA when built).
    set(STREAMINFER_SHIPPED_LIBRARIES llama ggml ggml-base ${GGML_AVAILABLE_BACKENDS})
    foreach(_lib llama ggml ggml-base)
        set_target_properties(${_lib} PROPERTIES OUTPUT_NAME "streaminfer-${_lib}")
    endforeach()
    set_property(TARGET ${STREAMINFER_SHIPPED_LIBRARIES} PROPERTY VERSION)   # no value: unset
    set_property(TARGET ${STREAMINFER_SHIPPED_LIBRARIES} PROPERTY SOVERSION)
    # $ORIGIN in the build tree too: a copy of the folder runs as the wheel does.
    set_target_properties(${STREAMINFER_SHIPPED_LIBRARIES} PROPERTIES BUILD_WITH_INSTALL_RPATH ON)
endif()

# AMX. ggml's AMX kernels crash as released (cmake/llama/patches/
# ggml-amx-tile-config.patch says why, and fixes it), and they are compiled in
# wherever -march=native or a variant turns AMX on. Off by default: no CPU
# backend target is compiled with AMX, so not one tile instruction is in the
# build (tests/python/test_amx.py and test_cpu_dispatch.py disassemble it).
if(NOT STREAMINFER_AMX)
    include(CheckCompilerFlag)
    foreach(_lang C CXX) # the kernels are C++; ggml-cpu.c reports AMX from the same macros
        foreach(_isa amx-tile amx-int8 amx-bf16 amx-fp16 amx-complex)
            string(MAKE_C_IDENTIFIER "STREAMINFER_${_lang}_HAS_NO_${_isa}" _var)
            check_compiler_flag(${_lang} "-mno-${_isa}" ${_var})
            if(${_var})
                foreach(_target IN LISTS STREAMINFER_CPU_BACKENDS)
                    target_compile_options(${_target} PRIVATE "$<$<COMPILE_LANGUAGE:${_lang}>:-mno-${_isa}>")
                endforeach()
            endif()
        endforeach()
    endforeach()
endif()
