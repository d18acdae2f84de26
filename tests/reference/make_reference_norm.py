#!/usr/bin/env python3
"""Writes pytorch_reference_norm.hpp: PyTorch's values for pooling, normalisation and a
BatchNorm network's training step.

Run once with Debian's interpreter (/usr/bin/python3, package python3-torch); the tests compile
its output and need no Python. Everything in float64. Images are rows of (batch, C·H·W) in NCHW
order, as the library keeps them; W is (in, out), the transpose of torch.nn.Linear's weight.
  - MaxPool2d and AvgPool2d on (2, 3, 5, 7) images with ties, for (kernel, stride) = (2, 2),
    (3, 2) (overlapping windows) and (2, 3) (gaps), each with Y and dX = autograd of sum(G * Y);
  - BatchNorm1d(4) and BatchNorm2d(3) on 4×5 images (momentum 0.1 and 0.3), with random gamma
    and beta: three training steps (Y, dX, dgamma, dbeta, running mean and variance after each),
    then one step in eval mode;
  - LayerNorm(6) with random gamma and beta: Y, dX, dgamma, dbeta;
  - Linear(4, 3) → BatchNorm1d(3) → ReLU → Linear(3, 2), MSELoss, two SGD(lr 0.1) steps: every
    parameter and running statistic after each.
"""
import pathlib

import torch

torch.set_default_dtype(torch.float64)


def values(t):
    return "{" + ", ".join(repr(v) for v in t.detach().reshape(-1).tolist()) + "}"


def pool_cases():
    torch.manual_seed(11)
    X = torch.randint(-4, 5, (2, 3, 5, 7)).double() / 4  # few distinct values: many ties
    X[0, 0, 0, :2] = 1.5  # a tie for the first window's maximum: the first wins
    G = torch.rand(2, 3 * 5 * 7) * 2 - 1
    cases = []
    for kind, module in [("max", torch.nn.MaxPool2d), ("avg", torch.nn.AvgPool2d)]:
        for kernel, stride in [(2, 2), (3, 2), (2, 3)]:
            x = X.clone().requires_grad_(True)
            y = module(kernel, stride)(x)
            g = G[:, :y[0].numel()].reshape(y.shape)
            (y * g).sum().backward()
            cases.append(f'    {{"{kind}", {kernel}, {stride}, {values(y)}, {values(x.grad)}}},')
    return values(X), values(G), "\n".join(cases)


def batch_norm_case(name, module, shape, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        module.weight.copy_(torch.rand(module.num_features) + 0.5)
        module.bias.copy_(torch.rand(module.num_features) - 0.5)
    steps = []
    for step in range(4):
        module.train(step < 3)
        x = (torch.randn(*shape) * 2 + 1).requires_grad_(True)
        y = module(x)
        g = torch.rand(*y.shape) * 2 - 1
        module.weight.grad = None
        module.bias.grad = None
        (y * g).sum().backward()
        steps.append("{" + ", ".join([values(x), values(g), values(y), values(x.grad),
                                      values(module.weight.grad), values(module.bias.grad),
                                      values(module.running_mean), values(module.running_var)])
                     + "}")
    C = module.num_features
    spatial = 1 if len(shape) == 2 else shape[2] * shape[3]
    return (f'    {{"{name}", {shape[0]}, {C}, {spatial}, {module.momentum!r}, {module.eps!r},\n'
            f'     {values(module.weight)}, {values(module.bias)},\n     {{'
            + ",\n      ".join(steps) + "}},")


def layer_norm_case():
    torch.manual_seed(13)
    module = torch.nn.LayerNorm(6)
    with torch.no_grad():
        module.weight.copy_(torch.rand(6) + 0.5)
        module.bias.copy_(torch.rand(6) - 0.5)
    x = (torch.randn(4, 6) * 3 - 1).requires_grad_(True)
    y = module(x)
    g = torch.rand(4, 6) * 2 - 1
    (y * g).sum().backward()
    return ", ".join([values(module.weight), values(module.bias), values(x), values(g), values(y),
                      values(x.grad), values(module.weight.grad), values(module.bias.grad)])


def network_case():
    torch.manual_seed(17)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(),
                              torch.nn.Linear(3, 2))
    with torch.no_grad():
        net[1].weight.copy_(torch.rand(3) + 0.5)
        net[1].bias.copy_(torch.rand(3) - 0.5)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)

    def state():
        return ", ".join([values(net[0].weight.t()), values(net[0].bias), values(net[1].weight),
                          values(net[1].bias), values(net[1].running_mean),
                          values(net[1].running_var), values(net[3].weight.t()),
                          values(net[3].bias)])

    start = state()
    batches, after = [], []
    for _ in range(2):
        x = torch.randn(6, 4)
        t = torch.randn(6, 2)
        optimizer.zero_grad()
        torch.nn.MSELoss()(net(x), t).backward()
        optimizer.step()
        batches.append(f"{{{values(x)}, {values(t)}}}")
        after.append(f"{{{state()}}}")
    return start, ",\n    ".join(batches), ",\n    ".join(after)


def main():
    X, G, pools = pool_cases()
    norms = "\n".join([
        batch_norm_case("BatchNorm1d(4)", torch.nn.BatchNorm1d(4), (5, 4), 21),
        batch_norm_case("BatchNorm2d(3), 4x5, momentum 0.3",
                        torch.nn.BatchNorm2d(3, momentum=0.3), (2, 3, 4, 5), 22),
    ])
    start, batches, after = network_case()
    text = f"""// Generated by make_reference_norm.py with torch {torch.__version__}; do not edit.
// Matrices are stored row by row; images as rows of (batch, C·H·W) in NCHW order; W is (in, out).
#pragma once

#include <vector>

namespace reference {{

// Pooling: X is (2, 3·5·7), images of 3 channels, 5 rows, 7 columns; Y = pool(X) and
// dX = ∂(Σ G∘Y)/∂X, where G is the first out() columns of pool_G.
inline const std::vector<double> pool_X = {X};
inline const std::vector<double> pool_G = {G};

struct PoolCase {{
    const char* kind;  // "max" or "avg"
    int kernel, stride;
    std::vector<double> Y, dX;
}};

inline const std::vector<PoolCase> pool_cases = {{
{pools}
}};

// BatchNorm: steps 0 to 2 in training, step 3 in eval mode; dX, dgamma, dbeta = ∂(Σ G∘Y)/∂·;
// the running statistics are those after the step.
struct BatchNormStep {{
    std::vector<double> X, G, Y, dX, dgamma, dbeta, running_mean, running_var;
}};

struct BatchNormCase {{
    const char* name;
    int batch, channels, spatial;  // spatial = height·width (1 for dense features)
    double momentum, eps;
    std::vector<double> gamma, beta;
    std::vector<BatchNormStep> steps;
}};

inline const std::vector<BatchNormCase> batch_norm_cases = {{
{norms}
}};

// LayerNorm(6) on X (4, 6).
struct LayerNormCase {{
    std::vector<double> gamma, beta, X, G, Y, dX, dgamma, dbeta;
}};

inline const LayerNormCase layer_norm_case = {{{layer_norm_case()}}};

// Linear(4, 3) → BatchNorm1d(3) → ReLU → Linear(3, 2), MSELoss, SGD(lr = 0.1): the network
// before training and after each step on batches[k] = {{X (6, 4), target (6, 2)}}.
struct NetworkState {{
    std::vector<double> W1, b1, gamma, beta, running_mean, running_var, W2, b2;
}};

struct NetworkBatch {{
    std::vector<double> X, target;
}};

inline const NetworkState network_start = {{{start}}};
inline const std::vector<NetworkBatch> network_batches = {{
    {batches}
}};
inline const std::vector<NetworkState> network_after = {{
    {after}
}};

}}  // namespace reference
"""
    out = pathlib.Path(__file__).with_name("pytorch_reference_norm.hpp")
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
