// The solution of the exercise in conv_input_gradient.cpp (Tutorial 11).
#include "check.hpp"

Eigen::MatrixXd exercises::conv_input_gradient(const Eigen::MatrixXd& dY, const Eigen::MatrixXd& W,
                                               Eigen::Index C, Eigen::Index H, Eigen::Index width,
                                               Eigen::Index k) {
    // [solution]
    // In the forward pass Y[f][oh][ow] = b[f] + Σ_{c,i,j} W[f][c][i][j]·X[c][oh + i][ow + j], so
    // X[c][h][w] reaches every output whose window covers it, with the weight that meets it
    // there: its gradient is the sum of dY·W over those outputs (a full convolution of dY with
    // the flipped kernel). Scatter each dY to the k × k pixels of its window.
    const Eigen::Index F = W.rows(), OH = H - k + 1, OW = width - k + 1;
    Eigen::MatrixXd dX = Eigen::MatrixXd::Zero(1, C * H * width);
    for (Eigen::Index f = 0; f < F; ++f)
        for (Eigen::Index oh = 0; oh < OH; ++oh)
            for (Eigen::Index ow = 0; ow < OW; ++ow) {
                const double g = dY(0, (f * OH + oh) * OW + ow);
                for (Eigen::Index c = 0; c < C; ++c)
                    for (Eigen::Index i = 0; i < k; ++i)
                        for (Eigen::Index j = 0; j < k; ++j)
                            dX(0, (c * H + oh + i) * width + ow + j) +=
                                g * W(f, (c * k + i) * k + j);
            }
    return dX;
    // [solution]
}

int main() { return exercises::check_conv_input_gradient(); }
