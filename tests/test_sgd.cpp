// Tests of optim/sgd.hpp.
#include "helpers.hpp"

#include <backprop/layers/dense.hpp>
#include <backprop/optim/sgd.hpp>

#include <catch2/catch.hpp>

#include <limits>

using backprop::Dense;
using backprop::SGD;
using Catch::Matchers::Contains;

TEMPLATE_TEST_CASE("SGD: W ← W − lr·dW and b ← b − lr·db, exactly", "[sgd]", float, double) {
    Dense<TestType> layer(3, 2, 1);
    const auto X = test::random_matrix<TestType>(4, 3, 2);
    layer.forward(X);
    const auto& grads = layer.backward(test::random_matrix<TestType>(4, 2, 3));
    const auto W = layer.W;
    const auto b = layer.b;

    const SGD<TestType> sgd{TestType(0.25)};
    CHECK(sgd.lr() == TestType(0.25));
    sgd.step(layer, grads);
    for (Eigen::Index i = 0; i < 3; ++i) {
        for (Eigen::Index j = 0; j < 2; ++j) {
            CHECK(layer.W(i, j) == W(i, j) - TestType(0.25) * grads.dW(i, j));
        }
    }
    for (Eigen::Index j = 0; j < 2; ++j) {
        CHECK(layer.b(j) == b(j) - TestType(0.25) * grads.db(j));
    }
}

TEMPLATE_TEST_CASE("SGD: a learning rate that is not finite and positive", "[sgd][bad-input]",
                   float, double) {
    using limits = std::numeric_limits<TestType>;
    for (TestType lr : {TestType(0), TestType(-0.1), limits::quiet_NaN(), limits::infinity()}) {
        CAPTURE(lr);
        CHECK_THROWS_AS(SGD<TestType>{lr}, std::invalid_argument);
        CHECK_THROWS_WITH(SGD<TestType>{lr}, Contains("SGD: the learning rate is"));
    }
}

TEMPLATE_TEST_CASE("SGD: gradients of another layer's shape throw and change nothing",
                   "[sgd][bad-input]", float, double) {
    Dense<TestType> layer(3, 2, 1);
    Dense<TestType> other(4, 2, 1);
    other.forward(test::random_matrix<TestType>(5, 4, 2));
    const auto& grads = other.backward(test::random_matrix<TestType>(5, 2, 3));
    const auto W = layer.W;
    const auto b = layer.b;

    CHECK_THROWS_AS(SGD<TestType>{1}.step(layer, grads), std::invalid_argument);
    CHECK_THROWS_WITH(SGD<TestType>{1}.step(layer, grads),
                      Contains("SGD::step: dW is 4x2 but W is 3x2"));
    CHECK(layer.W == W);
    CHECK(layer.b == b);

    typename Dense<TestType>::Gradients wrong_bias{Dense<TestType>::Weights::Zero(3, 2),
                                                    Dense<TestType>::Bias::Zero(1, 3), {}};
    CHECK_THROWS_WITH(SGD<TestType>{1}.step(layer, wrong_bias),
                      Contains("SGD::step: db is 1x3 but b is 1x2"));
    CHECK(layer.W == W);
}
