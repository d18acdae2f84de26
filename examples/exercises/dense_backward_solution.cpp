// The solution of the exercise in dense_backward.cpp (Tutorial 2).
#include "check.hpp"

exercises::DenseGradients exercises::dense_backward(const Eigen::MatrixXd& X,
                                                    const Eigen::MatrixXd& W,
                                                    const Eigen::MatrixXd& dZ) {
    // [solution]
    DenseGradients d;
    d.dW = X.transpose() * dZ;      // (in, batch)·(batch, out): Σₙ X[n][i]·dZ[n][j]
    d.db = dZ.colwise().sum();      // b was added to every row: Σₙ dZ[n][j]
    d.dX = dZ * W.transpose();      // (batch, out)·(out, in): Σⱼ dZ[n][j]·W[i][j]
    return d;
    // [solution]
}

int main() { return exercises::check_dense_backward(); }
