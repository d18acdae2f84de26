// Tutorial page 9, Optimisers that remember: Momentum and Nesterov's velocity, Adam's running
// averages with their bias correction, and AdamW's decoupled weight decay. Two steps worked by
// hand, then four steps of each optimiser against torch.optim's
// (tests/reference/pytorch_reference_nonlinear.hpp).
// Prints what docs/9_optimisers.md shows; exits non-zero if a step differs from the hand-worked
// value or from PyTorch's by more than 1e-12 relative to the largest.
#include "../tests/reference/pytorch_reference_nonlinear.hpp"
#include "pytorch_compare.hpp"

#include <backprop/backprop.hpp>

#include <cmath>
#include <cstdio>
#include <string>

namespace bp = backprop;
using example::compare;     // pytorch_compare.hpp: one line per comparison with PyTorch
using example::from_torch;  // pytorch_compare.hpp: PyTorch's row-by-row numbers as a matrix

namespace {

// [gradients]
// An optimiser steps a layer with the gradients its last backward() left beside each parameter.
// To step with gradients given from outside (PyTorch's), run one backward() so that the layer
// holds gradients, then overwrite them where it keeps them.
void set_gradients(bp::Dense<double>& layer, const Eigen::MatrixXd& dW, const Eigen::MatrixXd& db) {
    layer.forward(Eigen::MatrixXd::Zero(1, layer.W.rows()));
    layer.backward(Eigen::MatrixXd::Zero(1, layer.W.cols()));
    bp::for_each_parameter(layer, [&](auto parameter) {
        parameter.gradient = parameter.name == std::string("W") ? dW : db;
    });
}
// [gradients]

}  // namespace

int main() {
    bool ok = true;
    // [by hand]
    // One weight w = 1 with the gradient 2 at every step, lr = 0.5, μ = 0.75.
    bp::Dense<double> classical(1, 1), nesterov(1, 1);
    const Eigen::MatrixXd g = Eigen::MatrixXd::Constant(1, 1, 2.0), no_db = Eigen::MatrixXd::Zero(1, 1);
    classical.W << 1;
    nesterov.W << 1;
    const bp::Momentum<double> momentum(0.5, 0.75), look_ahead(0.5, 0.75, /*nesterov=*/true);
    for (int step = 1; step <= 2; ++step) {
        set_gradients(classical, g, no_db);
        set_gradients(nesterov, g, no_db);
        momentum.step(classical);  // v = 2, then 0.75·2 + 2 = 3.5;   w −= 0.5·v
        look_ahead.step(nesterov); // the same v;                    w −= 0.5·(g + 0.75·v)
        std::printf("step %d: classical w = %g, Nesterov w = %g\n", step, classical.W(0, 0),
                    nesterov.W(0, 0));
    }
    // [by hand]
    ok &= classical.W(0, 0) == -1.75 && nesterov.W(0, 0) == 1 - 0.5 * 3.5 - 0.5 * 4.625;

    // [adam first step]
    // Adam's first step: m̂ = g and v̂ = g², so every parameter moves by lr·g/(|g| + ε), about lr,
    // whatever the size of its gradient (here from 0.001 to 1000).
    bp::Dense<double> layer(1, 4);
    layer.W.setZero();
    Eigen::MatrixXd dW(1, 4);
    dW << 0.001, -1, 30, -1000;
    set_gradients(layer, dW, Eigen::MatrixXd::Ones(1, 4));
    bp::Adam<double>(0.01).step(layer);
    // [adam first step]
    std::printf("\nAdam, lr 0.01, first step: gradients ");
    for (double v : dW.reshaped()) std::printf("%g  ", v);
    std::printf("\n                           moves     ");
    for (double v : layer.W.reshaped()) std::printf("%.6g  ", v);
    std::printf("\n");
    ok &= (layer.W.cwiseAbs().array() - 0.01).abs().maxCoeff() < 1e-7;

    // [adamw]
    // A zero gradient: Adam leaves W alone; AdamW shrinks it by the factor 1 − lr·wd.
    bp::Dense<double> plain(1, 2), decayed(1, 2);
    plain.W << 1, -2;
    decayed.W << 1, -2;
    set_gradients(plain, Eigen::MatrixXd::Zero(1, 2), Eigen::MatrixXd::Zero(1, 2));
    set_gradients(decayed, Eigen::MatrixXd::Zero(1, 2), Eigen::MatrixXd::Zero(1, 2));
    bp::Adam<double>(0.01).step(plain);
    bp::AdamW<double>(0.01, 0.9, 0.999, 1e-8, /*weight_decay=*/0.1).step(decayed);
    // [adamw]
    std::printf("\nW = 1 -2 and a zero gradient, lr 0.01: Adam gives W = %g %g, AdamW (wd 0.1) "
                "W = %g %g\n\n", plain.W(0, 0), plain.W(0, 1), decayed.W(0, 0), decayed.W(0, 1));
    ok &= plain.W(0, 0) == 1 && std::abs(decayed.W(0, 0) - 0.999) < 1e-15;

    // [pytorch]
    // torch.optim's four steps of a (3, 2) W and a (1, 2) b from the same start, with the same
    // four gradients; every W and b after each step, stacked, against PyTorch's.
    auto against_torch = [&](const auto& optimizer, const reference::OptimizerCase& torch) {
        bp::Dense<double> model(3, 2);
        model.W = from_torch(reference::optimizer_W0, 3, 2);
        model.b = from_torch(reference::optimizer_b0, 1, 2);
        Eigen::MatrixXd W_ours(12, 2), W_torch(12, 2), b_ours(4, 2), b_torch(4, 2);
        for (int k = 0; k < 4; ++k) {
            set_gradients(model, from_torch(reference::optimizer_grads[k].W, 3, 2),
                          from_torch(reference::optimizer_grads[k].b, 1, 2));
            optimizer.step(model);
            W_ours.middleRows(3 * k, 3) = model.W;
            b_ours.row(k) = model.b;
            W_torch.middleRows(3 * k, 3) = from_torch(torch.after[k].W, 3, 2);
            b_torch.row(k) = from_torch(torch.after[k].b, 1, 2);
        }
        std::printf("%s, 4 steps\n", torch.name);
        return compare("W", W_ours, W_torch) & compare("b", b_ours, b_torch);
    };
    const auto& cases = reference::optimizer_cases;
    ok &= against_torch(bp::Momentum<double>(0.1, 0.9), cases[0]);
    ok &= against_torch(bp::Momentum<double>(0.1, 0.9, /*nesterov=*/true), cases[1]);
    ok &= against_torch(bp::Adam<double>(0.01, 0.9, 0.999, 1e-8), cases[2]);
    ok &= against_torch(bp::Adam<double>(0.05, 0.8, 0.9, 0.1), cases[3]);
    // [pytorch]

    std::printf(ok ? "every step is right and agrees with PyTorch\n"
                   : "A STEP IS WRONG OR DIFFERS FROM PYTORCH\n");
    return ok ? 0 : 1;
}
