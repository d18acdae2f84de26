// Exercise (Tutorial 8): write softmax cross-entropy's backward pass. Z are the logits
// (batch, classes), y one label per row; L = (1/B)·Σᵢ −log pᵢ,yᵢ with p = softmax of each row.
// Return dZ = ∂L/∂Z, the shape of Z. Build and run `exercise_softmax_cross_entropy_backward`: it
// checks your function against finite differences.
// The solution: softmax_cross_entropy_backward_solution.cpp.
#include "check.hpp"

Eigen::MatrixXd exercises::softmax_cross_entropy_backward(const Eigen::MatrixXd& Z,
                                                          const Eigen::VectorXi& y) {
    // [exercise]
    // Your code here: the softmax p of each row (subtract the row's largest logit before exp),
    // then dZ = (p − onehot(y)) / B.
    (void)y;  // delete this line once your code uses y
    return Eigen::MatrixXd::Zero(Z.rows(), Z.cols());
    // [exercise]
}

int main() { return exercises::check_softmax_cross_entropy_backward(); }
