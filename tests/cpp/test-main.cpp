// Tests for the engine and the modules under it, without Python:
//   test-engine MODEL.gguf        (or STREAMINFER_TEST_MODEL=MODEL.gguf test-engine)
//   STREAMINFER_TEST_FILTER=queue test-engine MODEL.gguf   (only the cases named *queue*)
//
// The module cases need no model thread; the engine scenario last runs the
// whole engine on a real model. Built three times (see CMakeLists.txt):
// plain, ASan+UBSan, TSan.

#include "test-support.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char ** argv) {
    using namespace streaminfer_test;
    const char *      env_model  = std::getenv("STREAMINFER_TEST_MODEL");
    const std::string model_path = argc > 1 ? argv[1] : env_model != nullptr ? env_model : "";
    if (model_path.empty()) {
        std::fprintf(stderr, "usage: %s MODEL.gguf (or set STREAMINFER_TEST_MODEL)\n", argv[0]);
        return 2;
    }
    // The module cases register themselves (TEST_CASE); then the engine's
    // fault cases, and the scenario, the slow one, last.
    std::vector<test_case> cases = registered_cases();
    cases.push_back({"engine_faults", [&] { run_engine_faults(model_path); }});
    cases.push_back({"engine", [&] { run_engine_scenario(model_path); }});
    // STREAMINFER_TEST_FILTER=text runs only the cases whose name holds it.
    return run_cases(cases, std::getenv("STREAMINFER_TEST_FILTER"));
}
