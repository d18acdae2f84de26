#!/usr/bin/env bash
# Builds the examples and runs one of them (by default the seed notebook's walkthrough).
#
# Usage: scripts/run_example.sh [NAME [ARGUMENTS...]]
#   NAME is a file of examples/ without .cpp; the arguments are passed to it. The GPT's
#   documented run (docs/18_gpt.md): scripts/run_example.sh gpt --require-below-bigram 0.5
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
require_packages cmake ninja-build g++ libeigen3-dev zlib1g-dev fortunes
# Fashion-MNIST, for the examples on real images; the others run without it.
(require_packages dataset-fashion-mnist) ||
    echo "dataset-fashion-mnist is not installed: the examples on Fashion-MNIST cannot run" >&2

name="${1:-seed_walkthrough}"
[ $# -eq 0 ] || shift
cmake -S . -B build/examples -G Ninja -DCMAKE_BUILD_TYPE=Release -DBACKPROP_BUILD_TESTS=OFF
cmake --build build/examples --target "$name"
"build/examples/examples/$name" "$@"
