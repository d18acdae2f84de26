#pragma once
// The training steps the benchmark compares, for a two-layer net
//   Z1 = X·W1 + b1,  A1 = ReLU(Z1) (or A1 = Z1 without Relu),  Z2 = A1·W2 + b2,
//   L = MSE(Z2, y),  then SGD on W1, b1, W2, b2,
// through the library twice (layers driven by hand, and the same layers in a Sequential) and once
// written by hand in raw Eigen. All start from the same parameters and take the same step, so the
// benchmark can check that they agree before timing.
//
// Shapes (rows are samples): X (batch, in), W1 (in, hidden), W2 (hidden, out), y (batch, out).
// In, Hidden and Out may be fixed at compile time or Eigen::Dynamic; the batch is always dynamic.
//
// And LeNetStep: one training step of LeNet-5 through the library, for the benchmark and the
// allocation test.

#include <backprop/backprop.hpp>

#include <Eigen/Core>

#include <cstdint>
#include <type_traits>

namespace bench {

using Eigen::Dynamic;
using Eigen::Index;

/// The inputs and targets of a workload: X (batch, in), y (batch, out), uniform in [−1, 1).
template <typename Scalar, int In, int Out>
struct Batch {
    Eigen::Matrix<Scalar, Dynamic, In> X;
    Eigen::Matrix<Scalar, Dynamic, Out> y;

    Batch(Index batch, Index in, Index out, std::uint64_t seed) : X(batch, in), y(batch, out) {
        backprop::detail::SplitMix64 rng(seed);
        backprop::detail::fill_uniform(X, rng, Scalar(-1), Scalar(1));
        backprop::detail::fill_uniform(y, rng, Scalar(-1), Scalar(1));
    }
};

/// a·b, coefficient-based when Lazy: for tiny fixed sizes, where Eigen's GEMM (chosen whenever
/// the batch is dynamic) costs more than the arithmetic. The library's Dense does the same.
template <bool Lazy, typename A, typename B>
auto product(const A& a, const B& b) {
    if constexpr (Lazy) {
        return a.lazyProduct(b);
    } else {
        return a * b;
    }
}

/// One SGD step through the library, with the layers driven by hand as a user writes it (the
/// notebook's chain); with Relu, a ReLU between the layers. The first layer computes no dX
/// (backward_parameters), as Sequential::backward does. `sgd.step(layer)` checks that every
/// gradient is finite unless `check_finite` is false (the benchmark times both).
template <typename Scalar, int In, int Hidden, int Out, bool Relu = false>
struct LibraryStep {
    backprop::Dense<Scalar, In, Hidden> layer1;
    backprop::ReLU<Scalar, Hidden> relu;  // unused without Relu: it holds two empty matrices
    backprop::Dense<Scalar, Hidden, Out> layer2;
    backprop::MSE<Scalar, Out> mse;
    backprop::SGD<Scalar> sgd;

    LibraryStep(Index in, Index hidden, Index out, Scalar lr, bool check_finite = true)
        : layer1(in, hidden, 1), layer2(hidden, out, 2), sgd(lr) {
        sgd.set_check_finite(check_finite);
    }

    template <typename X, typename Y>
    Scalar operator()(const X& x, const Y& y) {
        const Scalar loss = mse.forward(layer2.forward(hidden(layer1.forward(x))), y);
        const auto& grads2 = layer2.backward(mse.backward());
        layer1.backward_parameters(hidden_backward(grads2.dX));
        sgd.step(layer2);
        sgd.step(layer1);
        return loss;
    }

    const backprop::Dense<Scalar, In, Hidden>& first_layer() const { return layer1; }

private:
    template <typename Z>
    const auto& hidden(const Z& z) {
        if constexpr (Relu) {
            return relu.forward(z);
        } else {
            return z;
        }
    }

    template <typename DA>
    const auto& hidden_backward(const DA& dA) {
        if constexpr (Relu) {
            return relu.backward(dA).dX;
        } else {
            return dA;
        }
    }
};

/// The same step through a Sequential of the same layers (Dense, ReLU, Dense; or Dense, Dense
/// without Relu): `net.forward`, `net.backward`, `sgd.step(net)`, with the finiteness check on.
/// Its layers are built with LibraryStep's seeds, so both start from the same parameters.
template <typename Scalar, int In, int Hidden, int Out, bool Relu = false>
struct SequentialStep {
    using Layer1 = backprop::Dense<Scalar, In, Hidden>;
    using Layer2 = backprop::Dense<Scalar, Hidden, Out>;
    using Net = std::conditional_t<Relu,
                                   backprop::Sequential<Layer1, backprop::ReLU<Scalar, Hidden>, Layer2>,
                                   backprop::Sequential<Layer1, Layer2>>;

    Net net;
    backprop::MSE<Scalar, Out> mse;
    backprop::SGD<Scalar> sgd;

    SequentialStep(Index in, Index hidden, Index out, Scalar lr)
        : net(make_net(in, hidden, out)), sgd(lr) {}

    template <typename X, typename Y>
    Scalar operator()(const X& x, const Y& y) {
        const Scalar loss = mse.forward(net.forward(x), y);
        net.backward(mse.backward());
        sgd.step(net);
        return loss;
    }

    const Layer1& first_layer() const { return net.template layer<0>(); }

private:
    static Net make_net(Index in, Index hidden, Index out) {
        if constexpr (Relu) {
            return Net(Layer1(in, hidden, 1), backprop::ReLU<Scalar, Hidden>(),
                       Layer2(hidden, out, 2));
        } else {
            return Net(Layer1(in, hidden, 1), Layer2(hidden, out, 2));
        }
    }
};

/// The same step written by hand: preallocated buffers, noalias() products, the loss's 2/N and
/// the learning rate folded into the products' scale, and each update fused into the product
/// that computes its gradient (no dW buffer); coefficient-based products for tiny fixed sizes.
/// With Relu, the activation is applied in place in Z1 (with the bias) and its derivative is a
/// select on Z1's sign.
template <typename Scalar, int In, int Hidden, int Out, bool Relu = false>
struct RawStep {
    Eigen::Matrix<Scalar, In, Hidden> W1;
    Eigen::Matrix<Scalar, 1, Hidden> b1;
    Eigen::Matrix<Scalar, Hidden, Out> W2;
    Eigen::Matrix<Scalar, 1, Out> b2;
    Scalar lr;

    Eigen::Matrix<Scalar, Dynamic, Hidden> Z1, dZ1;  // Z1 holds A1 = ReLU(Z1) with Relu
    Eigen::Matrix<Scalar, Dynamic, Out> Z2;           // Z2, then Z2 − y in place

    /// Starts from the parameters of `start`, with buffers for `batch` samples.
    RawStep(const LibraryStep<Scalar, In, Hidden, Out, Relu>& start, Index batch)
        : W1(start.layer1.W), b1(start.layer1.b), W2(start.layer2.W), b2(start.layer2.b),
          lr(start.sgd.lr()), Z1(batch, W1.cols()), dZ1(batch, W1.cols()),
          Z2(batch, W2.cols()) {}

    static constexpr bool lazy = In != Dynamic && Hidden != Dynamic && Out != Dynamic &&
                                 In + Hidden + Out < EIGEN_GEMM_TO_COEFFBASED_THRESHOLD;

    template <typename X, typename Y>
    Scalar operator()(const X& x, const Y& y) {
        const Scalar n = static_cast<Scalar>(y.size());
        Z1.noalias() = product<lazy>(x, W1);
        if constexpr (Relu) {
            Z1 = (Z1.rowwise() + b1).cwiseMax(Scalar(0));  // A1, elementwise: no aliasing issue
        } else {
            Z1.rowwise() += b1;
        }
        Z2.noalias() = product<lazy>(Z1, W2);
        Z2.rowwise() += b2;
        Z2 -= y;                                   // Z2 − y, the loss's residual
        const Scalar loss = Z2.squaredNorm() / n;
        const Scalar scale = Scalar(2) / n;        // dZ2 = scale·(Z2 − y)
        // dZ1 / scale, with W2 before its update
        dZ1.noalias() = product<lazy>(Z2, W2.transpose());
        if constexpr (Relu) {
            dZ1 = (Z1.array() > Scalar(0)).select(dZ1, Scalar(0));  // ReLU'(Z1) = [A1 > 0]
        }
        const Scalar step = lr * scale;
        W2.noalias() -= step * product<lazy>(Z1.transpose(), Z2);
        b2.noalias() -= step * Z2.colwise().sum();
        W1.noalias() -= step * product<lazy>(x.transpose(), dZ1);
        b1.noalias() -= step * dZ1.colwise().sum();
        return loss;
    }
};

/// LeNet-5 as examples/fashion_mnist.cpp trains it, on a batch of 64 random 28×28 images: conv
/// 5×5 (1→6, padding 2) → ReLU → max pool 2 → conv 5×5 (6→16) → ReLU → max pool 2 → dense
/// 400→120 → ReLU → 120→84 → ReLU → 84→10, softmax cross-entropy, SGD; one step is forward,
/// loss, every backward and the update, through the library's Sequential.
template <typename Scalar>
struct LeNetStep {
    using Net = backprop::Sequential<
        backprop::Conv2D<Scalar>, backprop::ReLU<Scalar>, backprop::MaxPool2D<Scalar>,
        backprop::Conv2D<Scalar>, backprop::ReLU<Scalar>, backprop::MaxPool2D<Scalar>,
        backprop::Dense<Scalar>, backprop::ReLU<Scalar>, backprop::Dense<Scalar>,
        backprop::ReLU<Scalar>, backprop::Dense<Scalar>>;
    static constexpr Index batch = 64;

    /// FLOPs of the step's products: forward 2·batch·(F·P·K of each conv + in·out of each dense
    /// layer); backward the same again for every dW, and for every dX but the first layer's
    /// (its input is the data). Pooling, ReLU, the loss and the update are not counted.
    static double useful_flops() {
        const double conv1 = 6.0 * 28 * 28 * 25, conv2 = 16.0 * 10 * 10 * 150;
        const double dense = 400.0 * 120 + 120.0 * 84 + 84.0 * 10;
        return 2.0 * double(batch) * (3 * (conv1 + conv2 + dense) - conv1);
    }

    Net net{backprop::Conv2D<Scalar>({1, 28, 28}, 6, 5, 1, backprop::Padding(2), 1),
            backprop::ReLU<Scalar>(), backprop::MaxPool2D<Scalar>(6, 28, 28, 2, 2),
            backprop::Conv2D<Scalar>({6, 14, 14}, 16, 5, 1, backprop::Padding::valid(), 2),
            backprop::ReLU<Scalar>(), backprop::MaxPool2D<Scalar>(16, 10, 10, 2, 2),
            backprop::Dense<Scalar>(400, 120, 3), backprop::ReLU<Scalar>(),
            backprop::Dense<Scalar>(120, 84, 4), backprop::ReLU<Scalar>(),
            backprop::Dense<Scalar>(84, 10, 5)};
    backprop::SoftmaxCrossEntropy<Scalar> loss;
    backprop::SGD<Scalar> sgd;
    Eigen::Matrix<Scalar, Dynamic, Dynamic> X;
    Eigen::VectorXi y;

    explicit LeNetStep(Scalar lr) : sgd(lr), X(batch, 784), y(batch) {
        for (Index i = 0; i < X.size(); ++i) X.data()[i] = Scalar((i * 7919) % 256) / Scalar(255);
        for (Index i = 0; i < batch; ++i) y(i) = int(i % 10);
    }

    Scalar operator()() {
        const Scalar value = loss.forward(net.forward(X), y);
        net.backward(loss.backward());
        sgd.step(net);
        return value;
    }
};

}  // namespace bench
