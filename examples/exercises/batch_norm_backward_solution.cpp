// The solution of the exercise in batch_norm_backward.cpp (Tutorial 13).
#include "check.hpp"

Eigen::MatrixXd exercises::batch_norm_backward(const Eigen::MatrixXd& X,
                                               const Eigen::MatrixXd& gamma,
                                               const Eigen::MatrixXd& dY) {
    // [solution]
    // Per column, M values: dX = (1/M)·γ·s·(M·dY − Σ dY − x̂·Σ dY∘x̂). Through μ each x gets back
    // the mean of the gradients; through σ² the part of them along x̂.
    const double M = double(X.rows());
    Eigen::MatrixXd dX(X.rows(), X.cols());
    for (Eigen::Index f = 0; f < X.cols(); ++f) {
        const Eigen::ArrayXd x = X.col(f).array();
        const Eigen::ArrayXd centred = x - x.mean();
        const double s = 1 / std::sqrt(centred.square().mean() + 1e-5);  // biased variance
        const Eigen::ArrayXd xhat = centred * s;
        const Eigen::ArrayXd g = dY.col(f).array();
        dX.col(f) = (gamma(0, f) * s / M * (M * g - g.sum() - xhat * (g * xhat).sum())).matrix();
    }
    return dX;
    // [solution]
}

int main() { return exercises::check_batch_norm_backward(); }
