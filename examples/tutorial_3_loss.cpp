// Tutorial page 3, The loss: mean squared error as PyTorch defines it, its gradient, and the
// gradient check that catches the seed notebook's loss (sum/(2n)) paired with a 2/n gradient.
// Prints what docs/3_loss.md shows; exits non-zero unless the library's pair passes the check
// and the notebook's pair fails it.
#include <backprop/backprop.hpp>

#include <iostream>

namespace bp = backprop;

// [notebook]
// The notebook's pair, as it wrote them: loss = np.sum((y-z2)**2) / (len(z2)*2)
// and dldz2 = (z2 - y)*(2/len(z2)).
double notebook_loss(const Eigen::MatrixXd& z2, const Eigen::MatrixXd& y) {
    return (y - z2).squaredNorm() / (2.0 * static_cast<double>(z2.rows()));
}
Eigen::MatrixXd notebook_gradient(const Eigen::MatrixXd& z2, const Eigen::MatrixXd& y) {
    return (z2 - y) * (2.0 / static_cast<double>(z2.rows()));
}
// [notebook]

int main() {
    const auto data = bp::make_notebook_dataset<double>();
    bp::Dense<double> layer1(5, 5, 1, bp::Init::unit_uniform);
    bp::Dense<double> layer2(5, 1, 2, bp::Init::unit_uniform);
    const Eigen::MatrixXd z2 = layer2.forward(layer1.forward(data.X));
    const Eigen::MatrixXd& y = data.y;

    // [mse]
    bp::MSE<double> mse;
    const double loss = mse.forward(z2, y);  // L = (1/N)·Σ (z2 − y)²
    const auto& dz2 = mse.backward();        // dz2 = 2·(z2 − y)/N
    const bp::GradientError library = bp::gradient_check(mse, z2, y);
    // [mse]

    // [catch]
    const bp::GradientError notebook = bp::check_gradient(
        [&](const Eigen::MatrixXd& z) { return notebook_loss(z, y); }, z2,
        notebook_gradient(z2, y));
    // [catch]

    std::cout << "MSE, as torch.nn.MSELoss():   L = " << loss
              << ", relative error of dz2 = " << library.max_relative_error << "\n"
              << "the notebook's sum/(2n) loss: L = " << notebook_loss(z2, y)
              << ", relative error of its 2/n gradient = " << notebook.max_relative_error
              << "\n"
              << "largest |analytic| / largest |numeric| for the notebook's pair: "
              << notebook.max_abs_analytic / notebook.max_abs_numeric << "\n"
              << "the same for MSE: " << library.max_abs_analytic / library.max_abs_numeric
              << " (dz2 is " << dz2.rows() << "x" << dz2.cols() << ", the shape of z2)\n";

    const bool ok = library.passes(1e-6) && !notebook.passes(1e-2);
    std::cout << (ok ? "the check passes MSE and catches the notebook's gradient\n"
                     : "THE CHECK DID NOT SEPARATE THE TWO\n");
    return ok ? 0 : 1;
}
