#!/usr/bin/python3
"""Times the benchmark's training steps in PyTorch on the CPU, for docs/performance.md.

The same nets as bench/bench.cpp (two Linear layers, a ReLU between them except in the
notebook's net, MSELoss, torch.optim.SGD; and LeNet-5 with CrossEntropyLoss),
the same batches, one step = zero_grad, forward, loss, backward, step. Run it with Debian's
python3-torch (/usr/bin/python3); the tests never need it.

Prints to stdout one line per workload, dtype and thread count:
    workload dtype threads min_us median_us
which `backprop_bench --pytorch=FILE` reads; and to stderr which BLAS torch ran on and its GEMM
rate. With one thread the times are CPU times, as in bench.cpp; with two, wall times.

Usage: /usr/bin/python3 bench/compare_pytorch.py [--threads 1 2] [--repetitions 10] > FILE
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

WORKLOADS = [  # name, in, hidden, out, batch, ReLU between the layers: as in bench.cpp
    ("notebook", 5, 5, 1, 10, False),
    ("mlp_batch64", 784, 256, 10, 64, True),
    ("mlp_batch1024", 784, 256, 10, 1024, True),
]


def loaded_blas():
    """The BLAS libraries mapped into this process, resolved through the alternatives links."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line.lower()}
    return sorted(os.path.realpath(p) for p in paths)


def time_per_call(fn, threads, min_seconds):
    """Seconds per call of fn, over enough calls to last min_seconds."""
    clock = time.process_time if threads == 1 else time.perf_counter
    calls = 1
    while True:
        start = clock()
        for _ in range(calls):
            fn()
        elapsed = clock() - start
        if elapsed >= min_seconds:
            return elapsed / calls
        calls *= 2 if elapsed < min_seconds / 10 else max(2, int(min_seconds / elapsed * 1.2))


def child(threads, repetitions, min_seconds):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    for dtype_name, dtype in (("float", torch.float32), ("double", torch.float64)):
        n = 1024
        a, b = torch.rand(n, n, dtype=dtype), torch.rand(n, n, dtype=dtype)
        seconds = time_per_call(lambda: torch.mm(a, b), threads, min_seconds)
        print(f"# {threads} thread(s), {dtype_name} GEMM {n}^3: "
              f"{2 * n ** 3 / seconds * 1e-9:.1f} GFLOP/s", file=sys.stderr)
    print(f"# BLAS mapped: {', '.join(loaded_blas()) or 'none found'}", file=sys.stderr)

    for name, n_in, hidden, n_out, batch, relu in WORKLOADS:
        for dtype_name, dtype in (("float", torch.float32), ("double", torch.float64)):
            between = [torch.nn.ReLU()] if relu else []
            model = torch.nn.Sequential(torch.nn.Linear(n_in, hidden), *between,
                                        torch.nn.Linear(hidden, n_out)).to(dtype)
            optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
            loss_fn = torch.nn.MSELoss()
            X = torch.rand(batch, n_in, dtype=dtype) * 2 - 1
            y = torch.rand(batch, n_out, dtype=dtype) * 2 - 1

            def step():
                optimizer.zero_grad()
                loss = loss_fn(model(X), y)
                loss.backward()
                optimizer.step()

            report(name, dtype_name, threads, step, repetitions, min_seconds)

    # LeNet-5 as bench.cpp's LeNetStep: the same layers, batch 64, cross-entropy, SGD.
    for dtype_name, dtype in (("float", torch.float32), ("double", torch.float64)):
        nn = torch.nn
        model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                              nn.Linear(84, 10)).to(dtype)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()
        X = torch.rand(64, 1, 28, 28, dtype=dtype)
        y = torch.arange(64) % 10

        def lenet_step():
            optimizer.zero_grad()
            loss = loss_fn(model(X), y)
            loss.backward()
            optimizer.step()

        report("lenet_batch64", dtype_name, threads, lenet_step, repetitions, min_seconds)


def report(name, dtype_name, threads, step, repetitions, min_seconds):
    """Times `step` (after one call to warm up) and prints its line: min and median in µs."""
    step()
    times = [time_per_call(step, threads, min_seconds) * 1e6 for _ in range(repetitions)]
    print(f"{name} {dtype_name} {threads} {min(times):.4f} "
          f"{statistics.median(times):.4f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--min-seconds", type=float, default=0.2,
                        help="the least time one repetition lasts")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.repetitions, args.min_seconds)
        return
    import torch

    blas_info = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    print(f"# torch {torch.__version__}, built with BLAS_INFO="
          f"{blas_info.group(1) if blas_info else '?'}: it runs on the libblas.so.3 that the "
          "alternatives system points at", file=sys.stderr)
    for threads in args.threads:
        # The thread counts of OpenMP and OpenBLAS are fixed when they load: a fresh process
        # each. A passive wait keeps OpenMP's spinning threads from starving OpenBLAS's.
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                   OMP_WAIT_POLICY="passive")
        subprocess.run([sys.executable, __file__, "--child", str(threads), "--repetitions",
                        str(args.repetitions), "--min-seconds", str(args.min_seconds)],
                       env=env, check=True)


if __name__ == "__main__":
    main()
