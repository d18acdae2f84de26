// The checkers of the tutorial's code exercises. Each exercise is a free function over Eigen
// matrices that a learner writes (in <name>.cpp, where it starts as a stub); the checker compares
// it with finite differences of a loss through the forward function, in double, on random
// inputs, and prints what it found. <name>_solution.cpp is the same file, solved.
#pragma once

#include <backprop/backprop.hpp>

#include <cstdio>

namespace exercises {

/// Tutorial 7: Tanh's backward, written with Tanh's output Y = tanh(X) and dY = ∂L/∂Y.
Eigen::MatrixXd tanh_backward(const Eigen::MatrixXd& Y, const Eigen::MatrixXd& dY);

/// Tutorial 8: softmax cross-entropy's backward: dZ = ∂L/∂Z for logits Z (batch, classes) and
/// one label per row, with L the mean over the batch of −log softmax(Z)ᵢ,yᵢ.
Eigen::MatrixXd softmax_cross_entropy_backward(const Eigen::MatrixXd& Z, const Eigen::VectorXi& y);

/// Tutorial 2: a Dense layer's backward, given the cached input X, the weights W and dZ.
struct DenseGradients {
    Eigen::MatrixXd dW, db, dX;
};
DenseGradients dense_backward(const Eigen::MatrixXd& X, const Eigen::MatrixXd& W,
                              const Eigen::MatrixXd& dZ);

/// Tutorial 11: a convolution's input gradient, for one image of C channels of H × W, F kernels
/// of k × k in W (F, C·k·k) (row f is kernel f in (c, i, j) order, as backprop::Conv2D), stride 1,
/// no padding. dY is (1, F·OH·OW) with OH = H − k + 1, OW = W − k + 1; return dX (1, C·H·W).
/// Images are rows in NCHW order: element (c, h, w) is column c·H·W + h·W + w.
Eigen::MatrixXd conv_input_gradient(const Eigen::MatrixXd& dY, const Eigen::MatrixXd& W,
                                    Eigen::Index C, Eigen::Index H, Eigen::Index width,
                                    Eigen::Index k);

/// Tutorial 12: max pooling's backward, for images X (batch, C·H·W) pooled by k × k windows
/// with stride s; dY is (batch, C·OH·OW) with OH = ⌊(H − k)/s⌋ + 1; return dX (batch, C·H·W).
Eigen::MatrixXd max_pool_backward(const Eigen::MatrixXd& X, const Eigen::MatrixXd& dY,
                                  Eigen::Index C, Eigen::Index H, Eigen::Index width,
                                  Eigen::Index k, Eigen::Index s);

/// Tutorial 13: BatchNorm's input gradient in training, for features X (batch, F), the scale γ
/// (1, F) and dY (batch, F); ε = 1e-5. Return dX (batch, F).
Eigen::MatrixXd batch_norm_backward(const Eigen::MatrixXd& X, const Eigen::MatrixXd& gamma,
                                    const Eigen::MatrixXd& dY);

// Prints one gradient's relative error against finite differences; true if below 1e-7.
inline bool report(const char* name, const Eigen::MatrixXd& analytic,
                   const backprop::GradientError& error) {
    const bool zero = analytic.size() == 0 || analytic.isZero(0);
    const bool ok = !zero && error.passes(1e-7);
    std::printf("%-3s relative error %.1e  %s\n", name, error.max_relative_error,
                ok ? "ok" : zero ? "WRONG (all zero: not written yet?)" : "WRONG");
    return ok;
}

// L = Σ G∘f(X) for a fixed random G, so that ∂L/∂f(X) = G and every element counts differently.
inline int check_tanh_backward() {
    const Eigen::MatrixXd X = Eigen::MatrixXd::Random(4, 3) * 2;
    const Eigen::MatrixXd G = Eigen::MatrixXd::Random(4, 3);
    const auto loss = [&](const Eigen::MatrixXd& x) { return (G.array() * x.array().tanh()).sum(); };
    const Eigen::MatrixXd dX = tanh_backward(X.array().tanh(), G);
    const bool ok = dX.rows() == X.rows() && dX.cols() == X.cols() &&
                    report("dX", dX, backprop::check_gradient(loss, X, dX));
    std::printf(ok ? "tanh_backward is right\n" : "tanh_backward is not right yet\n");
    return ok ? 0 : 1;
}

// L is the library's SoftmaxCrossEntropy::value() (it keeps nothing), on random logits of 5
// samples and 4 classes, with every class among the labels.
inline int check_softmax_cross_entropy_backward() {
    const Eigen::MatrixXd Z = Eigen::MatrixXd::Random(5, 4) * 3;
    Eigen::VectorXi y(5);
    y << 2, 0, 3, 1, 2;
    const backprop::SoftmaxCrossEntropy<double> cross_entropy;
    const auto loss = [&](const Eigen::MatrixXd& z) { return cross_entropy.value(z, y); };
    const Eigen::MatrixXd dZ = softmax_cross_entropy_backward(Z, y);
    const bool ok = dZ.rows() == Z.rows() && dZ.cols() == Z.cols() &&
                    report("dZ", dZ, backprop::check_gradient(loss, Z, dZ));
    std::printf(ok ? "softmax_cross_entropy_backward is right\n"
                   : "softmax_cross_entropy_backward is not right yet\n");
    return ok ? 0 : 1;
}

inline int check_dense_backward() {
    const Eigen::MatrixXd X = Eigen::MatrixXd::Random(4, 5);
    const Eigen::MatrixXd W = Eigen::MatrixXd::Random(5, 3);
    const Eigen::MatrixXd b = Eigen::MatrixXd::Random(1, 3);
    const Eigen::MatrixXd G = Eigen::MatrixXd::Random(4, 3);
    const auto loss = [&](const Eigen::MatrixXd& x, const Eigen::MatrixXd& w,
                          const Eigen::MatrixXd& bias) {
        return (G.array() * ((x * w).rowwise() + bias.row(0)).array()).sum();
    };
    const DenseGradients d = dense_backward(X, W, G);
    bool ok = d.dW.rows() == 5 && d.dW.cols() == 3 && d.db.rows() == 1 && d.db.cols() == 3 &&
              d.dX.rows() == 4 && d.dX.cols() == 5;
    if (!ok) {
        std::printf("a gradient has the wrong shape: dW must be (5, 3), db (1, 3), dX (4, 5)\n");
    } else {
        using M = Eigen::MatrixXd;
        ok &= report("dW", d.dW, backprop::check_gradient(
                                             [&](const M& w) { return loss(X, w, b); }, W, d.dW));
        ok &= report("db", d.db, backprop::check_gradient(
                                             [&](const M& v) { return loss(X, W, v); }, b, d.db));
        ok &= report("dX", d.dX, backprop::check_gradient(
                                             [&](const M& x) { return loss(x, W, b); }, X, d.dX));
    }
    std::printf(ok ? "dense_backward is right\n" : "dense_backward is not right yet\n");
    return ok ? 0 : 1;
}

// L = Σ G∘Y through backprop::Conv2D (bias 0) on one image of 2 channels of 4×5, 3 kernels of 3×3.
inline int check_conv_input_gradient() {
    const backprop::ImageShape image{2, 4, 5};
    backprop::Conv2D<double> conv(image, 3, 3);
    conv.W = Eigen::MatrixXd::Random(3, 2 * 3 * 3);
    conv.b.setZero();
    const Eigen::MatrixXd X = Eigen::MatrixXd::Random(1, image.size());
    const Eigen::MatrixXd G = Eigen::MatrixXd::Random(1, conv.out());
    const auto loss = [&](const Eigen::MatrixXd& x) {
        return (G.array() * conv.predict(x).array()).sum();
    };
    const Eigen::MatrixXd dX = conv_input_gradient(G, conv.W, 2, 4, 5, 3);
    const bool ok = dX.rows() == 1 && dX.cols() == image.size() &&
                    report("dX", dX, backprop::check_gradient(loss, X, dX));
    std::printf(ok ? "conv_input_gradient is right\n" : "conv_input_gradient is not right yet\n");
    return ok ? 0 : 1;
}

// L = Σ G∘Y through backprop::MaxPool2D on two images of 2 channels of 5×6, 3×3 windows with
// stride 2, which overlap. Random values: no window holds a tie within the step h.
inline int check_max_pool_backward() {
    const backprop::MaxPool2D<double> pool(2, 5, 6, 3, 2);
    const Eigen::MatrixXd X = Eigen::MatrixXd::Random(2, pool.in());
    const Eigen::MatrixXd G = Eigen::MatrixXd::Random(2, pool.out());
    const auto loss = [&](const Eigen::MatrixXd& x) {
        return (G.array() * pool.predict(x).array()).sum();
    };
    const Eigen::MatrixXd dX = max_pool_backward(X, G, 2, 5, 6, 3, 2);
    const bool ok = dX.rows() == X.rows() && dX.cols() == X.cols() &&
                    report("dX", dX, backprop::check_gradient(loss, X, dX));
    std::printf(ok ? "max_pool_backward is right\n" : "max_pool_backward is not right yet\n");
    return ok ? 0 : 1;
}

// L = Σ G∘Y through backprop::BatchNorm in training mode on 6 samples of 4 features.
inline int check_batch_norm_backward() {
    const Eigen::MatrixXd X = Eigen::MatrixXd::Random(6, 4) * 2;
    const Eigen::MatrixXd G = Eigen::MatrixXd::Random(6, 4);
    backprop::BatchNorm<double> norm(4);
    norm.gamma << 1.5, 0.5, -0.8, 1.0;
    const auto loss = [&](const Eigen::MatrixXd& x) {
        backprop::BatchNorm<double> copy = norm;  // training moves the running statistics
        return (G.array() * copy.forward(x).array()).sum();
    };
    const Eigen::MatrixXd dX = batch_norm_backward(X, norm.gamma, G);
    const bool ok = dX.rows() == X.rows() && dX.cols() == X.cols() &&
                    report("dX", dX, backprop::check_gradient(loss, X, dX));
    std::printf(ok ? "batch_norm_backward is right\n" : "batch_norm_backward is not right yet\n");
    return ok ? 0 : 1;
}

}  // namespace exercises
