// Tests of losses/mse.hpp.
#include "helpers.hpp"

#include <backprop/check/gradient_check.hpp>
#include <backprop/losses/mse.hpp>

#include <catch2/catch.hpp>

#include <cmath>

using backprop::MSE;
using Catch::Matchers::Contains;

TEMPLATE_TEST_CASE("MSE: values computed by hand", "[mse]", float, double) {
    using Matrix = Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic>;
    Matrix pred(2, 2), target(2, 2);
    pred << 1, 2,
            3, 4;
    target << 0, 0,
              3, 2;
    MSE<TestType> mse;
    CHECK(mse.forward(pred, target) == Approx((1.0 + 4 + 0 + 4) / 4));  // mean, as PyTorch
    Matrix dpred(2, 2);
    dpred << 0.5, 1,     // 2·(pred − target)/4
             0, 1;
    CHECK(mse.backward() == dpred);
}

TEMPLATE_TEST_CASE("MSE: the gradient check passes on random shapes", "[mse][gradient-check]",
                   float, double) {
    const auto [rows, cols] = GENERATE(table<int, int>({{1, 1}, {10, 1}, {1, 4}, {7, 3}}));
    CAPTURE(rows, cols);
    const auto pred = test::random_matrix<TestType>(rows, cols, 1);
    const auto target = test::random_matrix<TestType>(rows, cols, 2);
    const auto error = backprop::gradient_check(MSE<TestType>(), pred, target);
    CAPTURE(error.max_relative_error);
    CHECK(error.passes(test::gradient_tolerance<TestType>));

    using Column = Eigen::Matrix<TestType, Eigen::Dynamic, 1>;
    if (cols == 1) {  // the fixed-size column type a Dense<…, 1> layer produces
        CHECK(backprop::gradient_check(MSE<TestType, 1>(), Column(pred), Column(target))
                  .passes(test::gradient_tolerance<TestType>));
    }
}

TEST_CASE("MSE: the notebook's loss and gradient disagree, and the check says so", "[mse]") {
    // The notebook computes loss = Σ(y − z)²/(2n), whose derivative is (z − y)/n, but uses
    // dl/dz = 2·(z − y)/n: twice too large.
    const Eigen::MatrixXd pred = test::random_matrix<double>(10, 1, 3);
    const Eigen::MatrixXd target = test::random_matrix<double>(10, 1, 4);
    const double n = 10;
    auto notebook_loss = [&](const Eigen::MatrixXd& z) { return (target - z).squaredNorm() / (2 * n); };
    const Eigen::MatrixXd notebook_gradient = (pred - target) * (2 / n);

    const auto error = backprop::check_gradient(notebook_loss, pred, notebook_gradient);
    CHECK_FALSE(error.passes(1e-2));
    CHECK(error.max_relative_error == Approx(0.5).epsilon(1e-6));  // |2g − g| / |2g|

    MSE<double> mse;  // the library's pair agrees
    CHECK(backprop::gradient_check(mse, pred, target).passes(test::gradient_tolerance<double>));
}

TEMPLATE_TEST_CASE("MSE: bad input throws and changes nothing", "[mse][bad-input]", float, double) {
    MSE<TestType> mse;

    SECTION("backward before forward") {
        CHECK_THROWS_AS(mse.backward(), std::logic_error);
        CHECK_THROWS_WITH(mse.backward(), Contains("MSE::backward") && Contains("before forward"));
    }

    const auto pred = test::random_matrix<TestType>(4, 2, 1);
    const auto target = test::random_matrix<TestType>(4, 2, 2);
    const TestType loss = mse.forward(pred, target);
    const auto dpred = mse.backward();

    SECTION("pred and target of different shapes") {
        const auto wrong = test::random_matrix<TestType>(4, 3, 3);
        CHECK_THROWS_AS(mse.forward(pred, wrong), std::invalid_argument);
        CHECK_THROWS_WITH(mse.forward(pred, wrong),
                          Contains("MSE::forward: pred is 4x2 but target is 4x3"));
    }
    SECTION("an empty batch") {
        const auto empty = test::random_matrix<TestType>(0, 2, 3);
        CHECK_THROWS_WITH(mse.forward(empty, empty), Contains("MSE::forward: pred is 0x2"));
    }
    CHECK(mse.backward() == dpred);
    CHECK(mse.forward(pred, target) == loss);
}

TEST_CASE("MSE: a fixed width is checked in every build type", "[mse][bad-input]") {
    MSE<float, 1> mse;
    const Eigen::MatrixXf pred = Eigen::MatrixXf::Constant(4, 2, 10.0f);
    const Eigen::MatrixXf target = Eigen::MatrixXf::Zero(4, 2);
    CHECK_THROWS_AS(mse.forward(pred, target), std::invalid_argument);
    CHECK_THROWS_WITH(mse.forward(pred, target),
                      Contains("MSE::forward: pred is 4x2 but must be a non-empty batch of width 1"));
    CHECK_THROWS_WITH(mse.value(pred, target), Contains("MSE::value: pred is 4x2"));
}

TEST_CASE("MSE: a float loss over millions of elements is summed in double", "[mse]") {
    // 3·10⁶ errors of 0.1: a float running sum drifts by percents; the mean must be 0.01.
    const Eigen::MatrixXf pred = Eigen::MatrixXf::Constant(1'000'000, 3, 0.1f);
    const Eigen::MatrixXf target = Eigen::MatrixXf::Zero(1'000'000, 3);
    const double expected = double(0.1f) * double(0.1f);
    MSE<float> mse;
    CHECK(std::abs(mse.forward(pred, target) - expected) / expected < 1e-6);
    CHECK(std::abs(mse.value(pred, target) - expected) / expected < 1e-6);
}
