#!/usr/bin/env bash
# Builds the benchmark in its three flavours, times the same steps in PyTorch, and prints the
# tables of docs/performance.md: -O3 -march=native on one thread, -O2 on one thread, and
# -O3 -march=native -fopenmp on two threads.
#
# Usage: bench/run.sh [REPETITIONS]    (default 10; each repetition lasts at least 0.1 s)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
require_packages cmake ninja-build g++ libeigen3-dev libbenchmark-dev python3-torch \
    libopenblas0-pthread

repetitions=${1:-10}
build=build/bench
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBACKPROP_BUILD_BENCH=ON \
    -DBACKPROP_BUILD_TESTS=OFF -DBACKPROP_BUILD_EXAMPLES=OFF
cmake --build "$build" -j2 --target backprop_bench_native backprop_bench_O2 \
    backprop_bench_openmp

echo "=== PyTorch"
/usr/bin/python3 bench/compare_pytorch.py --repetitions "$repetitions" > "$build/pytorch.txt"

flags=(--benchmark_repetitions="$repetitions" --benchmark_enable_random_interleaving=true
       --benchmark_min_time=0.1 --pytorch="$build/pytorch.txt")
echo "=== -O3 -march=native, one thread"
"$build/bench/backprop_bench_native" "${flags[@]}"
echo "=== -O2, one thread"
"$build/bench/backprop_bench_O2" "${flags[@]}"
echo "=== -O3 -march=native -fopenmp, two threads"
OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive "$build/bench/backprop_bench_openmp" "${flags[@]}"
