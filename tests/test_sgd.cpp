// Tests of optim/sgd.hpp.
#include "helpers.hpp"

#include <backprop/layers/activations.hpp>
#include <backprop/layers/dense.hpp>
#include <backprop/nn/sequential.hpp>
#include <backprop/optim/sgd.hpp>

#include <catch2/catch.hpp>

#include <limits>

using backprop::Dense;
using backprop::SGD;
using Catch::Matchers::Contains;

namespace {

/// A layer of `in` inputs and `out` outputs after one forward and backward on random data, so
/// that it holds gradients.
template <typename Scalar>
Dense<Scalar> layer_with_gradients(Eigen::Index in, Eigen::Index out, std::uint64_t seed) {
    Dense<Scalar> layer(in, out, seed);
    layer.forward(test::random_matrix<Scalar>(4, in, seed + 1));
    layer.backward(test::random_matrix<Scalar>(4, out, seed + 2));
    return layer;
}

}  // namespace

TEMPLATE_TEST_CASE("SGD: W ← W − lr·dW and b ← b − lr·db, exactly", "[sgd]", float, double) {
    auto layer = layer_with_gradients<TestType>(3, 2, 1);
    const auto grads = layer.gradients();
    REQUIRE(grads.dW.norm() > 0);
    const auto W = layer.W;
    const auto b = layer.b;

    SGD<TestType> sgd{TestType(0.25)};
    CHECK(sgd.lr() == TestType(0.25));
    CHECK(sgd.weight_decay() == TestType(0));
    sgd.step(layer);
    for (Eigen::Index i = 0; i < 3; ++i) {
        for (Eigen::Index j = 0; j < 2; ++j) {
            CHECK(layer.W(i, j) == W(i, j) - TestType(0.25) * grads.dW(i, j));
        }
    }
    for (Eigen::Index j = 0; j < 2; ++j) {
        CHECK(layer.b(j) == b(j) - TestType(0.25) * grads.db(j));
    }
}

TEMPLATE_TEST_CASE("SGD: weight decay steps p ← p − lr·(g + wd·p), exactly", "[sgd]", float,
                   double) {
    // The gradient of the L2 term (wd/2)·‖p‖² is wd·p, added to the loss's gradient: what
    // torch.optim.SGD(weight_decay=wd) does (compared with PyTorch in test_optimizers.cpp).
    using T = TestType;
    auto layer = layer_with_gradients<T>(3, 2, 4);
    const auto grads = layer.gradients();
    const auto W = layer.W;
    const auto b = layer.b;
    const T lr(0.5);
    const T wd(0.125);
    SGD<T> sgd(lr, wd);
    CHECK(sgd.weight_decay() == wd);
    sgd.step(layer);
    for (Eigen::Index i = 0; i < W.size(); ++i) {
        CHECK(layer.W(i) == W(i) - lr * (grads.dW(i) + wd * W(i)));
    }
    for (Eigen::Index j = 0; j < b.size(); ++j) {
        CHECK(layer.b(j) == b(j) - lr * (grads.db(j) + wd * b(j)));
    }
    // With a zero gradient, weight decay alone shrinks every parameter by (1 − lr·wd).
    layer.clear_gradients();
    layer.forward(test::random_matrix<T>(4, 3, 5));
    layer.backward(Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>::Zero(4, 2));
    const auto W1 = layer.W;
    sgd.step(layer);
    for (Eigen::Index i = 0; i < W1.size(); ++i) {
        CHECK(layer.W(i) == W1(i) - lr * (T(0) + wd * W1(i)));
    }
}

TEMPLATE_TEST_CASE("SGD: one step of a Sequential steps every layer with its own gradients",
                   "[sgd]", float, double) {
    using T = TestType;
    backprop::Sequential<Dense<T>, backprop::Tanh<T>, Dense<T>> net(Dense<T>(3, 4, 1),
                                                                    backprop::Tanh<T>(),
                                                                    Dense<T>(4, 2, 2));
    net.forward(test::random_matrix<T>(5, 3, 3));
    net.backward(test::random_matrix<T>(5, 2, 4));
    const auto first = net.template layer<0>();
    const auto last = net.template layer<2>();
    REQUIRE(first.gradients().dW.norm() > 0);
    REQUIRE(last.gradients().dW.norm() > 0);

    SGD<T> sgd(T(0.1));
    sgd.step(net);
    CHECK(net.template layer<0>().W == (first.W - T(0.1) * first.gradients().dW).eval());
    CHECK(net.template layer<0>().b == (first.b - T(0.1) * first.gradients().db).eval());
    CHECK(net.template layer<2>().W == (last.W - T(0.1) * last.gradients().dW).eval());
    CHECK(net.template layer<2>().b == (last.b - T(0.1) * last.gradients().db).eval());
}

TEMPLATE_TEST_CASE("SGD: a learning rate or weight decay out of range", "[sgd][bad-input]",
                   float, double) {
    using T = TestType;
    using limits = std::numeric_limits<T>;
    for (T lr : {T(0), T(-0.1), limits::quiet_NaN(), limits::infinity()}) {
        CAPTURE(lr);
        CHECK_THROWS_AS(SGD<T>{lr}, std::invalid_argument);
        CHECK_THROWS_WITH(SGD<T>{lr}, Contains("SGD: the learning rate is"));
        // set_lr refuses it too, and keeps the learning rate it had.
        SGD<T> sgd(T(0.5));
        CHECK_THROWS_WITH(sgd.set_lr(lr), Contains("SGD: the learning rate is"));
        CHECK(sgd.lr() == T(0.5));
    }
    for (T wd : {T(-0.1), limits::quiet_NaN(), limits::infinity()}) {
        CAPTURE(wd);
        CHECK_THROWS_AS(SGD<T>(T(0.1), wd), std::invalid_argument);
        CHECK_THROWS_WITH(SGD<T>(T(0.1), wd), Contains("SGD: the weight decay is"));
    }
    CHECK_NOTHROW(SGD<T>(T(0.1), T(0)));
}

TEMPLATE_TEST_CASE("SGD: a parameter reshaped after backward throws and changes nothing",
                   "[sgd][bad-input]", float, double) {
    // W and b are public: a user can give W another shape than the dW of the last backward().
    using T = TestType;
    auto layer = layer_with_gradients<T>(3, 2, 1);
    SGD<T> sgd{1};

    layer.W = Dense<T>::Weights::Ones(4, 2);
    const auto b = layer.b;
    CHECK_THROWS_AS(sgd.step(layer), std::invalid_argument);
    CHECK_THROWS_WITH(sgd.step(layer), Contains("SGD::step: layer 0 (Dense) dW is 3x2 but W is 4x2"));
    CHECK(layer.W == Dense<T>::Weights::Ones(4, 2));
    CHECK(layer.b == b);

    layer = layer_with_gradients<T>(3, 2, 1);
    layer.b = Dense<T>::Bias::Ones(1, 3);
    const auto W = layer.W;
    CHECK_THROWS_WITH(sgd.step(layer), Contains("SGD::step: layer 0 (Dense) db is 1x2 but b is 1x3"));
    CHECK(layer.W == W);
    CHECK(layer.b == Dense<T>::Bias::Ones(1, 3));
}
