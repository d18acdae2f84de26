// Exercise (Tutorial 2): write a Dense layer's backward pass as a free function. The forward
// pass was Z = X·W + b with b added to every row; dZ = ∂L/∂Z arrives from above. Return dW, db
// and dX, each the shape of what it differentiates. Build and run `exercise_dense_backward`: it
// checks your function against finite differences. The solution: dense_backward_solution.cpp.
#include "check.hpp"

exercises::DenseGradients exercises::dense_backward(const Eigen::MatrixXd& X,
                                                    const Eigen::MatrixXd& W,
                                                    const Eigen::MatrixXd& dZ) {
    // [exercise]
    DenseGradients d;
    // Your code here: dW (in, out), db (1, out), dX (batch, in), from X, W and dZ.
    d.dW = Eigen::MatrixXd::Zero(W.rows(), W.cols());
    d.db = Eigen::MatrixXd::Zero(1, W.cols());
    d.dX = Eigen::MatrixXd::Zero(X.rows(), X.cols());
    (void)dZ;  // delete this line once your code uses dZ
    return d;
    // [exercise]
}

int main() { return exercises::check_dense_backward(); }
