// Tests of data/synthetic.hpp.
#include <backprop/data/synthetic.hpp>

#include <catch2/catch.hpp>

using Catch::Matchers::Contains;

TEMPLATE_TEST_CASE("make_notebook_dataset: y = x·w + 0.43 on uniform inputs", "[data]", float,
                   double) {
    const auto data = backprop::make_notebook_dataset<TestType>();
    REQUIRE(data.X.rows() == 10);
    REQUIRE(data.X.cols() == 5);
    REQUIRE(data.y.rows() == 10);
    REQUIRE(data.y.cols() == 1);
    CHECK(data.X.minCoeff() >= 0);
    CHECK(data.X.maxCoeff() < 1);
    for (Eigen::Index i = 0; i < 10; ++i) {
        const auto x = data.X.row(i);
        const double y = 0.8 * x(0) + 0.3 * x(1) + 0.75 * x(2) + 0.5 * x(3) + 0.2 * x(4) + 0.43;
        CHECK(data.y(i, 0) == Approx(y).epsilon(1e-6));
    }
}

TEST_CASE("make_linear_dataset: a seed gives the same data, another seed other data", "[data]") {
    const Eigen::Vector2d w(1, -1);
    const auto a = backprop::make_linear_dataset(50, w, 0.0, 7);
    const auto b = backprop::make_linear_dataset(50, w, 0.0, 7);
    const auto c = backprop::make_linear_dataset(50, w, 0.0, 8);
    CHECK(a.X == b.X);
    CHECK(a.y == b.y);
    CHECK(a.X != c.X);
}

TEST_CASE("make_linear_dataset: bad sizes", "[data][bad-input]") {
    CHECK_THROWS_WITH(backprop::make_linear_dataset(0, Eigen::Vector2d(1, 1), 0.0, 1),
                      Contains("make_linear_dataset: n is 0"));
    CHECK_THROWS_WITH(backprop::make_linear_dataset(5, Eigen::MatrixXd(2, 2), 0.0, 1),
                      Contains("w_true is 2x2"));
}
