// Exercise (Tutorial 13): write BatchNorm's input gradient in training mode, for features
// X (batch, F), the scale γ (1, F) and dY = ∂L/∂Y; ε = 1e-5. Return dX, the shape of X. Build
// and run `exercise_batch_norm_backward`: it checks your function against finite differences.
// The solution: batch_norm_backward_solution.cpp.
#include "check.hpp"

Eigen::MatrixXd exercises::batch_norm_backward(const Eigen::MatrixXd& X,
                                               const Eigen::MatrixXd& gamma,
                                               const Eigen::MatrixXd& dY) {
    // [exercise]
    // Your code here: per feature (column), recompute μ, σ², s = 1/√(σ² + ε) and x̂ from X, then
    // use the compact form of page 13. Remember that μ and σ² depend on every x of the column.
    (void)gamma, (void)dY;  // delete this line once your code uses them
    return Eigen::MatrixXd::Zero(X.rows(), X.cols());
    // [exercise]
}

int main() { return exercises::check_batch_norm_backward(); }
