// Why a network is not trained with numeric gradients: their cost. For the digits network of
// Tutorial 10 (64 → 32 → 10, a ReLU between, softmax cross-entropy, a batch of 32), one gradient by
// central differences needs two loss evaluations, each a whole forward pass, per parameter; the
// backward pass gives all of them for about the cost of one more. This program counts the
// passes, times one numeric-gradient step and one backward step on this machine, and prints the
// ratio. Prints what docs/2_dense.md shows; exits non-zero if the two gradients disagree.
#include <backprop/backprop.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace bp = backprop;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main() {
    // Random images and labels with the digits' shapes: the cost depends on the shapes only.
    std::srand(1);
    const Eigen::MatrixXd X = (Eigen::MatrixXd::Random(32, 64).array() + 1) * 8;  // pixels 0..16
    Eigen::VectorXi labels(32);
    for (int i = 0; i < 32; ++i) {
        labels(i) = i % 10;
    }
    bp::Dense<double> layer1(64, 32, /*seed=*/1), layer2(32, 10, /*seed=*/2);
    bp::ReLU<double> relu;
    bp::SoftmaxCrossEntropy<double> loss;
    const auto forward = [&] {
        return loss.forward(layer2.forward(relu.forward(layer1.forward(X))), labels);
    };

    // [count]
    const Eigen::Index parameters =
        layer1.W.size() + layer1.b.size() + layer2.W.size() + layer2.b.size();
    const Eigen::Index passes = 2 * parameters;  // L(θ + h) and L(θ − h) for each parameter
    // [count]
    std::printf("parameters: 64·32 + 32 + 32·10 + 10 = %ld\n", long(parameters));
    std::printf("forward passes for one numeric gradient: 2 · %ld = %ld\n", long(parameters),
                long(passes));

    // [time]
    // One backward step: a forward pass, then every gradient by the chain rule.
    double backward_time = 1e300;
    Eigen::MatrixXd dW1;
    for (int repeat = 0; repeat < 20; ++repeat) {
        const auto start = Clock::now();
        forward();
        const auto& g2 = layer2.backward(loss.backward());
        const auto& g1 = layer1.backward(relu.backward(g2.dX).dX);
        backward_time = std::min(backward_time, seconds_since(start));
        dW1 = g1.dW;
    }
    // One numeric step: move each parameter by ±h in turn and run the network forward twice.
    const auto numeric = [&](auto& p, Eigen::MatrixXd& dp) {
        dp.resize(p.rows(), p.cols());
        for (Eigen::Index i = 0; i < p.size(); ++i) {
            const double keep = p.data()[i], h = 1e-5;
            p.data()[i] = keep + h;
            const double plus = forward();
            p.data()[i] = keep - h;
            const double minus = forward();
            p.data()[i] = keep;
            dp.data()[i] = (plus - minus) / (2 * h);
        }
    };
    double numeric_time = 1e300;
    Eigen::MatrixXd numeric_dW1, numeric_db1, numeric_dW2, numeric_db2;
    for (int repeat = 0; repeat < 3; ++repeat) {
        const auto start = Clock::now();
        numeric(layer1.W, numeric_dW1);
        numeric(layer1.b, numeric_db1);
        numeric(layer2.W, numeric_dW2);
        numeric(layer2.b, numeric_db2);
        numeric_time = std::min(numeric_time, seconds_since(start));
    }
    // [time]
    const double difference = (numeric_dW1 - dW1).cwiseAbs().maxCoeff();
    std::printf("one backward step: %.3g ms; one numeric gradient: %.3g ms\n",
                backward_time * 1e3, numeric_time * 1e3);
    std::printf("the numeric gradient costs %.0f times as much (measured on this machine)\n",
                numeric_time / backward_time);
    std::printf("largest |numeric - backward| in dW1: %.1e\n", difference);
    return difference < 1e-6 ? 0 : 1;
}
