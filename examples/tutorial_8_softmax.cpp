// Tutorial page 8, Softmax cross-entropy: the loss of a classifier, its gradient (p − onehot(y))/B
// worked by hand on two samples, the gradient check against finite differences, and the loss and
// gradient against PyTorch's CrossEntropyLoss (tests/reference/pytorch_reference_nonlinear.hpp,
// including logits of ±1000).
// Prints what docs/8_softmax.md shows; exits non-zero if a check fails or a number differs from
// PyTorch's by more than 1e-12 relative to the largest.
#include "../tests/reference/pytorch_reference_nonlinear.hpp"
#include "pytorch_compare.hpp"

#include <backprop/backprop.hpp>

#include <cmath>
#include <iostream>

namespace bp = backprop;
using example::compare;     // pytorch_compare.hpp: one line per comparison with PyTorch
using example::from_torch;  // pytorch_compare.hpp: PyTorch's row-by-row numbers as a matrix

int main() {
    // [by hand]
    // Two samples, three classes. Row 0: logits 0, 0, ln 2, so p = 1/4, 1/4, 1/2; its label is 2.
    // Row 1: equal logits, so p = 1/3 each; its label is 0.
    Eigen::MatrixXd z(2, 3);
    z << 0, 0, std::log(2.0),
         1, 1, 1;
    Eigen::VectorXi y(2);
    y << 2, 0;
    bp::SoftmaxCrossEntropy<double> loss;
    const double L = loss.forward(z, y);  // (−ln 1/2 − ln 1/3) / 2 = ln 6 / 2
    const auto& dz = loss.backward();     // (p − onehot(y)) / 2
    // [by hand]
    std::cout << "p =\n" << loss.probabilities() << "\n"
              << "L = " << L << "   (ln 6 / 2 = " << std::log(6.0) / 2 << ")\n"
              << "dz =\n" << dz << "\n"
              << "row sums of dz: " << dz.rowwise().sum().transpose() << "\n\n";

    // [check]
    // Random logits for 6 samples of 4 classes, and their labels.
    const Eigen::MatrixXd logits = Eigen::MatrixXd::Random(6, 4) * 3;
    Eigen::VectorXi labels(6);
    labels << 0, 3, 1, 1, 2, 3;
    const bp::GradientError error = bp::gradient_check(loss, logits, labels);
    // [check]
    std::cout << "relative error of dz against finite differences: " << error.max_relative_error
              << "\n\n";
    bool ok = error.passes(1e-7) && std::abs(L - std::log(6.0) / 2) < 1e-12;

    // [pytorch]
    // Each stored case: its logits and labels, CrossEntropyLoss()'s value and autograd's gradient.
    for (const reference::CrossEntropyCase& c : reference::cross_entropy_cases) {
        const Eigen::MatrixXd Z = from_torch(c.logits, c.batch, c.classes);
        const Eigen::VectorXi Y = Eigen::Map<const Eigen::VectorXi>(c.labels.data(), c.batch);
        std::cout << "batch " << c.batch << ", " << c.classes << " classes, largest |logit| "
                  << Z.cwiseAbs().maxCoeff() << "\n";
        ok &= compare("L", example::scalar(loss.forward(Z, Y)), example::scalar(c.loss));
        ok &= compare("dz", loss.backward(), from_torch(c.dlogits, c.batch, c.classes));
    }
    // [pytorch]

    std::cout << (ok ? "the gradient is right and agrees with PyTorch\n"
                     : "THE GRADIENT IS WRONG OR DIFFERS FROM PYTORCH\n");
    return ok ? 0 : 1;
}
