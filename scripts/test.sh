#!/usr/bin/env bash
# Builds and runs the whole test suite, warnings as errors everywhere:
#   tsan      the concurrent-inference test alone, under ThreadSanitizer (the rest of the suite is
#             single-threaded);
#   gcc       g++ and libstdc++, Release (so the checks are seen to hold without Eigen's debug
#             asserts): the tests, the examples, the packaging tests, a compile of the benchmark
#             (bench/), the PyTorch tests again with Eigen's products in OpenBLAS
#             (backprop::openblas, libopenblas-dev), and the documentation site (docs/: Doxygen
#             fails on any warning, and the tutorial programs run for the output the pages show),
#             then reads the built site in headless Chromium with the network cut
#             (docs/check_site.py: raw TeX, a broken image or a broken local link fails it);
#   clang     clang++ and libc++ (Debug, as on macOS): the tests, and the libFuzzer harnesses of
#             the loaders (fuzz/) for a bounded number of inputs; the examples are left to gcc;
#   sanitize  g++ under AddressSanitizer and UndefinedBehaviorSanitizer: the tests (the examples
#             are left to gcc: some forty programs built a third time would double CI's time).
# The MPI tests (tests/mpi/, under mpiexec with 2 and 3 ranks: about 10 s) run in gcc, which
# fails if MPI is not found, with the MPI digits example and a compile of bench/mpi_step.cpp;
# clang and sanitize run them too when MPI is found (under AddressSanitizer without leak
# detection, as Open MPI does not free all it allocates).
# One build per configuration; ctest's summary of the last one closes the output.
# (scripts/docs.sh builds the site alone; `docs` here does the same, without tests.)
#
# Usage: scripts/test.sh [tsan] [gcc] [clang] [sanitize] [docs]    (default: the first four)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
require_packages cmake ninja-build g++ clang libeigen3-dev catch2 libclang-rt-14-dev libbenchmark-dev \
                 libc++-14-dev libc++abi-14-dev zlib1g-dev libopenmpi-dev openmpi-bin fortunes
# Fashion-MNIST, for the tests on real data: without it they say "skipped" rather than fail.
(require_packages dataset-fashion-mnist) ||
    echo "dataset-fashion-mnist is not installed: the tests on Fashion-MNIST will be skipped" >&2

configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(tsan gcc clang sanitize)

for config in "${configs[@]}"; do
    case "$config" in
        gcc)      require_packages doxygen graphviz libjs-mathjax chromium python3 libopenblas-dev
                  args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release
                        -DBACKPROP_TEST_PACKAGING=ON -DBACKPROP_BUILD_BENCH=ON
                        -DBACKPROP_BUILD_DOCS=ON -DCMAKE_REQUIRE_FIND_PACKAGE_MPI=ON) ;;
        clang)    args=(-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug
                        -DCMAKE_CXX_FLAGS=-stdlib=libc++
                        -DBACKPROP_BUILD_EXAMPLES=OFF -DBACKPROP_BUILD_FUZZERS=ON) ;;
        sanitize) args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug -DBACKPROP_BUILD_EXAMPLES=OFF
                        "-DCMAKE_CXX_FLAGS=-O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer") ;;
        tsan)     args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug -DBACKPROP_BUILD_EXAMPLES=OFF
                        "-DCMAKE_CXX_FLAGS=-O1 -fsanitize=thread") ;;
        docs)     require_packages doxygen graphviz libjs-mathjax chromium python3
                  args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release
                        -DBACKPROP_BUILD_TESTS=OFF -DBACKPROP_BUILD_DOCS=ON) ;;
        *) echo "unknown configuration '$config' (tsan, gcc, clang, sanitize or docs)" >&2; exit 2 ;;
    esac
    echo "=== $config"
    cmake -S . -B "build/$config" -G Ninja -DBACKPROP_WERROR=ON "${args[@]}"
    case "$config" in
        docs) cmake --build "build/$config"
              /usr/bin/python3 docs/check_site.py "build/$config/html" docs ;;
        tsan) cmake --build "build/$config" --target backprop_thread_tests
              "build/$config/tests/backprop_thread_tests" ;;
        *)    cmake --build "build/$config"
              [ "$config" != gcc ] || /usr/bin/python3 docs/check_site.py "build/$config/html" docs
              ctest --test-dir "build/$config" --output-on-failure -j2 ;;
    esac
done
