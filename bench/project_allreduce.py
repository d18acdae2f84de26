#!/usr/bin/env python3
"""Fits the ring all-reduce cost model to backprop_mpi_step's measurements and projects the
data-parallel step to many machines, for docs/distributed.md.

    for p in 1 2 3 4; do mpiexec -n $p build/bench/bench/backprop_mpi_step 50; done > mpi.txt
    python3 bench/project_allreduce.py mpi.txt

The model: T(p, m) = 2(p-1)·alpha + 2(p-1)/p · m / beta for an all-reduce of m bytes over p
workers (a reduce-scatter and an all-gather around a ring). It is fitted by least squares, on the
minimum times of the "sum" rows of one rank count (2 by default: with more ranks than the
machine's cores, the ranks time-share and the fit would measure the scheduler). The projection
then puts the fitted form on networks of given alpha and beta: a step on p machines takes the
measured one-rank compute of the per-machine batch, plus T(p, m), plus the update; its scaling
efficiency is the one-machine step over it (each machine keeps its batch: weak scaling).

With the sums overlapped with the backward pass (DataParallel::overlap, buckets of BUCKET
values), each bucket's all-reduce starts when its lowest layer's backward ends (the one-rank
"left" rows: how much backward remains then) or when the bucket before it is summed, whichever
is later, and the step ends with the last bucket's sum, then the update. Standard library only.
"""
import argparse
import math
import re
import sys

NETWORKS = [  # name, latency per message (s), bandwidth per link (bytes/s): assumed, see the doc
    ("10 Gb/s", 20e-6, 10e9 / 8),
    ("100 Gb/s", 5e-6, 100e9 / 8),
]
MACHINES = [8, 16, 32, 64, 128, 256]
BUCKET = 16384  # DataParallel::overlap's default, in values


def parse(lines):
    """{ranks: {"sums": [(bytes, min s)], "steps": {(workload, N): (params, compute, update)},
    "left": {(workload, N): [(layer, values, min s of backward left after it)]}}}"""
    runs, ranks = {}, None
    for line in lines:
        m = re.match(r"(\d+) ranks, \d+ repeats", line)
        if m:
            ranks = int(m.group(1))
            runs[ranks] = {"sums": [], "steps": {}, "left": {}}
            continue
        fields = line.split()
        if ranks is None or not fields:
            continue
        if fields[0] == "sum" and len(fields) >= 7:
            runs[ranks]["sums"].append((int(fields[3]), float(fields[5]) * 1e-6))
        elif fields[0] == "left" and len(fields) >= 11:
            runs[ranks]["left"].setdefault((fields[1], int(fields[2])), []).append(
                (int(fields[5]), int(fields[7]), float(fields[9]) * 1e-6))
        elif fields[0] in ("mlp", "lenet") and len(fields) >= 10:
            runs[ranks]["steps"][(fields[0], int(fields[1]))] = (
                int(fields[3]), float(fields[4]) * 1e-6, float(fields[8]) * 1e-6)
    return runs


def ring(p, m, alpha, beta):
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * m / beta


def buckets(left):
    """[(bytes, backward left when its sum starts)] in the order overlap() sends them: layers
    from the last down, a bucket closed once it holds BUCKET values, the loss and rows (2
    values) in the first, the last closed after layer 0."""
    result, unsent = [], 2
    lowest = min(layer for layer, _, _ in left)
    for layer, values, remaining in sorted(left, reverse=True):
        unsent += values
        if unsent >= BUCKET or layer == lowest:
            result.append((4 * unsent, remaining))  # nothing is left after layer 0
            unsent = 0
    return result


def halving(p, m, alpha, beta):
    """Recursive doubling: log2(p) exchanges of the whole buffer, which MPI libraries choose for
    small buffers, where the ring's 2(p-1) messages cost more than its bytes save."""
    return math.log2(p) * (alpha + m / beta)


def overlapped(compute, sends, cost):
    """When the last bucket's sum ends, from the start of the step: each starts once its layers
    are done (compute - left) and the link is free (the bucket before it is summed)."""
    free = 0.0
    for m, remaining in sends:
        free = max(compute - remaining, free) + cost(m)
    return free


def fit(p, sums):
    """alpha, beta minimising the squared relative error of the ring model on (bytes, s)."""
    # T = a·x + b·y with x = 2(p-1), y = 2(p-1)/p·m; weights 1/T make the error relative.
    sxx = sxy = syy = sxt = syt = 0.0
    for m, t in sums:
        x, y = 2 * (p - 1) / t, 2 * (p - 1) / p * m / t
        sxx, sxy, syy, sxt, syt = sxx + x * x, sxy + x * y, syy + y * y, sxt + x, syt + y
    det = sxx * syy - sxy * sxy
    alpha = (sxt * syy - syt * sxy) / det
    inverse_beta = (syt * sxx - sxt * sxy) / det
    return alpha, 1 / inverse_beta


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measurements", type=argparse.FileType())
    parser.add_argument("--fit-ranks", type=int, default=2)
    parser.add_argument("--max-bytes", type=int, default=2_000_000,
                        help="leave out larger sums (Open MPI changes protocol above)")
    args = parser.parse_args()
    runs = parse(args.measurements)
    p = args.fit_ranks
    sums = [(m, t) for m, t in runs[p]["sums"] if 0 < m <= args.max_bytes]
    alpha, beta = fit(p, sums)
    print(f"fit on {p} ranks: alpha = {alpha * 1e6:.2f} µs, beta = {beta / 1e9:.2f} GB/s\n")
    print("| bytes | measured (µs) | model (µs) |\n|---:|---:|---:|")
    for m, t in sums:
        print(f"| {m:,} | {t * 1e6:.1f} | {ring(p, m, alpha, beta) * 1e6:.1f} |")

    one = runs[1]["steps"]
    for (workload, rows), (params, compute, update) in sorted(one.items()):
        m = 4 * params  # float gradients
        single = compute + update
        print(f"\n{workload}, {rows} rows per machine, {m / 1e6:.2f} MB of gradients: "
              f"one machine {single * 1e3:.2f} ms a step\n")
        print("| machines | " + " | ".join(f"{n}: step (ms), efficiency" for n, _, _ in NETWORKS)
              + " |")
        print("|---:|" + "---:|" * len(NETWORKS))
        for machines in MACHINES:
            cells = []
            for _, net_alpha, net_beta in NETWORKS:
                step = single + ring(machines, m, net_alpha, net_beta)
                cells.append(f"{step * 1e3:.2f}, {single / step:.0%}")
            print(f"| {machines} | " + " | ".join(cells) + " |")
        sends = buckets(runs[1]["left"].get((workload, rows), []))
        if len(sends) < 2:
            continue  # one bucket: the fused sum, started at the end of the backward pass
        print(f"\noverlapped: buckets of {[m for m, _ in sends]} bytes started with "
              f"{[round(r * 1e6) for _, r in sends]} µs of backward left")
        for name, model in (("ring", ring), ("the cheaper of ring and recursive doubling",
                                             lambda *a: min(ring(*a), halving(*a)))):
            print(f"\nevery all-reduce by {name}: step (ms) fused, overlapped (efficiency)\n")
            print("| machines | " + " | ".join(n for n, _, _ in NETWORKS) + " |")
            print("|---:|" + "---:|" * len(NETWORKS))
            for p in MACHINES:
                cells = []
                for _, a, b in NETWORKS:
                    fused = single + model(p, m, a, b)
                    over = overlapped(compute, sends, lambda size: model(p, size, a, b)) + update
                    cells.append(f"{fused * 1e3:.2f}, {over * 1e3:.2f} ({single / over:.0%})")
                print(f"| {p} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
