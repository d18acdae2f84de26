// The solution of the exercise in tanh_backward.cpp (Tutorial 7).
#include "check.hpp"

Eigen::MatrixXd exercises::tanh_backward(const Eigen::MatrixXd& Y, const Eigen::MatrixXd& dY) {
    // [solution]
    // Y = tanh(X), so f'(X) = 1 − Y², elementwise; the chain rule multiplies it into dY.
    return (dY.array() * (1 - Y.array().square())).matrix();
    // [solution]
}

int main() { return exercises::check_tanh_backward(); }
