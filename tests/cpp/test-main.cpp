// Tests for the engine and the modules under it, without Python:
//   test-engine MODEL.gguf        (or STREAMINFER_TEST_MODEL=MODEL.gguf test-engine)
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
    // The module cases register themselves (TEST_CASE); the scenario, the
    // slow one, runs last.
    std::vector<test_case> cases = registered_cases();
    cases.push_back({"engine", [&] { run_engine_scenario(model_path); }});
    return run_cases(cases);
}
