# Locate (or fetch) the pinned llama.cpp sources and add only ggml + llama.
#
# Order: STREAMINFER_LLAMA_SRC (environment or cache variable), else
# third_party/llama.cpp, fetched from the package registry by
# third_party/fetch_llama.py when absent.

if(DEFINED ENV{STREAMINFER_LLAMA_SRC} AND NOT STREAMINFER_LLAMA_SRC)
    set(STREAMINFER_LLAMA_SRC "$ENV{STREAMINFER_LLAMA_SRC}")
endif()
if(NOT STREAMINFER_LLAMA_SRC)
    set(STREAMINFER_LLAMA_SRC "${PROJECT_SOURCE_DIR}/third_party/llama.cpp")
    if(NOT EXISTS "${STREAMINFER_LLAMA_SRC}/CMakeLists.txt")
        find_package(Python COMPONENTS Interpreter REQUIRED)
        message(STATUS "streaminfer: fetching pinned llama.cpp into ${STREAMINFER_LLAMA_SRC}")
        execute_process(
            COMMAND "${Python_EXECUTABLE}" "${PROJECT_SOURCE_DIR}/third_party/fetch_llama.py" "${STREAMINFER_LLAMA_SRC}"
            RESULT_VARIABLE fetch_result)
        if(NOT fetch_result EQUAL 0)
            message(FATAL_ERROR "streaminfer: fetching llama.cpp failed (see above). "
                                "Set STREAMINFER_LLAMA_SRC=/path/to/llama.cpp to use a local copy.")
        endif()
    endif()
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

set(BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_COMMON   OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TESTS    OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TOOLS    OFF CACHE BOOL "" FORCE)
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
