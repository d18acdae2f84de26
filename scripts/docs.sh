#!/usr/bin/env bash
# Builds the documentation site, the tutorial and the API reference, in build/docs/html/.
# Runs each tutorial's program for the output its page shows; Doxygen fails on any warning.
#
# Usage: scripts/docs.sh    (then open build/docs/html/index.html)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
require_packages cmake ninja-build g++ libeigen3-dev doxygen graphviz libjs-mathjax zlib1g-dev

cmake -S . -B build/docs -G Ninja -DCMAKE_BUILD_TYPE=Release -DBACKPROP_BUILD_TESTS=OFF \
      -DBACKPROP_BUILD_DOCS=ON -DBACKPROP_WERROR=ON
cmake --build build/docs --target docs
echo "The site: $PWD/build/docs/html/index.html"
