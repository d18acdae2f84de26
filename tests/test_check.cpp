// Tests of check/numeric.hpp and check/gradient_check.hpp: the finite differences that every
// hand-written gradient is checked against must themselves be right.
#include <backprop/check/gradient_check.hpp>
#include <backprop/check/numeric.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using backprop::Difference;
using Catch::Matchers::Contains;

TEMPLATE_TEST_CASE("numeric_derivative of the notebook's 3x is 3", "[check]", float, double) {
    auto f = [](TestType x) { return 3 * x; };
    CHECK(backprop::numeric_derivative(f, TestType(4)) == Approx(3).epsilon(1e-3));
    CHECK(backprop::numeric_derivative(f, TestType(4), TestType(0.001), Difference::forward) ==
          Approx(3).epsilon(1e-3));
}

TEST_CASE("numeric_derivative: the central difference's error falls as h², the forward one's as h",
          "[check]") {
    auto cube = [](double x) { return x * x * x; };  // f'(2) = 12, f''(2) = 12, f'''= 6
    for (double h : {1e-2, 1e-3}) {
        const double central = backprop::numeric_derivative(cube, 2.0, h);
        const double forward = backprop::numeric_derivative(cube, 2.0, h, Difference::forward);
        CHECK(central - 12 == Approx(h * h).epsilon(1e-4));     // exactly h²·f'''/6 for a cubic
        CHECK(forward - 12 == Approx(6 * h + h * h).epsilon(1e-4));  // h·f''/2 + h²·f'''/6
    }
}

TEMPLATE_TEST_CASE("numeric_derivative rejects a step that is not finite and positive", "[check]",
                   float, double) {
    auto f = [](TestType x) { return x; };
    for (TestType h : {TestType(0), TestType(-1), std::numeric_limits<TestType>::quiet_NaN(),
                       std::numeric_limits<TestType>::infinity()}) {
        CHECK_THROWS_WITH(backprop::numeric_derivative(f, TestType(1), h),
                          Contains("numeric_derivative") && Contains("h is"));
    }
}

TEMPLATE_TEST_CASE("numeric_jacobian of elementwise x² is diag(2x)", "[check]", float, double) {
    using Vector = Eigen::Matrix<TestType, Eigen::Dynamic, 1>;
    Vector x(5);
    x << TestType(0.32), TestType(0.88), TestType(0.16), TestType(-0.27), TestType(0.96);
    auto square = [](const Vector& v) { return Vector(v.array().square()); };

    const auto J = backprop::numeric_jacobian(square, x);
    REQUIRE(J.rows() == 5);
    REQUIRE(J.cols() == 5);
    const Eigen::MatrixXd expected = (2 * x).template cast<double>().asDiagonal();
    CHECK((J.template cast<double>() - expected).cwiseAbs().maxCoeff() < 1e-3);
}

TEST_CASE("numeric_jacobian of a linear map A·x is A, for m ≠ n", "[check]") {
    Eigen::MatrixXd A(2, 3);
    A << 1, -2, 3, 0.5, 4, -1;
    const Eigen::VectorXd x = Eigen::Vector3d(0.1, 0.2, 0.3);
    const Eigen::MatrixXd J =
        backprop::numeric_jacobian([&](const Eigen::VectorXd& v) { return Eigen::VectorXd(A * v); }, x);
    REQUIRE(J.rows() == 2);
    REQUIRE(J.cols() == 3);
    CHECK((J - A).cwiseAbs().maxCoeff() < 1e-9);
}

TEST_CASE("numeric_jacobian rejects bad input", "[check][bad-input]") {
    auto identity = [](const Eigen::VectorXd& v) { return v; };
    CHECK_THROWS_AS(backprop::numeric_jacobian(identity, Eigen::MatrixXd(2, 2)), std::invalid_argument);
    CHECK_THROWS_WITH(backprop::numeric_jacobian(identity, Eigen::MatrixXd(2, 2)),
                      Contains("numeric_jacobian") && Contains("2x2"));
    CHECK_THROWS_WITH(backprop::numeric_jacobian(identity, Eigen::VectorXd(0)), Contains("0x1"));
    CHECK_THROWS_WITH(backprop::numeric_jacobian(identity, Eigen::VectorXd::Ones(2), 0.0),
                      Contains("h is 0"));
    auto growing = [](const Eigen::VectorXd& v) { return Eigen::VectorXd(Eigen::VectorXd::Ones(v(0) > 1 ? 3 : 2)); };
    CHECK_THROWS_WITH(backprop::numeric_jacobian(growing, Eigen::VectorXd::Ones(2)),
                      Contains("f(x) has 2 elements"));
}

TEST_CASE("check_gradient finds a wrong gradient and refuses two zero ones", "[check]") {
    auto loss = [](const Eigen::MatrixXd& x) { return x.squaredNorm(); };  // gradient 2x
    Eigen::MatrixXd x(2, 2);
    x << 1, -2, 0.5, 3;

    const auto right = backprop::check_gradient(loss, x, 2 * x);
    CHECK(right.passes(1e-7));
    CHECK(right.max_abs_analytic == 6);

    Eigen::MatrixXd wrong = 2 * x;
    wrong(1, 0) = 0.9;  // should be 1
    const auto error = backprop::check_gradient(loss, x, wrong);
    CHECK_FALSE(error.passes(1e-2));
    CHECK(error.row == 1);
    CHECK(error.col == 0);
    CHECK(error.max_relative_error == Approx(0.1).epsilon(1e-6));

    auto constant = [](const Eigen::MatrixXd&) { return 1.0; };
    const auto zeros = backprop::check_gradient(constant, x, Eigen::MatrixXd::Zero(2, 2));
    CHECK(zeros.max_relative_error == 0);
    CHECK_FALSE(zeros.passes(1e-7));
}

TEST_CASE("check_gradient rejects mismatched shapes", "[check][bad-input]") {
    auto loss = [](const Eigen::MatrixXd& x) { return x.sum(); };
    CHECK_THROWS_WITH(backprop::check_gradient(loss, Eigen::MatrixXd::Ones(2, 3), Eigen::MatrixXd::Ones(3, 2)),
                      Contains("check_gradient") && Contains("3x2") && Contains("2x3"));
}
