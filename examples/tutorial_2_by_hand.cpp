// Tutorial page 2, One Dense layer, by hand: a layer small enough to check every number with
// pencil and paper (2 samples, 2 inputs, 2 outputs, small integers), then a value used twice
// (gradients add at forks). Prints every forward number and every gradient that
// docs/2_dense.md works out; exits non-zero if one of them differs from the page's.
#include <backprop/backprop.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace bp = backprop;

namespace {

bool same(const char* name, const Eigen::MatrixXd& got, const Eigen::MatrixXd& page) {
    const Eigen::IOFormat row(Eigen::StreamPrecision, 0, " ", "; ", "", "", "[", "]");
    const bool ok = got.rows() == page.rows() && got.cols() == page.cols() && got == page;
    std::cout << name << " = " << got.format(row) << (ok ? "" : "   DIFFERS FROM THE PAGE")
              << "\n";
    return ok;
}

}  // namespace

int main() {
    bool ok = true;

    // [by hand]
    // 2 samples (rows) of 2 inputs, a layer with 2 outputs; every number a small integer.
    Eigen::MatrixXd X(2, 2), T(2, 2);
    X << 1, 2,
         3, -1;
    T << 1, 1,   // the targets of the MSE loss
         0, 1;
    bp::Dense<double> layer(2, 2);
    layer.W << 1, 0,
              -1, 2;
    layer.b << 0, 1;

    bp::MSE<double> mse;
    const auto& Z = layer.forward(X);         // Z = X·W + b
    const double L = mse.forward(Z, T);       // L = (1/4)·Σ (Z − T)²
    const auto& dZ = mse.backward();          // dZ = (2/4)·(Z − T)
    const auto& grads = layer.backward(dZ);   // dW = Xᵀ·dZ, db = Σ_rows dZ, dX = dZ·Wᵀ
    // [by hand]

    // The numbers docs/2_dense.md works out by hand.
    Eigen::MatrixXd page_Z(2, 2), page_dZ(2, 2), page_dW(2, 2), page_db(1, 2), page_dX(2, 2);
    page_Z << -1, 5, 4, -1;
    page_dZ << -1, 2, 2, -1;
    page_dW << 5, -1, -4, 5;
    page_db << 1, 1;
    page_dX << -1, 5, 2, -4;
    ok &= same("Z ", Z, page_Z);
    std::cout << "L  = " << L << (L == 10 ? "" : "   DIFFERS FROM THE PAGE") << "\n";
    ok &= L == 10;
    ok &= same("dZ", dZ, page_dZ);
    ok &= same("dW", grads.dW, page_dW);
    ok &= same("db", grads.db, page_db);
    ok &= same("dX", grads.dX, page_dX);

    // The same layer against finite differences of the same loss, for one element of each.
    const auto loss_with_W = [&](const Eigen::MatrixXd& W) {
        bp::Dense<double> copy = layer;
        copy.W = W;
        bp::MSE<double> m;
        return m.forward(copy.forward(X), T);
    };
    const bp::GradientError error = bp::check_gradient(loss_with_W, layer.W, grads.dW);
    std::printf("dW against finite differences: relative error %.1e\n\n",
                error.max_relative_error);
    ok &= error.passes(1e-8);

    // [fork]
    // x is used twice: u = 2x and v = x², then L = u·v. Each use is a path from x to L, and
    // the derivative of L by x is the sum over the paths (dL/du·du/dx + dL/dv·dv/dx).
    const double x = 3;
    const double u = 2 * x, v = x * x;
    const double dL_du = v, dL_dv = u;             // L = u·v
    const double through_u = dL_du * 2;            // du/dx = 2
    const double through_v = dL_dv * 2 * x;        // dv/dx = 2x
    const double dx = through_u + through_v;       // the two paths add
    const double numeric = bp::numeric_derivative(
        [](double t) { return (2 * t) * (t * t); }, x);
    // [fork]
    std::printf("fork: through u %g, through v %g, dL/dx = %g; numeric %.6f\n", through_u,
                through_v, dx, numeric);
    ok &= dx == 54 && std::abs(numeric - 54) < 1e-6;

    std::cout << (ok ? "every number is the page's\n" : "A NUMBER DIFFERS FROM THE PAGE\n");
    return ok ? 0 : 1;
}
