#!/usr/bin/env python3
"""Writes pytorch_reference_schedules.hpp: the learning rates PyTorch's schedulers give.

Run once with Debian's interpreter (/usr/bin/python3, package python3-torch); the tests compile
its output and need no Python. For each case an SGD optimiser on one float64 parameter starts at
lr = base_lr, and lr[t] is its learning rate after t calls of scheduler.step() (the rate used by
the optimiser's step t), as the training loop sees it; PyTorch computes these recursively.
Cases: StepLR, CosineAnnealingLR (past T_max too), LinearLR (warm-up and decay) and
SequentialLR([LinearLR, CosineAnnealingLR], milestones=[warmup]), at least 30 steps each.

The header also records, per schedule kind, the largest relative difference between PyTorch's
recursive rates and its closed forms (the formulas the library implements) over the cases and
over a long cosine run, so the header's comment says how far the two drift.
"""
import math
import pathlib
import warnings

import torch

torch.set_default_dtype(torch.float64)
# SequentialLR calls scheduler.step(0) at the milestone, which warns that passing an epoch is
# deprecated; the value it computes is what we record.
warnings.filterwarnings("ignore", category=UserWarning)

LR = torch.optim.lr_scheduler


def rates(base_lr, make, steps):
    """The optimiser's lr before each of `steps` optimiser steps, stepping the scheduler after."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=base_lr)
    scheduler = make(optimizer)
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def step_closed(base_lr, step_size, gamma, t):
    return base_lr * gamma ** (t // step_size)


def cosine_closed(base_lr, T_max, eta_min, t):
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


def linear_closed(base_lr, start, end, total, t):
    return base_lr * (start + (end - start) * min(total, t) / total)


def warmup_cosine_closed(base_lr, start, warmup, T_max, eta_min, t):
    if t < warmup:
        return linear_closed(base_lr, start, 1.0, warmup, t)
    return cosine_closed(base_lr, T_max, eta_min, t - warmup)


def drift(recursive, closed):
    """The largest |recursive − closed| / |closed| (over nonzero closed values)."""
    return max((abs(r - c) / abs(c) for r, c in zip(recursive, closed) if c != 0), default=0.0)


def values(xs):
    return "{" + ", ".join(repr(x) for x in xs) + "}"


def cases(name, make, closed, arguments):
    """One C++ initializer per (base_lr, *args, steps) in `arguments`, {name, base_lr, *args, lr},
    and the largest drift between PyTorch's rates and `closed`: make(optimizer, *args) builds the
    scheduler, closed(base_lr, *args, t) is the closed form, name(*args) the PyTorch call."""
    lines, worst = [], 0.0
    for base_lr, *args, steps in arguments:
        lr = rates(base_lr, lambda optimizer: make(optimizer, *args), steps)
        worst = max(worst, drift(lr, [closed(base_lr, *args, t) for t in range(steps)]))
        fields = ", ".join(repr(v) for v in [base_lr, *args])
        lines.append(f'    {{"{name(*args)}",\n     {fields},\n     {values(lr)}}},')
    return "\n".join(lines), worst


def step_cases():
    return cases(lambda step_size, gamma: f"StepLR(step_size={step_size}, gamma={gamma!r})",
                 LR.StepLR, step_closed,
                 [(0.1, 7, 0.5, 40), (0.05, 1, 0.9, 40), (1.0, 3, 0.1, 31), (0.3, 10, 1.0, 30)])


def cosine_cases():
    return cases(lambda T_max, eta_min: f"CosineAnnealingLR(T_max={T_max}, eta_min={eta_min!r})",
                 LR.CosineAnnealingLR, cosine_closed,
                 [(0.1, 10, 0.001, 45), (0.5, 30, 0.0, 31), (0.02, 1, 0.0, 30),
                  (0.3, 12, 0.05, 60)])


def cosine_long_drift(T_max=7, steps=200):
    lr = rates(0.5, lambda o: LR.CosineAnnealingLR(o, T_max, 0.0), steps)
    return drift(lr, [cosine_closed(0.5, T_max, 0.0, t) for t in range(steps)])


def linear_cases():
    return cases(lambda start, end, total: f"LinearLR(start_factor={start!r}, "
                                           f"end_factor={end!r}, total_iters={total})",
                 LR.LinearLR, linear_closed,
                 [(0.1, 1 / 3, 1.0, 5, 30), (0.01, 0.25, 1.0, 10, 40), (0.5, 1.0, 0.1, 20, 35),
                  (0.2, 0.001, 0.5, 30, 36)])


def warmup_cosine(optimizer, start, warmup, T_max, eta_min):
    return LR.SequentialLR(optimizer, [LR.LinearLR(optimizer, start, 1.0, warmup),
                                       LR.CosineAnnealingLR(optimizer, T_max, eta_min)],
                           milestones=[warmup])


def warmup_cosine_cases():
    return cases(lambda start, warmup, T_max, eta_min:
                 f"SequentialLR([LinearLR(start_factor={start!r}, end_factor=1.0, "
                 f"total_iters={warmup}), CosineAnnealingLR(T_max={T_max}, "
                 f"eta_min={eta_min!r})], milestones=[{warmup}])",
                 warmup_cosine, warmup_cosine_closed,
                 [(6e-4, 0.01, 10, 30, 6e-5, 60), (0.1, 0.5, 1, 30, 0.0, 32),
                  (0.5, 0.1, 5, 10, 0.01, 40)])


def main():
    step, step_worst = step_cases()
    cosine, cosine_worst = cosine_cases()
    linear, linear_worst = linear_cases()
    warmup_cosine, warmup_cosine_worst = warmup_cosine_cases()
    text = f"""// Generated by make_reference_schedules.py with torch {torch.__version__}; do not edit.
// lr[t] is the optimiser's learning rate after t calls of scheduler.step(), for an optimiser
// created with lr = base_lr; PyTorch computes it recursively, in Python floats (double).
//
// The largest relative difference between these recursive rates and PyTorch's closed forms
// (what the library implements), over the cases below:
//   StepLR {step_worst:.1e}, CosineAnnealingLR {cosine_worst:.1e}, LinearLR {linear_worst:.1e},
//   SequentialLR(LinearLR, CosineAnnealingLR) {warmup_cosine_worst:.1e};
//   CosineAnnealingLR(T_max=7) over 200 steps: {cosine_long_drift():.1e}.
#pragma once

#include <vector>

namespace reference {{

// StepLR(optimizer, step_size, gamma).
struct StepLRCase {{
    const char* name;
    double base_lr;
    int step_size;
    double gamma;
    std::vector<double> lr;
}};

inline const std::vector<StepLRCase> step_lr_cases = {{
{step}
}};

// CosineAnnealingLR(optimizer, T_max, eta_min), run past T_max in the first and last case.
struct CosineAnnealingLRCase {{
    const char* name;
    double base_lr;
    int T_max;
    double eta_min;
    std::vector<double> lr;
}};

inline const std::vector<CosineAnnealingLRCase> cosine_annealing_lr_cases = {{
{cosine}
}};

// LinearLR(optimizer, start_factor, end_factor, total_iters).
struct LinearLRCase {{
    const char* name;
    double base_lr, start_factor, end_factor;
    int total_iters;
    std::vector<double> lr;
}};

inline const std::vector<LinearLRCase> linear_lr_cases = {{
{linear}
}};

// SequentialLR([LinearLR(start_factor, 1.0, warmup), CosineAnnealingLR(T_max, eta_min)],
// milestones=[warmup]).
struct WarmupCosineLRCase {{
    const char* name;
    double base_lr, start_factor;
    int warmup, T_max;
    double eta_min;
    std::vector<double> lr;
}};

inline const std::vector<WarmupCosineLRCase> warmup_cosine_lr_cases = {{
{warmup_cosine}
}};

}}  // namespace reference
"""
    out = pathlib.Path(__file__).with_name("pytorch_reference_schedules.hpp")
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
