#pragma once
// How the tutorial programs of pages 11 on are run: a page shows its worked example beside the
// derivation and its checks at the end (docs/CMakeLists.txt runs each part for its output), and
// CI runs both.

#include <cstdio>
#include <string>

namespace example {

/// Runs `worked_example()` for the argument "example", `checks()` for "checks", and both, with a
/// blank line between, for no argument. Returns main's exit status: 0 if every part that ran
/// returned true, 1 otherwise.
template <typename Example, typename Checks>
int run_parts(int argc, char** argv, Example worked_example, Checks checks) {
    const std::string part = argc > 1 ? argv[1] : "";
    bool ok = true;
    if (part != "checks") ok &= worked_example();
    if (part.empty()) std::printf("\n");
    if (part != "example") ok &= checks();
    return ok ? 0 : 1;
}

}  // namespace example
