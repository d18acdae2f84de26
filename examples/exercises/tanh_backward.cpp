// Exercise (Tutorial 7): write Tanh's backward pass. Y = tanh(X) is what the forward pass kept;
// dY = ∂L/∂Y arrives from above; return dX = ∂L/∂X, the shape of X. Build and run
// `exercise_tanh_backward`: it checks your function against finite differences.
// The solution: tanh_backward_solution.cpp.
#include "check.hpp"

Eigen::MatrixXd exercises::tanh_backward(const Eigen::MatrixXd& Y, const Eigen::MatrixXd& dY) {
    // [exercise]
    // Your code here: use tanh'(x) = 1 − tanh²(x), written with Y.
    (void)dY;  // delete this line once your code uses dY
    return Eigen::MatrixXd::Zero(Y.rows(), Y.cols());
    // [exercise]
}

int main() { return exercises::check_tanh_backward(); }
