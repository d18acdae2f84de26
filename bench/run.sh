#!/usr/bin/env bash
# Builds the benchmark in its four flavours, times the same steps in PyTorch, and prints the
# tables of docs/performance.md: -O3 -march=native on one thread, -O2 on one thread,
# -O3 -march=native -fopenmp on two threads, and -O3 -march=native with Eigen's products in
# OpenBLAS (backprop::openblas) on one thread.
#
# Usage: bench/run.sh [--no-pytorch] [REPETITIONS [FLAVOUR...]]
#   REPETITIONS  default 10; each repetition lasts at least 0.1 s
#   FLAVOUR      native, O2, openmp or openblas; default all four. Only those are built and run.
#   --no-pytorch do not time PyTorch again: the tables use the timings of the last run
#                (build/bench/pytorch.txt) if there are any, else leave PyTorch out.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

pytorch=1
if [ "${1:-}" = "--no-pytorch" ]; then
    pytorch=0
    shift
fi
repetitions=${1:-10}
[ $# -gt 0 ] && shift
flavours=("$@")
[ ${#flavours[@]} -gt 0 ] || flavours=(native O2 openmp openblas)
for flavour in "${flavours[@]}"; do
    case "$flavour" in
        native|O2|openmp|openblas) ;;
        *) echo "unknown flavour '$flavour' (native, O2, openmp or openblas)" >&2; exit 2 ;;
    esac
done

packages=(cmake ninja-build g++ libeigen3-dev libbenchmark-dev libopenblas-dev)
[ $pytorch -eq 0 ] || packages+=(python3-torch libopenblas0-pthread)
require_packages "${packages[@]}"

build=build/bench
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBACKPROP_BUILD_BENCH=ON \
    -DBACKPROP_BUILD_TESTS=OFF -DBACKPROP_BUILD_EXAMPLES=OFF
cmake --build "$build" -j2 --target "${flavours[@]/#/backprop_bench_}"

if [ $pytorch -eq 1 ]; then
    echo "=== PyTorch"
    /usr/bin/python3 bench/compare_pytorch.py --repetitions "$repetitions" > "$build/pytorch.txt"
fi

echo "=== load: $(uptime)"
flags=(--benchmark_repetitions="$repetitions" --benchmark_enable_random_interleaving=true
       --benchmark_min_time=0.1)
[ -s "$build/pytorch.txt" ] && flags+=(--pytorch="$build/pytorch.txt")
for flavour in "${flavours[@]}"; do
    case "$flavour" in
        native)
            echo "=== -O3 -march=native, one thread"
            "$build/bench/backprop_bench_native" "${flags[@]}" ;;
        O2)
            echo "=== -O2, one thread"
            "$build/bench/backprop_bench_O2" "${flags[@]}" ;;
        openmp)
            echo "=== -O3 -march=native -fopenmp, two threads"
            OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive "$build/bench/backprop_bench_openmp" \
                "${flags[@]}" ;;
        openblas)
            echo "=== -O3 -march=native, Eigen's products in OpenBLAS, one thread"
            OPENBLAS_NUM_THREADS=1 "$build/bench/backprop_bench_openblas" "${flags[@]}" ;;
    esac
done
echo "=== load: $(uptime)"
