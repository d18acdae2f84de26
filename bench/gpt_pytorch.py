#!/usr/bin/python3
"""Times one training step of the character GPT in PyTorch, for docs/performance.md.

The model of bench/gpt_step.cpp and examples/gpt.cpp (nn/gpt.hpp): 4 pre-LayerNorm blocks of
width 128 with 4 heads, context 64, GELU (tanh), tied head, batches of 12 sequences, a vocabulary
of 100, in float32 on one thread. PyTorch 1.13 has no scaled_dot_product_attention, so attention
is written from matmul, a mask and softmax, as nanoGPT writes it without flash attention. One
step = zero_grad, forward, cross-entropy over every position, backward, clip_grad_norm_(1.0),
torch.optim.AdamW.step. Run it with Debian's python3-torch (/usr/bin/python3), with
libopenblas0-pthread installed so that torch's GEMMs run in OpenBLAS.

Prints one line: "pytorch_gpt_step min_ms median_ms tokens_per_s_at_min", and to stderr which BLAS
torch ran on.

Usage: /usr/bin/python3 bench/gpt_pytorch.py [--repetitions 20] [--steps-per-repetition 5]
"""
import argparse
import math
import os
import statistics
import sys
import time

import torch

V, CONTEXT, C, HEADS, LAYERS, B = 100, 64, 128, 4, 4, 12


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(C)
        self.qkv = torch.nn.Linear(C, 3 * C)
        self.proj_attn = torch.nn.Linear(C, C)
        self.ln2 = torch.nn.LayerNorm(C)
        self.fc = torch.nn.Linear(C, 4 * C)
        self.proj = torch.nn.Linear(4 * C, C)
        self.register_buffer("mask", torch.triu(torch.ones(CONTEXT, CONTEXT, dtype=torch.bool), 1))

    def attention(self, x):
        b, t, _ = x.shape
        hs = C // HEADS
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (z.view(b, t, HEADS, hs).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        probs = torch.softmax(scores.masked_fill(self.mask[:t, :t], float("-inf")), dim=-1)
        return self.proj_attn((probs @ v).transpose(1, 2).reshape(b, t, C))

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.proj(torch.nn.functional.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Embedding(V, C)
        self.pos = torch.nn.Embedding(CONTEXT, C)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = torch.nn.LayerNorm(C)

    def forward(self, ids):
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.tok.weight.t()  # the tied head


def loaded_blas():
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line.lower()}
    return sorted(os.path.realpath(p) for p in paths)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--steps-per-repetition", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = GPT()
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95),
                                  weight_decay=0.1)
    ids = torch.randint(0, V, (B, CONTEXT))
    targets = torch.randint(0, V, (B, CONTEXT))

    def step():
        optimizer.zero_grad(set_to_none=True)
        logits = model(ids)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, V), targets.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(3):  # warm up: allocator, OpenBLAS buffers
        step()
    times = []
    for _ in range(args.repetitions):
        start = time.process_time()
        for _ in range(args.steps_per_repetition):
            step()
        times.append((time.process_time() - start) / args.steps_per_repetition * 1e3)
    best, median = min(times), statistics.median(times)
    print(f"torch {torch.__version__}, {params} parameters, BLAS: {loaded_blas()}",
          file=sys.stderr)
    print(f"pytorch_gpt_step {best:.2f} {median:.2f} {B * CONTEXT / best * 1e3:.0f}")


if __name__ == "__main__":
    main()
