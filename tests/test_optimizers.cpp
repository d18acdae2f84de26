// Tests of optim/momentum.hpp and optim/adam.hpp: the optimisers that keep state per layer.
#include "helpers.hpp"
#include "reference/pytorch_reference_nonlinear.hpp"

#include <backprop/layers/dense.hpp>
#include <backprop/optim/adam.hpp>
#include <backprop/optim/momentum.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using backprop::Adam;
using backprop::Dense;
using backprop::Momentum;
using Catch::Matchers::Contains;

namespace {

/// The gradients of a layer, in the shape the optimisers read them (members dW and db).
template <typename Scalar, int In = Eigen::Dynamic, int Out = Eigen::Dynamic>
struct Grads {
    Eigen::Matrix<Scalar, In, Out> dW;
    Eigen::Matrix<Scalar, 1, Out> db;
};

template <typename Scalar>
Grads<Scalar> random_grads(Eigen::Index in, Eigen::Index out, std::uint64_t seed) {
    return {test::random_matrix<Scalar>(in, out, seed), test::random_matrix<Scalar>(1, out, seed + 1)};
}

/// Steps `layer` with the reference gradients and compares it with PyTorch after each step.
template <typename Optimizer>
void check_against_pytorch(Optimizer& optimizer, const reference::OptimizerCase& expected) {
    CAPTURE(expected.name);
    Dense<double> layer(3, 2);
    layer.W = test::from_rows(reference::optimizer_W0, 3, 2);
    layer.b = test::from_rows(reference::optimizer_b0, 1, 2);
    REQUIRE(reference::optimizer_grads.size() == expected.after.size());
    for (std::size_t k = 0; k < expected.after.size(); ++k) {
        CAPTURE(k);
        const Grads<double> grads{test::from_rows(reference::optimizer_grads[k].W, 3, 2),
                                  test::from_rows(reference::optimizer_grads[k].b, 1, 2)};
        optimizer.step(layer, grads);
        CHECK(test::relative_difference(layer.W, test::from_rows(expected.after[k].W, 3, 2)) < 1e-12);
        CHECK(test::relative_difference(layer.b, test::from_rows(expected.after[k].b, 1, 2)) < 1e-12);
    }
}

}  // namespace

TEMPLATE_TEST_CASE("Momentum: two steps computed by hand", "[momentum]", float, double) {
    using T = TestType;
    Dense<T> layer(1, 1);
    layer.W << 1;
    layer.b << 0;
    Grads<T> grads{Eigen::Matrix<T, -1, -1>::Constant(1, 1, 2), Eigen::Matrix<T, 1, -1>::Constant(1, 1, 1)};

    SECTION("classical: v = g, then v = μ·v + g") {
        Momentum<T> momentum(T(0.5), T(0.75));
        momentum.step(layer, grads);  // v = 2, W = 1 − 0.5·2 = 0
        CHECK(layer.W(0, 0) == T(0));
        momentum.step(layer, grads);  // v = 0.75·2 + 2 = 3.5, W = 0 − 0.5·3.5
        CHECK(layer.W(0, 0) == T(-1.75));
        CHECK(layer.b(0, 0) == T(-0.5 - 0.5 * 1.75));
        CHECK(momentum.layers() == 1);
    }
    SECTION("Nesterov: the step is g + μ·v") {
        Momentum<T> nesterov(T(0.5), T(0.75), true);
        CHECK(nesterov.nesterov());
        nesterov.step(layer, grads);  // v = 2, W = 1 − 0.5·(2 + 1.5) = −0.75
        CHECK(layer.W(0, 0) == T(-0.75));
        nesterov.step(layer, grads);  // v = 3.5, W = −0.75 − 0.5·(2 + 2.625)
        CHECK(layer.W(0, 0) == T(-0.75 - 0.5 * 4.625));
    }
}

TEMPLATE_TEST_CASE("Adam: the first step moves each parameter by lr against its gradient's sign",
                   "[adam]", float, double) {
    // t = 1: m̂ = g and v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
    Dense<TestType> layer(4, 3, 1);
    const auto W = layer.W;
    const auto grads = random_grads<TestType>(4, 3, 2);
    Adam<TestType> adam(TestType(0.1));
    CHECK(adam.steps(layer) == 0);
    adam.step(layer, grads);
    CHECK(adam.steps(layer) == 1);
    for (Eigen::Index i = 0; i < W.size(); ++i) {
        const TestType g = grads.dW(i);
        CHECK(W(i) - layer.W(i) == Approx(0.1 * g / (std::abs(g) + 1e-8)).epsilon(1e-4));
    }
}

TEST_CASE("Momentum, Nesterov and Adam: four steps agree with torch.optim to 1e-12",
          "[momentum][adam][pytorch]") {
    const auto& cases = reference::optimizer_cases;
    REQUIRE(cases.size() == 4);
    for (int k = 0; k < 2; ++k) {
        REQUIRE(cases[k].nesterov == (k == 1));
        Momentum<double> momentum(cases[k].lr, cases[k].momentum, cases[k].nesterov);
        check_against_pytorch(momentum, cases[k]);
    }
    for (int k = 2; k < 4; ++k) {
        Adam<double> adam(cases[k].lr, cases[k].beta1, cases[k].beta2, cases[k].eps);
        check_against_pytorch(adam, cases[k]);
    }
}

TEMPLATE_TEST_CASE("Momentum and Adam: state per layer, fixed sizes", "[momentum][adam]", float,
                   double) {
    // Two layers stepped by one optimiser keep separate velocities: stepping them together is
    // the same as stepping each with an optimiser of its own.
    Dense<TestType, 3, 2> a(1);
    Dense<TestType> b(3, 2, 1);
    Dense<TestType, 3, 2> a_alone = a;
    Dense<TestType> b_alone = b;
    Adam<TestType> shared;
    Adam<TestType> only_a;
    Adam<TestType> only_b;
    for (int step = 0; step < 3; ++step) {
        const auto ga = random_grads<TestType>(3, 2, 10 + step);
        const auto gb = random_grads<TestType>(3, 2, 20 + step);
        shared.step(a, ga);
        shared.step(b, gb);
        only_a.step(a_alone, ga);
        only_b.step(b_alone, gb);
    }
    CHECK(shared.layers() == 2);
    CHECK(shared.steps(a) == 3);
    CHECK(a.W == a_alone.W);
    CHECK(b.W == b_alone.W);
    CHECK(a.b == a_alone.b);
    CHECK(b.b == b_alone.b);
}

TEMPLATE_TEST_CASE("Momentum and Adam: bad hyperparameters", "[momentum][adam][bad-input]", float,
                   double) {
    using T = TestType;
    using limits = std::numeric_limits<T>;
    for (T lr : {T(0), T(-1), limits::quiet_NaN(), limits::infinity()}) {
        CHECK_THROWS_WITH(Momentum<T>(lr, T(0.9)), Contains("Momentum: the learning rate is"));
        CHECK_THROWS_WITH(Adam<T>(lr), Contains("Adam: the learning rate is"));
    }
    CHECK_THROWS_WITH(Momentum<T>(T(0.1), T(-0.5)), Contains("Momentum: the momentum is -0.5"));
    CHECK_THROWS_WITH(Momentum<T>(T(0.1), limits::quiet_NaN()), Contains("the momentum is"));
    CHECK_THROWS_WITH(Momentum<T>(T(0.1), T(0), true), Contains("positive for Nesterov"));
    CHECK_NOTHROW(Momentum<T>(T(0.1), T(0)));
    for (T beta : {T(-0.1), T(1), limits::quiet_NaN()}) {
        CHECK_THROWS_WITH(Adam<T>(T(0.1), beta), Contains("Adam: the betas are"));
        CHECK_THROWS_WITH(Adam<T>(T(0.1), T(0.9), beta), Contains("each must be in [0, 1)"));
    }
    CHECK_THROWS_WITH(Adam<T>(T(0.1), T(0.9), T(0.99), T(-1)), Contains("Adam: eps is -1"));
    CHECK_THROWS_WITH(Adam<T>(T(0.1), T(0.9), T(0.99), limits::infinity()), Contains("eps is"));
}

TEMPLATE_TEST_CASE("Momentum and Adam: gradients or state of another shape throw and change nothing",
                   "[momentum][adam][bad-input]", float, double) {
    auto check_one = [](auto optimizer, const std::string& name) {
        CAPTURE(name);
        Dense<TestType> layer(3, 2, 1);
        auto after_one_step = optimizer;
        Dense<TestType> expected = layer;
        const auto grads = random_grads<TestType>(3, 2, 5);
        optimizer.step(layer, grads);
        after_one_step.step(expected, grads);
        REQUIRE(layer.W == expected.W);
        const auto W = layer.W;
        const auto b = layer.b;

        // Gradients of another layer's shape.
        const auto wrong = random_grads<TestType>(4, 2, 6);
        CHECK_THROWS_AS(optimizer.step(layer, wrong), std::invalid_argument);
        CHECK_THROWS_WITH(optimizer.step(layer, wrong), Contains(name + "::step: dW is 4x2 but W is 3x2"));
        Grads<TestType> wrong_b{grads.dW, test::random_matrix<TestType>(1, 3, 7)};
        CHECK_THROWS_WITH(optimizer.step(layer, wrong_b), Contains(name + "::step: db is 1x3 but b is 1x2"));
        CHECK(layer.W == W);
        CHECK(layer.b == b);

        // The same layer object reshaped: the state it holds no longer fits.
        Dense<TestType> reshaped = layer;
        layer = Dense<TestType>(4, 2, 2);
        const auto W4 = layer.W;
        CHECK_THROWS_AS(optimizer.step(layer, wrong), std::invalid_argument);
        CHECK_THROWS_WITH(optimizer.step(layer, wrong),
                          Contains(name + "::step: this layer's W is 4x2") &&
                              Contains("the state held for it is for W 3x2"));
        CHECK(layer.W == W4);
        CHECK(optimizer.layers() == 1);

        // Nothing changed: the next good step matches an optimiser that never saw the bad calls.
        layer = reshaped;
        optimizer.step(layer, grads);
        after_one_step.step(expected, grads);
        CHECK(layer.W == expected.W);
        CHECK(layer.b == expected.b);
    };
    check_one(Momentum<TestType>(TestType(0.1), TestType(0.9)), "Momentum");
    check_one(Momentum<TestType>(TestType(0.1), TestType(0.9), true), "Momentum");
    check_one(Adam<TestType>(), "Adam");
}
