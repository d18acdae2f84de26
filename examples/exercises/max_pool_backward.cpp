// Exercise (Tutorial 12): write max pooling's backward pass. X is what the forward pass saw
// (batch, C·H·W); dY = ∂L/∂Y arrives from above, (batch, C·OH·OW); return dX, the shape of X.
// Build and run `exercise_max_pool_backward`: it checks your function against finite
// differences. The solution: max_pool_backward_solution.cpp.
#include "check.hpp"

Eigen::MatrixXd exercises::max_pool_backward(const Eigen::MatrixXd& X, const Eigen::MatrixXd& dY,
                                             Eigen::Index C, Eigen::Index H, Eigen::Index width,
                                             Eigen::Index k, Eigen::Index s) {
    // [exercise]
    // Your code here: find each window's maximum again, and route the window's dY to it.
    // OH = (H − k)/s + 1; output (c, i, j) of sample n is dY(n, (c·OH + i)·OW + j), and its
    // window's pixel (u, v) is X(n, (c·H + i·s + u)·width + j·s + v). Windows may overlap.
    (void)dY, (void)C, (void)H, (void)width, (void)k, (void)s;  // delete once your code uses them
    return Eigen::MatrixXd::Zero(X.rows(), X.cols());
    // [exercise]
}

int main() { return exercises::check_max_pool_backward(); }
