// Tests of layers/activations.hpp: ReLU, LeakyReLU, Sigmoid and Tanh.
#include "helpers.hpp"
#include "reference/pytorch_reference_nonlinear.hpp"

#include <backprop/check/gradient_check.hpp>
#include <backprop/layers/activations.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

using backprop::LeakyReLU;
using backprop::ReLU;
using backprop::Sigmoid;
using backprop::Tanh;
using Catch::Matchers::Contains;

namespace {

/// X uniform in [−2, 2) with no element within 1e-3 of the ReLUs' kink at 0, where the central
/// difference straddles it.
template <typename Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> away_from_kink(Eigen::Index rows,
                                                                     Eigen::Index cols,
                                                                     std::uint64_t seed) {
    auto X = test::random_matrix<Scalar>(rows, cols, seed);
    for (Eigen::Index i = 0; i < X.size(); ++i) {
        Scalar& x = X.data()[i];
        x = 2 * x + (x < 0 ? Scalar(-1e-3) : Scalar(1e-3));
    }
    return X;
}

template <typename Activation>
void check_gradient_on_shapes(const Activation& activation, double tolerance) {
    for (auto [batch, cols] : {std::pair{2, 3}, std::pair{3, 5}, std::pair{16, 8}}) {
        CAPTURE(batch, cols);
        using Scalar = typename Activation::Matrix::Scalar;
        const auto error = backprop::gradient_check(activation, away_from_kink<Scalar>(batch, cols, 7));
        CAPTURE(error.max_relative_error);
        CHECK(error.passes(tolerance));
    }
}

}  // namespace

TEMPLATE_TEST_CASE("Activations: values computed by hand", "[activations]", float, double) {
    using T = TestType;
    Eigen::Matrix<T, 2, 3> X;
    X << -2, 0, 3,
         0.5, -0.25, 1;
    Eigen::Matrix<T, 2, 3> dY;
    dY << 1, 2, 3,
          4, 5, 6;

    SECTION("ReLU: max(x, 0), derivative [x > 0] (0 at the kink, as PyTorch)") {
        ReLU<T> relu;
        Eigen::Matrix<T, 2, 3> Y, dX;
        Y << 0, 0, 3,
             0.5, 0, 1;
        dX << 0, 0, 3,
              4, 0, 6;
        CHECK(relu.forward(X) == Y);
        CHECK(relu.output() == Y);
        CHECK(relu.backward(dY).dX == dX);
    }
    SECTION("LeakyReLU: slope·x below 0, derivative slope there (and at the kink)") {
        LeakyReLU<T> leaky(T(0.5));
        CHECK(leaky.slope() == T(0.5));
        Eigen::Matrix<T, 2, 3> Y, dX;
        Y << -1, 0, 3,
             0.5, -0.125, 1;
        dX << 0.5, 1, 3,
              4, 2.5, 6;
        CHECK(leaky.forward(X) == Y);
        CHECK(leaky.backward(dY).dX == dX);
        CHECK(LeakyReLU<T>().slope() == T(0.01));
    }
    SECTION("Sigmoid: σ(0) = 1/2, σ'(0) = 1/4; σ(−x) = 1 − σ(x)") {
        Sigmoid<T> sigmoid;
        const auto& Y = sigmoid.forward(X);
        CHECK(Y(0, 1) == T(0.5));
        const T y00 = Y(0, 0);
        CHECK(y00 == Approx(1 / (1 + std::exp(2.0))));
        CHECK(y00 + sigmoid.forward(-X)(0, 0) == Approx(1));
        sigmoid.forward(X);
        CHECK(sigmoid.backward(dY).dX(0, 1) == T(2 * 0.25));
        const T y = sigmoid.output()(1, 2);
        CHECK(sigmoid.backward(dY).dX(1, 2) == Approx(6 * y * (1 - y)));
    }
    SECTION("Tanh: tanh(0) = 0, tanh'(0) = 1; derivative 1 − y²") {
        Tanh<T> tanh;
        const auto& Y = tanh.forward(X);
        CHECK(Y(0, 1) == T(0));
        CHECK(Y(1, 2) == Approx(std::tanh(1.0)));
        CHECK(tanh.backward(dY).dX(0, 1) == T(2));
        CHECK(tanh.backward(dY).dX(1, 2) == Approx(6 * (1 - std::tanh(1.0) * std::tanh(1.0))));
    }
}

TEMPLATE_TEST_CASE("Activations: the gradient check passes", "[activations][gradient-check]", float,
                   double) {
    const double tolerance = test::gradient_tolerance<TestType>;
    check_gradient_on_shapes(ReLU<TestType>(), tolerance);
    check_gradient_on_shapes(LeakyReLU<TestType>(), tolerance);
    check_gradient_on_shapes(LeakyReLU<TestType>(TestType(0.3)), tolerance);
    check_gradient_on_shapes(Sigmoid<TestType>(), tolerance);
    check_gradient_on_shapes(Tanh<TestType>(), tolerance);
}

TEMPLATE_TEST_CASE("Activations: fixed width matches the dynamic width", "[activations]", float,
                   double) {
    Tanh<TestType, 3> fixed;
    Tanh<TestType> dynamic;
    const auto X = test::random_matrix<TestType>(4, 3, 1);
    const auto dY = test::random_matrix<TestType>(4, 3, 2);
    CHECK(fixed.forward(X) == dynamic.forward(X));
    CHECK(fixed.backward(dY).dX == dynamic.backward(dY).dX);
    CHECK(backprop::gradient_check(fixed, X).passes(test::gradient_tolerance<TestType>));
    CHECK_THROWS_WITH(fixed.forward(test::random_matrix<TestType>(4, 2, 3)),
                      Contains("Tanh::forward: X is 4x2") && Contains("width 3"));
}

TEST_CASE("Activations: saturation gives limits, not NaN", "[activations]") {
    for (double x : {-1000.0, 1000.0}) {
        Eigen::MatrixXd X = Eigen::MatrixXd::Constant(1, 1, x);
        Eigen::MatrixXd dY = Eigen::MatrixXd::Ones(1, 1);
        Sigmoid<double> sigmoid;
        CHECK(sigmoid.forward(X)(0, 0) == (x > 0 ? 1.0 : 0.0));
        CHECK(sigmoid.backward(dY).dX(0, 0) == 0.0);
        Sigmoid<float> sigmoid_f;
        CHECK(sigmoid_f.forward(X.cast<float>())(0, 0) == (x > 0 ? 1.0f : 0.0f));
        CHECK(sigmoid_f.backward(dY.cast<float>()).dX(0, 0) == 0.0f);
        Tanh<double> tanh;
        CHECK(tanh.forward(X)(0, 0) == (x > 0 ? 1.0 : -1.0));
        CHECK(tanh.backward(dY).dX(0, 0) == 0.0);
    }
}

TEST_CASE("Activations: PyTorch's values and gradients, to 1e-12", "[activations][pytorch]") {
    const Eigen::MatrixXd X = test::from_rows(reference::activation_X, 5, 4);
    const Eigen::MatrixXd G = test::from_rows(reference::activation_G, 5, 4);
    auto check = [&](auto activation, const reference::ActivationCase& expected) {
        CAPTURE(expected.name);
        CHECK(test::relative_difference(activation.forward(X), test::from_rows(expected.Y, 5, 4)) < 1e-12);
        CHECK(test::relative_difference(activation.backward(G).dX, test::from_rows(expected.dX, 5, 4)) < 1e-12);
    };
    const auto& cases = reference::activation_cases;
    REQUIRE(cases.size() == 5);
    check(ReLU<double>(), cases[0]);
    check(LeakyReLU<double>(0.01), cases[1]);
    check(LeakyReLU<double>(0.2), cases[2]);
    check(Sigmoid<double>(), cases[3]);
    check(Tanh<double>(), cases[4]);
}

TEMPLATE_TEST_CASE("Activations: bad input throws and changes nothing", "[activations][bad-input]",
                   float, double) {
    auto check_one = [](auto activation, const std::string& name) {
        CAPTURE(name);
        const auto dY = test::random_matrix<TestType>(3, 2, 1);
        CHECK_THROWS_AS(activation.backward(dY), std::logic_error);
        CHECK_THROWS_WITH(activation.backward(dY),
                          Contains(name + "::backward") && Contains("before forward"));

        const auto X = test::random_matrix<TestType>(3, 2, 2);
        const auto Y = activation.forward(X).eval();
        const auto dX = activation.backward(dY).dX.eval();
        auto unchanged = [&] {
            CHECK(activation.output() == Y);
            CHECK(activation.backward(dY).dX == dX);
        };
        CHECK_THROWS_AS(activation.forward(test::random_matrix<TestType>(0, 2, 3)),
                        std::invalid_argument);
        CHECK_THROWS_WITH(activation.forward(test::random_matrix<TestType>(0, 2, 3)),
                          Contains(name + "::forward: X is 0x2"));
        unchanged();
        for (auto [rows, cols] : {std::pair{3, 3}, std::pair{2, 2}}) {
            const auto wrong = test::random_matrix<TestType>(rows, cols, 4);
            CHECK_THROWS_AS(activation.backward(wrong), std::invalid_argument);
            CHECK_THROWS_WITH(activation.backward(wrong),
                              Contains(name + "::backward: dY is " + std::to_string(rows) + "x" +
                                       std::to_string(cols)) &&
                                  Contains("Y of the last forward is 3x2"));
            unchanged();
        }
    };
    check_one(ReLU<TestType>(), "ReLU");
    check_one(LeakyReLU<TestType>(), "LeakyReLU");
    check_one(Sigmoid<TestType>(), "Sigmoid");
    check_one(Tanh<TestType>(), "Tanh");

    using limits = std::numeric_limits<TestType>;
    for (TestType slope : {TestType(-0.1), limits::quiet_NaN(), limits::infinity()}) {
        CHECK_THROWS_WITH(LeakyReLU<TestType>(slope), Contains("LeakyReLU: the slope is"));
    }
}
