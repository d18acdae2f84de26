// Tests of layers/dense.hpp and layers/init.hpp.
#include "helpers.hpp"

#include <backprop/check/gradient_check.hpp>
#include <backprop/layers/dense.hpp>

#include <catch2/catch.hpp>

#include <cmath>

using backprop::Dense;
using backprop::Init;
using Catch::Matchers::Contains;

TEMPLATE_TEST_CASE("Dense: shapes of the forward and backward passes", "[dense]", float, double) {
    Dense<TestType> layer(4, 3, 7);
    const auto X = test::random_matrix<TestType>(6, 4, 1);
    const auto& Z = layer.forward(X);
    CHECK(Z.rows() == 6);
    CHECK(Z.cols() == 3);
    const auto& grads = layer.backward(test::random_matrix<TestType>(6, 3, 2));
    CHECK(grads.dW.rows() == 4);
    CHECK(grads.dW.cols() == 3);
    CHECK(grads.db.rows() == 1);
    CHECK(grads.db.cols() == 3);
    CHECK(grads.dX.rows() == 6);
    CHECK(grads.dX.cols() == 4);
}

TEST_CASE("Dense: values computed by hand", "[dense]") {
    Dense<double> layer(2, 2);
    layer.W << 1, 2,
               3, 4;
    layer.b << 0.5, -1;
    Eigen::MatrixXd X(2, 2);
    X << 1, 0,
         -1, 2;
    Eigen::MatrixXd Z(2, 2);
    Z << 1.5, 1,       // [1, 0]·W + b
         5.5, 5;       // [-1, 2]·W + b
    CHECK(layer.forward(X) == Z);

    Eigen::MatrixXd dZ(2, 2);
    dZ << 1, 0,
          2, -1;
    const auto& grads = layer.backward(dZ);
    Eigen::MatrixXd dW(2, 2), db(1, 2), dX(2, 2);
    dW << -1, 1,    // Xᵀ·dZ
          4, -2;
    db << 3, -1;    // column sums of dZ
    dX << 1, 3,     // dZ·Wᵀ
          0, 2;
    CHECK(grads.dW == dW);
    CHECK(grads.db == db);
    CHECK(grads.dX == dX);
}

TEMPLATE_TEST_CASE("Dense: the gradient check passes on random shapes", "[dense][gradient-check]",
                   float, double) {
    const auto [batch, in, out] = GENERATE(table<int, int, int>(
        {{1, 1, 1}, {1, 5, 3}, {10, 5, 5}, {10, 5, 1}, {7, 3, 8}, {32, 16, 4}}));
    CAPTURE(batch, in, out);
    const Dense<TestType> layer(in, out, 11);
    const auto error = backprop::gradient_check(layer, test::random_matrix<TestType>(batch, in, 3));
    CAPTURE(error.dW.max_relative_error, error.db.max_relative_error, error.dX.max_relative_error);
    CHECK(error.passes(test::gradient_tolerance<TestType>));
}

TEMPLATE_TEST_CASE("Dense: fixed sizes pass the gradient check and match dynamic sizes",
                   "[dense][gradient-check]", float, double) {
    Dense<TestType, 5, 3> fixed(21);
    Dense<TestType> dynamic(5, 3, 21);
    REQUIRE(fixed.W == dynamic.W);
    REQUIRE(fixed.b == dynamic.b);

    for (int batch : {1, 10}) {
        const auto X = test::random_matrix<TestType>(batch, 5, 4);
        CHECK(backprop::gradient_check(fixed, X).passes(test::gradient_tolerance<TestType>));
        const double tolerance = test::rounding_tolerance<TestType>;
        CHECK(test::relative_difference(fixed.forward(X), dynamic.forward(X)) < tolerance);
        const auto dZ = test::random_matrix<TestType>(batch, 3, 5);
        const auto& f = fixed.backward(dZ);
        const auto& d = dynamic.backward(dZ);
        CHECK(test::relative_difference(f.dW, d.dW) < tolerance);
        CHECK(test::relative_difference(f.db, d.db) < tolerance);
        CHECK(test::relative_difference(f.dX, d.dX) < tolerance);
    }
    Dense<TestType, 1, 1> smallest;
    CHECK(backprop::gradient_check(smallest, test::random_matrix<TestType>(3, 1, 6))
              .passes(test::gradient_tolerance<TestType>));
}

TEMPLATE_TEST_CASE("Dense: backward_parameters gives backward's dW and db, and no dX",
                   "[dense]", float, double) {
    Dense<TestType> layer(4, 3, 7);
    layer.forward(test::random_matrix<TestType>(6, 4, 1));
    const auto dZ = test::random_matrix<TestType>(6, 3, 2);
    const auto full = layer.backward(dZ);
    const auto& grads = layer.backward_parameters(dZ);
    CHECK(grads.dW == full.dW);
    CHECK(grads.db == full.db);
    CHECK(grads.dX.rows() == 0);
    CHECK(grads.dX.cols() == 4);

    Dense<TestType> fresh(4, 3, 7);
    CHECK_THROWS_WITH(fresh.backward_parameters(dZ),
                      Contains("Dense::backward_parameters: called before forward()"));
    CHECK_THROWS_WITH(layer.backward_parameters(test::random_matrix<TestType>(6, 2, 3)),
                      Contains("Dense::backward_parameters: dZ is 6x2 but Z of the last forward is 6x3"));
}

TEST_CASE("Dense: initialisation", "[dense][init]") {
    SECTION("PyTorch's default: W and b uniform in ±1/√in") {
        const Dense<double> layer(64, 32, 5);
        const double bound = 1 / std::sqrt(64.0);
        CHECK(layer.W.cwiseAbs().maxCoeff() <= bound);
        CHECK(layer.b.cwiseAbs().maxCoeff() <= bound);
        CHECK(layer.W.cwiseAbs().maxCoeff() > 0.9 * bound);  // it spans the range
        CHECK(std::abs(layer.W.mean()) < 0.1 * bound);
    }
    SECTION("the notebook's: uniform in [0, 1)") {
        const Dense<float> layer(64, 32, 5, Init::unit_uniform);
        CHECK(layer.W.minCoeff() >= 0);
        CHECK(layer.W.maxCoeff() < 1);
        CHECK(layer.W.mean() == Approx(0.5).margin(0.05));
    }
    SECTION("a seed gives the same numbers on every platform") {
        // SplitMix64 from seed 42; these values pin the generator and its mapping to [0, 1).
        const Dense<double> layer(2, 2, 42, Init::unit_uniform);
        const Dense<double> again(2, 2, 42, Init::unit_uniform);
        const Dense<double> other(2, 2, 43, Init::unit_uniform);
        CHECK(layer.W == again.W);
        CHECK(layer.b == again.b);
        CHECK(layer.W != other.W);
        CHECK(layer.W(0, 0) == 0x1.7bae644c5fd6dp-1);
        CHECK(layer.b(0, 1) == 0x1.bc8863f47901bp-1);
    }
    SECTION("float and double draw the same numbers, to float precision") {
        const Dense<float> f(8, 4, 3);
        const Dense<double> d(8, 4, 3);
        CHECK((f.W.cast<double>() - d.W).cwiseAbs().maxCoeff() < 1e-6);
    }
}

TEST_CASE("Dense: bad sizes at construction", "[dense][bad-input]") {
    CHECK_THROWS_WITH(Dense<double>(0, 3), Contains("Dense") && Contains("in is 0"));
    CHECK_THROWS_WITH(Dense<double>(3, -1), Contains("out is -1"));
    CHECK_THROWS_WITH((Dense<double, 5, 3>(4, 3)), Contains("in is 4 but must be 5"));
}

TEMPLATE_TEST_CASE("Dense: bad input throws and changes nothing", "[dense][bad-input]", float,
                   double) {
    Dense<TestType> layer(5, 2, 1);

    SECTION("backward before forward") {
        CHECK_THROWS_AS(layer.backward(test::random_matrix<TestType>(3, 2, 1)), std::logic_error);
        CHECK_THROWS_WITH(layer.backward(test::random_matrix<TestType>(3, 2, 1)),
                          Contains("Dense::backward") && Contains("before forward"));
    }

    const auto X = test::random_matrix<TestType>(3, 5, 2);
    const auto dZ = test::random_matrix<TestType>(3, 2, 3);
    const auto Z = layer.forward(X).eval();
    const auto grads = layer.backward(dZ);
    const auto W = layer.W;
    const auto b = layer.b;
    auto unchanged = [&] {
        CHECK(layer.W == W);
        CHECK(layer.b == b);
        const auto again = layer.backward(dZ);  // still the state of the last good forward
        CHECK(again.dW == grads.dW);
        CHECK(again.db == grads.db);
        CHECK(again.dX == grads.dX);
    };

    SECTION("forward with the wrong number of inputs") {
        const auto wrong = test::random_matrix<TestType>(10, 4, 4);
        CHECK_THROWS_AS(layer.forward(wrong), std::invalid_argument);
        CHECK_THROWS_WITH(layer.forward(wrong),
                          Contains("Dense::forward: X is 10x4") && Contains("5 inputs"));
        unchanged();
    }
    SECTION("forward with an empty batch") {
        CHECK_THROWS_WITH(layer.forward(test::random_matrix<TestType>(0, 5, 4)),
                          Contains("Dense::forward: X is 0x5"));
        unchanged();
    }
    SECTION("backward with dZ of the wrong shape") {
        for (auto [rows, cols] : {std::pair{3, 3}, std::pair{4, 2}}) {
            const auto wrong = test::random_matrix<TestType>(rows, cols, 5);
            CHECK_THROWS_AS(layer.backward(wrong), std::invalid_argument);
            CHECK_THROWS_WITH(layer.backward(wrong),
                              Contains("Dense::backward: dZ is " + std::to_string(rows) + "x" +
                                       std::to_string(cols)) &&
                                  Contains("3x2"));
        }
        unchanged();
    }
    CHECK(layer.forward(X) == Z);
}

TEMPLATE_TEST_CASE("Dense: predict() is forward() keeping nothing", "[dense][inference]", float,
                   double) {
    Dense<TestType> layer(5, 3, 1);
    const auto X = test::random_matrix<TestType>(4, 5, 2);
    const auto other = test::random_matrix<TestType>(4, 5, 3);
    const auto dZ = test::random_matrix<TestType>(4, 3, 4);
    const auto Z = layer.forward(X).eval();
    CHECK(layer.predict(other) == Dense<TestType>(5, 3, 1).forward(other));
    typename Dense<TestType>::Output buffer;
    layer.predict(X, buffer);
    CHECK(buffer == Z);
    const void* data = buffer.data();
    layer.predict(other, buffer);  // the same shape: the buffer is reused
    CHECK(buffer.data() == data);
    const auto grads = layer.backward(dZ);  // of X, not of `other`
    Dense<TestType> reference(5, 3, 1);
    reference.forward(X);
    CHECK(grads.dW == reference.backward(dZ).dW);
    CHECK_THROWS_WITH(layer.predict(test::random_matrix<TestType>(4, 6, 5)),
                      Contains("Dense::predict: X is 4x6") && Contains("5 inputs"));
}

TEMPLATE_TEST_CASE("Dense: backward with dZ stored in the layer's own dX", "[dense][aliasing]",
                   float, double) {
    // Possible only when in == out: feeding a layer its own input gradient.
    Dense<TestType> layer(3, 3, 1);
    const auto X = test::random_matrix<TestType>(4, 3, 2);
    layer.forward(X);
    layer.backward(test::random_matrix<TestType>(4, 3, 3));
    const auto dZ = layer.gradients().dX.eval();
    Dense<TestType> reference(3, 3, 1);
    reference.forward(X);
    const auto expected = reference.backward(dZ);

    const auto& grads = layer.backward(layer.gradients().dX);
    CHECK(test::relative_difference(grads.dX, expected.dX) < test::rounding_tolerance<TestType>);
    CHECK(test::relative_difference(grads.dW, expected.dW) < test::rounding_tolerance<TestType>);
    CHECK(test::relative_difference(grads.db, expected.db) < test::rounding_tolerance<TestType>);
}

TEST_CASE("Dense: accumulated gradients of two batches are the gradients of their union",
          "[dense][accumulate]") {
    Dense<double> layer(5, 3, 1);
    const auto X = test::random_matrix<double>(7, 5, 2);
    const auto dZ = test::random_matrix<double>(7, 3, 3);
    layer.forward(X);
    const auto whole = layer.backward(dZ);

    Dense<double> parts(5, 3, 1);
    CHECK(!parts.has_gradients());
    parts.forward(X.topRows(4));
    parts.backward(dZ.topRows(4), backprop::GradientMode::accumulate);  // nothing held: replaces
    CHECK(parts.has_gradients());
    parts.forward(X.bottomRows(3));
    const auto& sum = parts.backward(dZ.bottomRows(3), backprop::GradientMode::accumulate);
    CHECK(test::relative_difference(sum.dW, whole.dW) < 1e-14);
    CHECK(test::relative_difference(sum.db, whole.db) < 1e-14);
    CHECK(sum.dX.rows() == 3);  // dX is always this batch's

    parts.clear_gradients();
    CHECK(!parts.has_gradients());
    CHECK(parts.gradients().dW.isZero());
    parts.backward(dZ.bottomRows(3), backprop::GradientMode::accumulate);
    const Eigen::MatrixXd expected = X.bottomRows(3).transpose() * dZ.bottomRows(3);
    CHECK(test::relative_difference(parts.gradients().dW, expected) < 1e-14);
}
