// Several threads predict with one const model at once. Its own executable, so that the
// ThreadSanitizer configuration of scripts/test.sh builds and runs only this (Eigen's templates
// compile slowly, and the other tests are single-threaded).
#include "helpers.hpp"

#include <backprop/backprop.hpp>

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

namespace bp = backprop;

TEST_CASE("Inference: threads predicting with one const model agree with one thread",
          "[inference][threads]") {
    using Net = bp::Sequential<bp::Dense<double>, bp::Tanh<double>, bp::Dense<double>>;
    const Net net(bp::Dense<double>(6, 16, 1), bp::Tanh<double>(), bp::Dense<double>(16, 4, 2));
    const bp::SoftmaxCrossEntropy<double> loss;
    const auto X = test::random_matrix<double>(64, 6, 3);
    Eigen::VectorXi labels(64);
    for (Eigen::Index i = 0; i < 64; ++i) labels(i) = int(i % 4);
    const Eigen::MatrixXd expected = net.predict(X);
    const double expected_loss = loss.value(expected, labels);

    constexpr int threads = 4;
    std::vector<Eigen::MatrixXd> outputs(threads);
    std::vector<double> losses(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            Net::Buffers buffers;  // each thread its own
            for (int repeat = 0; repeat < 20; ++repeat) {
                outputs[t] = net.predict(X, buffers);
                losses[t] = loss.value(net.predict(X), labels);
                outputs[t] += net.layer<2>().predict(net.layer<1>().predict(net.layer<0>().predict(X))) -
                              net.predict(X);
            }
        });
    }
    for (auto& worker : workers) worker.join();
    for (int t = 0; t < threads; ++t) {
        CHECK(outputs[t] == expected);
        CHECK(losses[t] == expected_loss);
    }
}
