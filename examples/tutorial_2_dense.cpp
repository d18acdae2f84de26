// Tutorial page 2, One Dense layer: the forward pass with its shapes, the three gradients
// dW = Xᵀ·dZ, db = Σ_rows dZ, dX = dZ·Wᵀ, and the gradient check that confirms them.
// Prints what docs/2_dense.md shows; exits non-zero if the gradient check fails.
#include <backprop/backprop.hpp>

#include <iostream>

namespace bp = backprop;

int main() {
    auto shape = [](const auto& m) {
        return "(" + std::to_string(m.rows()) + ", " + std::to_string(m.cols()) + ")";
    };

    // [forward]
    // A batch of 4 samples with 5 inputs each, through a layer with 3 outputs: every
    // dimension differs, so a product whose shapes fit is the only one that can be right.
    const auto data = bp::make_notebook_dataset<double>(4);
    bp::Dense<double> layer(5, 3, /*seed=*/1);
    const auto& Z = layer.forward(data.X);  // Z = X·W + b
    // [forward]
    std::cout << "X " << shape(data.X) << " · W " << shape(layer.W) << " + b " << shape(layer.b)
              << " = Z " << shape(Z) << "\n";

    // [backward]
    // Pretend the layers above handed us dZ = ∂L/∂Z (here all ones: L = Σ Z).
    const Eigen::MatrixXd dZ = Eigen::MatrixXd::Ones(Z.rows(), Z.cols());
    const auto& grads = layer.backward(dZ);  // dW = Xᵀ·dZ, db = Σ_rows dZ, dX = dZ·Wᵀ
    // [backward]
    std::cout << "dZ " << shape(dZ) << " → dW " << shape(grads.dW) << ", db " << shape(grads.db)
              << ", dX " << shape(grads.dX) << "\n"
              << "with L = Σ Z, db = the batch size in every column: " << grads.db << "\n\n";

    // [check]
    // Move each element of W, b and X by ±h and compare the change of a loss with the
    // gradients backward() returned.
    const bp::DenseGradientError error = bp::gradient_check(layer, data.X);
    std::cout << "relative error of dW: " << error.dW.max_relative_error << "\n"
              << "relative error of db: " << error.db.max_relative_error << "\n"
              << "relative error of dX: " << error.dX.max_relative_error << "\n";
    const bool ok = error.passes(1e-6);
    // [check]
    std::cout << (ok ? "the gradients are right\n" : "THE GRADIENTS ARE WRONG\n");
    return ok ? 0 : 1;
}
