#!/usr/bin/env bash
# Builds the examples and runs one of them (by default the seed notebook's walkthrough).
#
# Usage: scripts/run_example.sh [NAME]    (NAME is a file of examples/ without .cpp)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
require_packages cmake ninja-build g++ libeigen3-dev zlib1g-dev
# Fashion-MNIST, for the examples on real images; the others run without it.
(require_packages dataset-fashion-mnist) ||
    echo "dataset-fashion-mnist is not installed: the examples on Fashion-MNIST cannot run" >&2

name="${1:-seed_walkthrough}"
cmake -S . -B build/examples -G Ninja -DCMAKE_BUILD_TYPE=Release -DBACKPROP_BUILD_TESTS=OFF
cmake --build build/examples --target "$name"
"build/examples/examples/$name"
