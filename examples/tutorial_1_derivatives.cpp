// Tutorial page 1, Derivatives: the numeric derivative by forward and central differences, the
// error of each as the step h shrinks, and the Jacobian of an elementwise function.
// Prints what docs/1_derivatives.md shows; exits non-zero if a claim of the page does not hold.
#include <backprop/backprop.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <vector>

namespace bp = backprop;

int main() {
    bool ok = true;

    // [error table]
    // f(x) = x³ at x = 4: f'(4) = 3·4² = 48 exactly, so the error of each estimate is known.
    auto f = [](double x) { return x * x * x; };
    const double x = 4;
    const double exact = 3 * x * x;

    std::vector<double> forward_errors, central_errors;
    std::printf("%8s  %14s  %14s\n", "h", "forward error", "central error");
    for (int k = 1; k <= 10; ++k) {
        const double h = std::pow(10.0, -k);
        const double forward = bp::numeric_derivative(f, x, h, bp::Difference::forward);
        const double central = bp::numeric_derivative(f, x, h, bp::Difference::central);
        forward_errors.push_back(std::abs(forward - exact));
        central_errors.push_back(std::abs(central - exact));
        std::printf("%8.0e  %14.3e  %14.3e\n", h, forward_errors.back(), central_errors.back());
    }
    // [error table]

    // The page's claims: at h = 1e-3 (the third row) the forward error is 12·h + h² to three
    // digits and the central error is h²; the best central error is over a hundred times below
    // the best forward one.
    const double h = 1e-3;
    ok = ok && std::abs(forward_errors[2] - (12 * h + h * h)) < 1e-3 * 12 * h;
    ok = ok && std::abs(central_errors[2] - h * h) < 1e-3 * h * h;
    ok = ok && *std::min_element(central_errors.begin(), central_errors.end()) * 100 <
                   *std::min_element(forward_errors.begin(), forward_errors.end());

    // [jacobian]
    // f(x) = x ⊙ x, elementwise, at the notebook's x: ∂fᵢ/∂xⱼ = 2xᵢ if i = j, else 0.
    Eigen::VectorXd v(5);
    v << 0.32150969, 0.87640208, 0.15695178, 0.26655405, 0.9600369;
    auto square = [](const Eigen::VectorXd& u) { return Eigen::VectorXd(u.array().square()); };
    const Eigen::MatrixXd numeric = bp::numeric_jacobian(square, v);
    const Eigen::MatrixXd analytic = Eigen::MatrixXd(2 * v.asDiagonal());
    // [jacobian]

    const Eigen::IOFormat rows(4, 0, "  ", "\n", "  [", "]");
    std::cout << "\nnumeric Jacobian of x ⊙ x at x = [" << v.transpose().format(Eigen::IOFormat(8, 0, ", "))
              << "]:\n"
              << numeric.format(rows) << "\n"
              << "largest difference from diag(2x): "
              << (numeric.array() - analytic.array()).abs().maxCoeff() << "\n";
    ok = ok && numeric.isApprox(analytic, 1e-8);

    std::cout << (ok ? "the page's claims hold\n" : "A CLAIM OF THE PAGE DOES NOT HOLD\n");
    return ok ? 0 : 1;
}
