// The solution of the exercise in max_pool_backward.cpp (Tutorial 12).
#include "check.hpp"

Eigen::MatrixXd exercises::max_pool_backward(const Eigen::MatrixXd& X, const Eigen::MatrixXd& dY,
                                             Eigen::Index C, Eigen::Index H, Eigen::Index width,
                                             Eigen::Index k, Eigen::Index s) {
    // [solution]
    // Y = max of the window: its derivative is 1 at the argmax and 0 elsewhere, so dY goes to
    // the argmax alone. "+=": where windows overlap, a pixel can be the argmax of several.
    const Eigen::Index OH = (H - k) / s + 1, OW = (width - k) / s + 1;
    Eigen::MatrixXd dX = Eigen::MatrixXd::Zero(X.rows(), X.cols());
    for (Eigen::Index n = 0; n < X.rows(); ++n)
        for (Eigen::Index c = 0; c < C; ++c)
            for (Eigen::Index i = 0; i < OH; ++i)
                for (Eigen::Index j = 0; j < OW; ++j) {
                    Eigen::Index best = (c * H + i * s) * width + j * s;
                    for (Eigen::Index u = 0; u < k; ++u)
                        for (Eigen::Index v = 0; v < k; ++v) {
                            const Eigen::Index at = (c * H + i * s + u) * width + j * s + v;
                            if (X(n, at) > X(n, best)) best = at;  // ties: the first stays
                        }
                    dX(n, best) += dY(n, (c * OH + i) * OW + j);
                }
    return dX;
    // [solution]
}

int main() { return exercises::check_max_pool_backward(); }
