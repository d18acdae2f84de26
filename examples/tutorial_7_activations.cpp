// Tutorial page 7, Activations: dX = dY ∘ f'(X) for ReLU, LeakyReLU, Sigmoid and Tanh, each
// derivative written with the output Y; the gradient check of each against finite differences,
// and their values and gradients against PyTorch's (tests/reference/pytorch_reference_nonlinear.hpp,
// including x = 0 and x = ±1000).
// Prints what docs/7_activations.md shows; exits non-zero if a check fails or a number differs
// from PyTorch's by more than 1e-12 relative to the largest.
#include "../tests/reference/pytorch_reference_nonlinear.hpp"
#include "pytorch_compare.hpp"

#include <backprop/backprop.hpp>

#include <cstdio>

namespace bp = backprop;
using example::compare;     // pytorch_compare.hpp: one line per comparison with PyTorch
using example::from_torch;  // pytorch_compare.hpp: PyTorch's row-by-row numbers as a matrix

int main() {
    // [by hand]
    // Four inputs, and dY = 1 everywhere, so that dX is f'(x) itself.
    Eigen::MatrixXd x(1, 4);
    x << -2, -0.5, 0.5, 2;
    const Eigen::MatrixXd ones = Eigen::MatrixXd::Ones(1, 4);
    bp::ReLU<double> relu;
    bp::Sigmoid<double> sigmoid;
    relu.forward(x);
    sigmoid.forward(x);
    const auto& relu_slope = relu.backward(ones).dX;        // [x > 0]
    const auto& sigmoid_slope = sigmoid.backward(ones).dX;  // y·(1 − y)
    // [by hand]
    std::printf("x                   ");
    for (double v : x.reshaped()) std::printf("%9.4f", v);
    std::printf("\nReLU'(x)            ");
    for (double v : relu_slope.reshaped()) std::printf("%9.4f", v);
    std::printf("\nsigmoid(x)          ");
    for (double v : sigmoid.output().reshaped()) std::printf("%9.4f", v);
    std::printf("\nsigmoid'(x) = y(1-y)");
    for (double v : sigmoid_slope.reshaped()) std::printf("%9.4f", v);
    std::printf("\n\n");

    // [check]
    // Twenty inputs from −2.85 to 2.85, 0.3 apart: none at the ReLUs' kink x = 0, where a
    // central difference straddles two slopes and measures neither.
    const Eigen::MatrixXd X = Eigen::VectorXd::LinSpaced(20, -2.85, 2.85).reshaped(5, 4);
    const bp::GradientError errors[] = {
        bp::gradient_check(bp::ReLU<double>(), X), bp::gradient_check(bp::LeakyReLU<double>(0.1), X),
        bp::gradient_check(bp::Sigmoid<double>(), X), bp::gradient_check(bp::Tanh<double>(), X)};
    // [check]
    bool ok = true;
    const char* names[] = {"ReLU", "LeakyReLU 0.1", "Sigmoid", "Tanh"};
    for (int i = 0; i < 4; ++i) {
        std::printf("%-14s relative error of dX: %.1e\n", names[i], errors[i].max_relative_error);
        ok &= errors[i].passes(1e-7);
    }
    std::printf("\n");

    // [pytorch]
    // PyTorch's X (5, 4), which holds 0, −1000 and 1000, and G: its loss was Σ G∘f(X), so dY = G.
    const Eigen::MatrixXd X_torch = from_torch(reference::activation_X, 5, 4);
    const Eigen::MatrixXd G = from_torch(reference::activation_G, 5, 4);
    auto against_torch = [&](auto activation, const reference::ActivationCase& torch) {
        std::printf("%s\n", torch.name);
        bool same = compare("Y", activation.forward(X_torch), from_torch(torch.Y, 5, 4));
        same &= compare("dX", activation.backward(G).dX, from_torch(torch.dX, 5, 4));
        return same;
    };
    const auto& cases = reference::activation_cases;  // ReLU, LeakyReLU 0.01 and 0.2, Sigmoid, Tanh
    ok &= against_torch(bp::ReLU<double>(), cases[0]);
    ok &= against_torch(bp::LeakyReLU<double>(0.01), cases[1]);
    ok &= against_torch(bp::LeakyReLU<double>(0.2), cases[2]);
    ok &= against_torch(bp::Sigmoid<double>(), cases[3]);
    ok &= against_torch(bp::Tanh<double>(), cases[4]);
    // [pytorch]

    std::printf(ok ? "every gradient is right and agrees with PyTorch\n"
                   : "A GRADIENT IS WRONG OR DIFFERS FROM PYTORCH\n");
    return ok ? 0 : 1;
}
