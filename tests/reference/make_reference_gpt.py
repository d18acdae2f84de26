#!/usr/bin/env python3
"""Writes pytorch_reference_gpt.hpp: PyTorch's values for a whole 2-layer GPT (nn/gpt.hpp).

Run once with Debian's interpreter (/usr/bin/python3, package python3-torch); the tests compile
its output and need no Python. Everything in float64. PyTorch 1.13 has no
scaled_dot_product_attention, so attention is written here from matmul, a mask and softmax, as
the library writes it. The model, with V = 11 characters, context 6, C = 8, 2 heads, 2 blocks:

    x  = wte[ids] + wpe[t]                                   (B·T, C)
    per block:  x = x + proj(attention(qkv(ln1(x))))
                x = x + fc2(gelu_tanh(fc1(ln2(x))))
    logits = ln_f(x) · wteᵀ   (tied)  or  ln_f(x) · W + b   (untied)
    loss = mean over all B·T positions of the cross-entropy

Parameters are listed in the library's order (GPT::for_each_layer, then each layer's
for_each_parameter), each in the library's shape: W is (in, out), the transpose of
torch.nn.Linear's weight; biases and LayerNorm's gamma and beta are (1, n). Cases:
  - tied and untied heads: the loss and every parameter's gradient on one batch of B = 3
    sequences of T = 5 (shorter than the context: the positional rows 5… get no gradient);
  - the tied model: three torch.optim.AdamW steps (lr 1e-2, weight decay 0.1) on three batches,
    every parameter after each.
"""
import math
import pathlib

import torch

torch.set_default_dtype(torch.float64)

V, CONTEXT, C, HEADS, LAYERS, B, T = 11, 6, 8, 2, 2, 3, 5


def values(t):
    return "{" + ", ".join(repr(v) for v in t.detach().reshape(-1).tolist()) + "}"


def make_parameters(tied, seed):
    """Random parameters, in the library's order and shapes, as leaf tensors."""
    torch.manual_seed(seed)
    params = [("tok.W", torch.randn(V, C) * 0.5), ("pos.W", torch.randn(CONTEXT, C) * 0.5)]
    for layer in range(LAYERS):
        params += [
            (f"block{layer}.ln1.gamma", 1 + 0.2 * torch.randn(1, C)),
            (f"block{layer}.ln1.beta", 0.2 * torch.randn(1, C)),
            (f"block{layer}.attn.qkv.W", torch.randn(C, 3 * C) * 0.4),
            (f"block{layer}.attn.qkv.b", torch.randn(1, 3 * C) * 0.1),
            (f"block{layer}.attn.proj.W", torch.randn(C, C) * 0.4),
            (f"block{layer}.attn.proj.b", torch.randn(1, C) * 0.1),
            (f"block{layer}.ln2.gamma", 1 + 0.2 * torch.randn(1, C)),
            (f"block{layer}.ln2.beta", 0.2 * torch.randn(1, C)),
            (f"block{layer}.fc.W", torch.randn(C, 4 * C) * 0.4),
            (f"block{layer}.fc.b", torch.randn(1, 4 * C) * 0.1),
            (f"block{layer}.proj.W", torch.randn(4 * C, C) * 0.2),
            (f"block{layer}.proj.b", torch.randn(1, C) * 0.1),
        ]
    params += [("ln_f.gamma", 1 + 0.2 * torch.randn(1, C)), ("ln_f.beta", 0.2 * torch.randn(1, C))]
    if not tied:
        params += [("head.W", torch.randn(C, V) * 0.4), ("head.b", torch.randn(1, V) * 0.1)]
    return [(name, p.clone().requires_grad_(True)) for name, p in params]


def layer_norm(x, gamma, beta):
    return torch.nn.functional.layer_norm(x, (C,), gamma.reshape(-1), beta.reshape(-1), 1e-5)


def attention(x, p, prefix, t):
    hs = C // HEADS
    qkv = x @ p[prefix + "qkv.W"] + p[prefix + "qkv.b"]               # (B·T, 3C)
    q, k, v = (qkv[:, i * C:(i + 1) * C].reshape(-1, t, HEADS, hs).transpose(1, 2)
               for i in range(3))                                       # (B, H, T, hs)
    scores = q @ k.transpose(-1, -2) / math.sqrt(hs)                    # (B, H, T, T)
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    probs = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
    o = (probs @ v).transpose(1, 2).reshape(-1, C)                      # (B·T, C)
    return o @ p[prefix + "proj.W"] + p[prefix + "proj.b"]


def forward(params, ids, tied):
    p = dict(params)
    t = ids.shape[1]
    x = p["tok.W"][ids.reshape(-1)] + p["pos.W"][:t].repeat(ids.shape[0], 1)
    for layer in range(LAYERS):
        b = f"block{layer}."
        x = x + attention(layer_norm(x, p[b + "ln1.gamma"], p[b + "ln1.beta"]), p, b + "attn.", t)
        h = layer_norm(x, p[b + "ln2.gamma"], p[b + "ln2.beta"]) @ p[b + "fc.W"] + p[b + "fc.b"]
        h = torch.nn.functional.gelu(h, approximate="tanh")
        x = x + h @ p[b + "proj.W"] + p[b + "proj.b"]
    x = layer_norm(x, p["ln_f.gamma"], p["ln_f.beta"])
    return x @ p["tok.W"].t() if tied else x @ p["head.W"] + p["head.b"]


def loss_of(params, ids, targets, tied):
    logits = forward(params, ids, tied)
    return torch.nn.functional.cross_entropy(logits, targets.reshape(-1))


def batch(seed):
    torch.manual_seed(seed)
    ids = torch.randint(0, V, (B, T))
    ids[0, :3] = 4  # a repeated id: its embedding row gathers several gradients
    return ids, torch.randint(0, V, (B, T))


def gradient_case(tied, seed):
    params = make_parameters(tied, seed)
    ids, targets = batch(seed + 100)
    loss = loss_of(params, ids, targets, tied)
    loss.backward()
    listed = ",\n     ".join(f'{{"{name}", {p.shape[0]}, {p.shape[1]}, {values(p)}, '
                             f'{values(p.grad)}}}' for name, p in params)
    return (f'    {{{"true" if tied else "false"}, {values(ids)}, {values(targets)}, '
            f'{loss.item()!r},\n     {{{listed}}}}},')


def adamw_case():
    params = make_parameters(True, 31)
    optimizer = torch.optim.AdamW([p for _, p in params], lr=1e-2, weight_decay=0.1)
    start = ", ".join(values(p) for _, p in params)
    steps = []
    for step in range(3):
        ids, targets = batch(200 + step)
        optimizer.zero_grad()
        loss = loss_of(params, ids, targets, True)
        loss.backward()
        optimizer.step()
        after = ", ".join(values(p) for _, p in params)
        steps.append(f"{{{values(ids)}, {values(targets)}, {loss.item()!r}, {{{after}}}}}")
    return start, ",\n    ".join(steps)


def main():
    cases = "\n".join([gradient_case(True, 7), gradient_case(False, 8)])
    start, steps = adamw_case()
    text = f"""// Generated by make_reference_gpt.py with torch {torch.__version__}; do not edit.
// Matrices are stored row by row; W is (in, out), the transpose of torch.nn.Linear's weight.
#pragma once

#include <vector>

namespace reference {{

// The model: vocabulary {V}, context {CONTEXT}, embedding {C}, {HEADS} heads, {LAYERS} blocks;
// batches of {B} sequences of {T} characters, ids and targets row by row (sequence b, then t).
inline constexpr int gpt_vocab = {V}, gpt_context = {CONTEXT}, gpt_embed = {C};
inline constexpr int gpt_heads = {HEADS}, gpt_layers = {LAYERS}, gpt_batch = {B}, gpt_T = {T};

struct GptTensor {{
    const char* name;  // as the library's for_each_layer and for_each_parameter visit it
    int rows, cols;
    std::vector<double> value, gradient;
}};

struct GptGradientCase {{
    bool tied;
    std::vector<int> ids, targets;
    double loss;                    // mean cross-entropy over the B·T positions
    std::vector<GptTensor> tensors;  // every parameter, its value and ∂loss/∂value
}};

inline const std::vector<GptGradientCase> gpt_gradient_cases = {{
{cases}
}};

// torch.optim.AdamW(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1) on the tied model.
struct GptAdamWStep {{
    std::vector<int> ids, targets;
    double loss;                             // before the step
    std::vector<std::vector<double>> after;  // every parameter after the step, in order
}};

inline const std::vector<std::vector<double>> gpt_adamw_start = {{{start}}};
inline const std::vector<GptAdamWStep> gpt_adamw_steps = {{
    {steps}
}};

}}  // namespace reference
"""
    out = pathlib.Path(__file__).with_name("pytorch_reference_gpt.hpp")
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
