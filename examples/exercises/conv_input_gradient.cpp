// Exercise (Tutorial 11): write a convolution's input gradient, dX from dY and the kernels W, for
// one image of C channels of H × width, k × k kernels, stride 1, no padding. Either per element
// (each dY[f][oh][ow] adds W[f][c][i][j]·dY[f][oh][ow] to dX[c][oh + i][ow + j]), or as the
// library does, dcols = dZ·W and then col2im. Build and run `exercise_conv_input_gradient`: it
// checks your function against finite differences. The solution: conv_input_gradient_solution.cpp.
#include "check.hpp"

Eigen::MatrixXd exercises::conv_input_gradient(const Eigen::MatrixXd& dY, const Eigen::MatrixXd& W,
                                               Eigen::Index C, Eigen::Index H, Eigen::Index width,
                                               Eigen::Index k) {
    // [exercise]
    // Your code here. OH = H − k + 1 and OW = width − k + 1; dY(0, (f·OH + oh)·OW + ow) is
    // dY[f][oh][ow], W(f, (c·k + i)·k + j) is W[f][c][i][j], and dX(0, (c·H + h)·width + w)
    // is dX[c][h][w].
    (void)dY, (void)W, (void)k;  // delete this line once your code uses them
    return Eigen::MatrixXd::Zero(1, C * H * width);
    // [exercise]
}

int main() { return exercises::check_conv_input_gradient(); }
