// Tests of losses/softmax_cross_entropy.hpp.
#include "helpers.hpp"
#include "reference/pytorch_reference_nonlinear.hpp"

#include <backprop/check/gradient_check.hpp>
#include <backprop/losses/softmax_cross_entropy.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

using backprop::SoftmaxCrossEntropy;
using Catch::Matchers::Contains;

namespace {

Eigen::VectorXi labels_of(std::vector<int> values) {
    return Eigen::Map<const Eigen::VectorXi>(values.data(), Eigen::Index(values.size()));
}

}  // namespace

TEMPLATE_TEST_CASE("SoftmaxCrossEntropy: values computed by hand", "[cross-entropy]", float,
                   double) {
    using T = TestType;
    SoftmaxCrossEntropy<T> loss;
    // Row 0: equal logits, p = 1/2 each, −log p = log 2. Row 1: p = (e, 1)/(e + 1) at label 1.
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> Z(2, 2);
    Z << 3, 3,
         1, 0;
    const double e = std::exp(1.0);
    const double expected = (std::log(2.0) + std::log(e + 1)) / 2;
    CHECK(loss.forward(Z, labels_of({0, 1})) == Approx(expected));
    CHECK(loss.probabilities()(0, 0) == Approx(0.5));
    CHECK(loss.probabilities()(1, 0) == Approx(e / (e + 1)));
    CHECK(loss.probabilities().rowwise().sum().isOnes(1e-6));

    const auto& dZ = loss.backward();  // (p − onehot)/2
    CHECK(dZ(0, 0) == Approx((0.5 - 1) / 2));
    CHECK(dZ(0, 1) == Approx(0.5 / 2));
    CHECK(dZ(1, 0) == Approx(e / (e + 1) / 2));
    CHECK(dZ(1, 1) == Approx((1 / (e + 1) - 1) / 2));
    CHECK(std::abs(dZ.sum()) < 1e-6);  // each row of p − onehot sums to 0

    SECTION("labels of other integer types, as a row vector or a mapped std::vector") {
        const Eigen::Matrix<std::int64_t, 1, 2> row{0, 1};
        CHECK(loss.forward(Z, row) == Approx(expected));
        std::vector<int> values{0, 1};
        CHECK(loss.forward(Z, Eigen::Map<const Eigen::VectorXi>(values.data(), 2)) == Approx(expected));
    }
}

TEMPLATE_TEST_CASE("SoftmaxCrossEntropy: the gradient check passes", "[cross-entropy][gradient-check]",
                   float, double) {
    const auto [batch, classes] =
        GENERATE(table<int, int>({{1, 1}, {1, 3}, {5, 4}, {32, 10}, {7, 2}}));
    CAPTURE(batch, classes);
    auto logits = test::random_matrix<TestType>(batch, classes, 3);
    logits *= TestType(2);  // larger logits make p tiny, below the difference's resolution
    Eigen::VectorXi labels(batch);
    for (int i = 0; i < batch; ++i) {
        labels(i) = (3 * i + 1) % classes;
    }
    const auto error = backprop::gradient_check(SoftmaxCrossEntropy<TestType>(), logits, labels);
    CAPTURE(error.max_relative_error);
    if (classes == 1) {
        // One class: p = 1, the loss is 0 whatever the logits and so is its gradient.
        CHECK(error.max_abs_analytic == 0);
        CHECK(error.max_abs_numeric == 0);
    } else {
        CHECK(error.passes(test::gradient_tolerance<TestType>));
    }
}

TEST_CASE("SoftmaxCrossEntropy: PyTorch's CrossEntropyLoss and its gradient, to 1e-12",
          "[cross-entropy][pytorch]") {
    REQUIRE(reference::cross_entropy_cases.size() == 3);
    for (const auto& c : reference::cross_entropy_cases) {
        CAPTURE(c.batch, c.classes);
        SoftmaxCrossEntropy<double> loss;
        const Eigen::MatrixXd logits = test::from_rows(c.logits, c.batch, c.classes);
        CHECK(loss.forward(logits, labels_of(c.labels)) == Approx(c.loss).epsilon(1e-12));
        CHECK(test::relative_difference(loss.backward(), test::from_rows(c.dlogits, c.batch, c.classes)) <
              1e-12);
    }
}

TEMPLATE_TEST_CASE("SoftmaxCrossEntropy: logits of ±1000 give a finite loss and gradient",
                   "[cross-entropy]", float, double) {
    using T = TestType;
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> Z(3, 3);
    Z << 1000, -1000, 0,
         -1000, 1000, 1000,
         -1000, -1000, -1000;
    SoftmaxCrossEntropy<T, 3> loss;
    const T value = loss.forward(Z, labels_of({1, 0, 2}));
    // Row 0: 2000 + log(1 + e⁻¹⁰⁰⁰ + e⁻²⁰⁰⁰); row 1: 2000 + log 2; row 2: log 3.
    CHECK(std::isfinite(value));
    CHECK(value == Approx((4000 + std::log(2.0) + std::log(3.0)) / 3));
    const auto& dZ = loss.backward();
    CHECK(dZ.allFinite());
    CHECK(dZ(0, 0) == Approx(1.0 / 3));
    CHECK(dZ(0, 1) == Approx(-1.0 / 3));
    CHECK(dZ(1, 1) == Approx(0.5 / 3));
    CHECK(dZ(2, 2) == Approx((1.0 / 3 - 1) / 3));
}

TEMPLATE_TEST_CASE("SoftmaxCrossEntropy: bad input throws and changes nothing",
                   "[cross-entropy][bad-input]", float, double) {
    SoftmaxCrossEntropy<TestType> loss;
    CHECK_THROWS_AS(loss.backward(), std::logic_error);
    CHECK_THROWS_WITH(loss.backward(),
                      Contains("SoftmaxCrossEntropy::backward") && Contains("before forward"));

    const auto Z = test::random_matrix<TestType>(4, 3, 1);
    const TestType value = loss.forward(Z, labels_of({0, 2, 1, 2}));
    const auto dZ = loss.backward().eval();
    const auto p = loss.probabilities().eval();
    auto unchanged = [&] {
        CHECK(loss.probabilities() == p);
        CHECK(loss.backward() == dZ);
    };

    SECTION("a label out of range") {
        CHECK_THROWS_AS(loss.forward(Z, labels_of({0, 2, 3, 1})), std::invalid_argument);
        CHECK_THROWS_WITH(loss.forward(Z, labels_of({0, 2, 3, 1})),
                          Contains("SoftmaxCrossEntropy::forward: label 3 of row 2 is outside [0, 3)"));
        unchanged();
    }
    SECTION("a negative label") {
        CHECK_THROWS_WITH(loss.forward(Z, labels_of({0, -1, 1, 1})),
                          Contains("label -1 of row 1 is outside [0, 3)"));
        unchanged();
    }
    SECTION("a label of an unsigned type beyond int") {
        const Eigen::Matrix<std::uint64_t, 4, 1> big(0, 1, 1ULL << 40, 2);
        CHECK_THROWS_WITH(loss.forward(Z, big), Contains("of row 2 is outside [0, 3)"));
        unchanged();
    }
    SECTION("the wrong number of labels") {
        CHECK_THROWS_AS(loss.forward(Z, labels_of({0, 1, 2})), std::invalid_argument);
        CHECK_THROWS_WITH(loss.forward(Z, labels_of({0, 1, 2})),
                          Contains("SoftmaxCrossEntropy::forward: there are 3 labels") &&
                              Contains("logits are 4x3"));
        unchanged();
    }
    SECTION("empty logits") {
        CHECK_THROWS_WITH(loss.forward(test::random_matrix<TestType>(0, 3, 2), labels_of({})),
                          Contains("SoftmaxCrossEntropy::forward: logits are 0x3"));
        unchanged();
    }
    SECTION("logits of another width than a fixed Cols") {
        SoftmaxCrossEntropy<TestType, 4> fixed;
        CHECK_THROWS_WITH(fixed.forward(Z, labels_of({0, 0, 0, 0})),
                          Contains("logits are 4x3") && Contains("width 4"));
    }
    CHECK(loss.forward(Z, labels_of({0, 2, 1, 2})) == value);
}

TEST_CASE("SoftmaxCrossEntropy: a float loss over millions of rows is summed in double",
          "[cross-entropy]") {
    // 2·10⁶ rows of equal logits: each row's loss is log 2, and so is the mean.
    const Eigen::MatrixXf logits = Eigen::MatrixXf::Zero(2'000'000, 2);
    const Eigen::VectorXi labels = Eigen::VectorXi::Zero(2'000'000);
    SoftmaxCrossEntropy<float> loss;
    const double expected = std::log(2.0);
    CHECK(std::abs(loss.forward(logits, labels) - expected) / expected < 1e-6);
    CHECK(std::abs(loss.value(logits, labels) - expected) / expected < 1e-6);
}

TEMPLATE_TEST_CASE("SoftmaxCrossEntropy: value() is forward() keeping nothing",
                   "[cross-entropy][inference]", float, double) {
    const auto logits = test::random_matrix<TestType>(5, 4, 1);
    const auto other = test::random_matrix<TestType>(5, 4, 2);
    Eigen::VectorXi labels(5);
    labels << 0, 3, 1, 2, 3;
    SoftmaxCrossEntropy<TestType> loss;
    const TestType forward = loss.forward(logits, labels);
    const auto dZ = loss.backward().eval();
    CHECK(loss.value(logits, labels) == Approx(forward).epsilon(1e-6));
    CHECK(loss.value(other, labels) == Approx(SoftmaxCrossEntropy<TestType>().forward(other, labels)).epsilon(1e-6));
    CHECK(loss.backward() == dZ);  // still the gradient of the last forward()
    CHECK_THROWS_WITH(loss.value(logits, Eigen::VectorXi::Zero(4)),
                      Contains("SoftmaxCrossEntropy::value: there are 4 labels"));
}
