// The solution of the exercise in softmax_cross_entropy_backward.cpp (Tutorial 8).
#include "check.hpp"

Eigen::MatrixXd exercises::softmax_cross_entropy_backward(const Eigen::MatrixXd& Z,
                                                          const Eigen::VectorXi& y) {
    // [solution]
    // p = softmax of each row, shifted by the row's largest logit so that no exp overflows
    // (the shift cancels in the quotient).
    const Eigen::VectorXd m = Z.rowwise().maxCoeff();
    const Eigen::ArrayXXd e = (Z.colwise() - m).array().exp();
    Eigen::MatrixXd dZ = (e.colwise() / e.rowwise().sum()).matrix();  // p
    // ∂L/∂Zᵢⱼ = (pᵢⱼ − [j = yᵢ]) / B: subtract 1 at each row's label, divide by the batch.
    for (Eigen::Index i = 0; i < Z.rows(); ++i) {
        dZ(i, y(i)) -= 1;
    }
    return dZ / double(Z.rows());
    // [solution]
}

int main() { return exercises::check_softmax_cross_entropy_backward(); }
