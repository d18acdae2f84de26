// Tests of layers/pooling.hpp: MaxPool2D and AvgPool2D.
#include "helpers.hpp"
#include "layer_gradient_check.hpp"
#include "reference/pytorch_reference_norm.hpp"

#include <backprop/layers/pooling.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

using backprop::AvgPool2D;
using backprop::MaxPool2D;
using Catch::Matchers::Contains;

namespace {

/// One image geometry of the gradient checks.
struct Geometry {
    Eigen::Index batch, channels, height, width, kernel, stride;
};

// Batch 1; non-square images; channels > 1; stride < kernel (overlapping windows), = kernel and
// > kernel (gaps); a remainder of rows or columns that no window reaches (floored).
const std::vector<Geometry> geometries = {
    {1, 2, 6, 7, 3, 2},  // (6 − 3) = 3 rows: the last one is floored away
    {3, 3, 4, 6, 2, 1},  // overlapping windows: one input can win several
    {2, 2, 7, 5, 2, 3},  // gaps between windows, and 2 rows floored away
    {2, 1, 4, 4, 2, 2},  // the default: stride = kernel
};

/// (batch, C·H·W) of X, row-major per sample in NCHW order.
template <typename T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> one_image(const std::vector<double>& values) {
    return test::from_rows(values, 1, static_cast<Eigen::Index>(values.size())).cast<T>();
}

}  // namespace

TEMPLATE_TEST_CASE("Pooling: values computed by hand", "[pooling]", float, double) {
    using T = TestType;
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    // One channel of 3x4 (height x width), k = s = 2: OH = ⌊(3 − 2)/2⌋ + 1 = 1, OW = 2, and the
    // last row, which no window reaches, is floored away (its 9s neither pool nor get gradient).
    // The second sample is the first negated, so its maxima are elsewhere.
    const std::vector<double> image = {1, 5, 2, 0,
                                       3, 4, -1, 6,
                                       9, 9, 9, 9};
    Matrix X(2, 12);
    X.row(0) = one_image<T>(image);
    X.row(1) = -X.row(0);
    Matrix dY(2, 2);
    dY << 2, 3,
          4, 5;

    SECTION("MaxPool2D: the window's maximum; the gradient routed to it") {
        MaxPool2D<T> pool(1, 3, 4, 2);
        REQUIRE(pool.out_height() == 1);
        REQUIRE(pool.out_width() == 2);
        Matrix Y(2, 2), dX = Matrix::Zero(2, 12);
        Y << 5, 6,
             -1, 1;
        dX(0, 1) = 2;  // 5 at (0, 1)
        dX(0, 7) = 3;  // 6 at (1, 3)
        dX(1, 0) = 4;  // −1 at (0, 0)
        dX(1, 6) = 5;  // 1 at (1, 2)
        CHECK(pool.forward(X) == Y);
        CHECK(pool.backward(dY).dX == dX);
        CHECK(pool.gradients().dX == dX);
    }
    SECTION("AvgPool2D: the window's mean; the gradient spread evenly over it") {
        AvgPool2D<T> pool(1, 3, 4, 2, 2);
        Matrix Y(2, 2);
        Y << T(3.25), T(1.75),
             T(-3.25), T(-1.75);
        CHECK(pool.forward(X) == Y);
        Matrix dX = Matrix::Zero(2, 12);
        for (Eigen::Index i : {0, 1, 4, 5}) dX.col(i) << T(0.5), T(1);      // dY / 4
        for (Eigen::Index i : {2, 3, 6, 7}) dX.col(i) << T(0.75), T(1.25);  // dY / 4
        CHECK(pool.backward(dY).dX == dX);
    }
    SECTION("MaxPool2D: a tie goes to the first maximum in row-major order") {
        MaxPool2D<T> pool(1, 2, 2, 2);
        const Matrix tied = Matrix::Constant(1, 4, T(2));
        CHECK(pool.forward(tied)(0, 0) == T(2));
        Matrix expected = Matrix::Zero(1, 4);
        expected(0, 0) = 1;
        CHECK(pool.backward(Matrix::Ones(1, 1)).dX == expected);
    }
    SECTION("overlapping windows add their gradients") {
        // A 2x3 image, k = 2, s = 1: the middle column is in both windows.
        MaxPool2D<T> max(1, 2, 3, 2, 1);
        AvgPool2D<T> avg(1, 2, 3, 2, 1);
        Matrix x(1, 6);
        x << 0, 7, 0,
             0, 0, 0;
        Matrix g(1, 2);
        g << 1, 2;
        max.forward(x);
        CHECK(max.backward(g).dX(0, 1) == T(3));  // 7 wins both windows
        avg.forward(x);
        Matrix expected(1, 6);
        expected << T(0.25), T(0.75), T(0.5),
                    T(0.25), T(0.75), T(0.5);
        CHECK(avg.backward(g).dX == expected);
    }
}

TEMPLATE_TEST_CASE("Pooling: shapes and settings", "[pooling]", float, double) {
    using T = TestType;
    MaxPool2D<T> pool(3, 5, 7, 3, 2);
    CHECK(pool.in() == 3 * 5 * 7);
    CHECK(pool.out_height() == 2);  // ⌊(5 − 3)/2⌋ + 1
    CHECK(pool.out_width() == 3);   // ⌊(7 − 3)/2⌋ + 1
    CHECK(pool.out() == 3 * 2 * 3);
    CHECK(AvgPool2D<T>(2, 6, 4, 2).stride() == 2);  // PyTorch's default stride: the kernel
    std::string settings;
    pool.for_each_setting([&](const char* name, double value) {
        settings += std::string(name) + "=" + std::to_string(static_cast<int>(value)) + " ";
    });
    CHECK(settings == "channels=3 height=5 width=7 kernel=3 stride=2 ");
    const auto other = pool.template cast<double>();
    CHECK((other.channels() == 3 && other.height() == 5 && other.width() == 7 &&
           other.kernel() == 3 && other.stride() == 2));
}

TEST_CASE("Pooling: gradient checks against finite differences", "[pooling][gradient]") {
    for (const auto& g : geometries) {
        CAPTURE(g.batch, g.channels, g.height, g.width, g.kernel, g.stride);
        const Eigen::MatrixXd X =
            test::random_matrix<double>(g.batch, g.channels * g.height * g.width, 11);
        const auto max = test::layer_gradient_errors(
            MaxPool2D<double>(g.channels, g.height, g.width, g.kernel, g.stride), X).dX;
        CAPTURE(max.max_relative_error);
        CHECK(max.passes(test::gradient_tolerance<double>));
        const auto avg = test::layer_gradient_errors(
            AvgPool2D<double>(g.channels, g.height, g.width, g.kernel, g.stride), X).dX;
        CAPTURE(avg.max_relative_error);
        CHECK(avg.passes(test::gradient_tolerance<double>));
    }
}

TEST_CASE("Pooling: PyTorch's MaxPool2d and AvgPool2d agree to 1e-12", "[pooling][pytorch]") {
    constexpr double tolerance = 1e-12;
    const Eigen::MatrixXd X = test::from_rows(reference::pool_X, 2, 3 * 5 * 7);
    const Eigen::MatrixXd G = test::from_rows(reference::pool_G, 2, 3 * 5 * 7);
    REQUIRE(reference::pool_cases.size() == 6);
    auto check = [&](auto layer, const reference::PoolCase& c) {
        const auto& Y = layer.forward(X);
        CHECK(test::relative_difference(Y, test::from_rows(c.Y, 2, layer.out())) < tolerance);
        const Eigen::MatrixXd dY = G.leftCols(layer.out());
        CHECK(test::relative_difference(layer.backward(dY).dX, test::from_rows(c.dX, 2, 105)) <
              tolerance);
    };
    for (const auto& c : reference::pool_cases) {
        CAPTURE(c.kind, c.kernel, c.stride);
        if (std::string(c.kind) == "max") {
            check(MaxPool2D<double>(3, 5, 7, c.kernel, c.stride), c);
        } else {
            check(AvgPool2D<double>(3, 5, 7, c.kernel, c.stride), c);
        }
    }
}

TEMPLATE_TEST_CASE("Pooling: predict() is forward() keeping nothing", "[pooling]", float,
                   double) {
    using T = TestType;
    auto check = [](auto pool) {
        using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
        const Matrix X1 = test::random_matrix<T>(3, pool.in(), 1);
        const Matrix X2 = test::random_matrix<T>(5, pool.in(), 2);
        const Matrix G = test::random_matrix<T>(3, pool.out(), 3);
        auto reference = pool;
        reference.forward(X1);
        const Matrix dX = reference.backward(G).dX;

        pool.forward(X1);
        const Matrix Y2 = pool.predict(X2);  // between forward and backward
        CHECK(pool.backward(G).dX == dX);
        CHECK(Y2 == reference.forward(X2));
        Matrix into;
        pool.predict(X2, into);
        CHECK(into == Y2);
    };
    check(MaxPool2D<T>(2, 5, 6, 3, 2));
    check(AvgPool2D<T>(2, 5, 6, 3, 2));
}

TEMPLATE_TEST_CASE("Pooling: bad input throws, names the shapes and changes nothing",
                   "[pooling]", float, double) {
    using T = TestType;
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    SECTION("a kernel larger than the image, stride 0, a size 0") {
        CHECK_THROWS_WITH(MaxPool2D<T>(3, 4, 5, 5),
                          Contains("MaxPool2D") && Contains("kernel 5x5 is larger") &&
                              Contains("3 channels of 4x5 (height x width)"));
        CHECK_THROWS_WITH(AvgPool2D<T>(1, 8, 3, 4, 1),
                          Contains("AvgPool2D") && Contains("1 channels of 8x3"));
        CHECK_THROWS_WITH(MaxPool2D<T>(3, 4, 5, 2, 0),
                          Contains("kernel 2 and stride 0 must both be positive"));
        CHECK_THROWS_WITH(AvgPool2D<T>(3, 4, 5, 0), Contains("kernel 0"));
        CHECK_THROWS_WITH(MaxPool2D<T>(0, 4, 5, 2),
                          Contains("0 channels of 4x5") && Contains("must be positive"));
        CHECK_THROWS_AS(MaxPool2D<T>(3, 4, 5, 2, 0), std::invalid_argument);
    }
    SECTION("an input of another channels x height x width, or an empty batch") {
        MaxPool2D<T> pool(3, 4, 5, 2);
        const Matrix X = test::random_matrix<T>(2, 60, 1);
        const Matrix G = test::random_matrix<T>(2, pool.out(), 2);
        pool.forward(X);
        const Matrix dX = pool.backward(G).dX;
        CHECK_THROWS_WITH(pool.forward(Matrix::Zero(2, 40)),
                          Contains("MaxPool2D::forward: X is 2x40") &&
                              Contains("3 channels of 4x5 (height x width), 60 columns"));
        CHECK_THROWS_WITH(pool.forward(Matrix(0, 60)), Contains("X is 0x60"));
        CHECK_THROWS_WITH(pool.predict(Matrix::Zero(1, 61)),
                          Contains("MaxPool2D::predict: X is 1x61"));
        CHECK_THROWS_WITH(pool.backward(Matrix::Zero(3, pool.out())),
                          Contains("MaxPool2D::backward: dY is 3x12") &&
                              Contains("Y of the last forward is 2x12"));
        CHECK(pool.gradients().dX == dX);  // the failed backward kept the last gradient
        CHECK(pool.backward(G).dX == dX);  // and the failed forwards kept the cache
    }
    SECTION("backward before forward") {
        AvgPool2D<T> pool(1, 4, 4, 2);
        CHECK_THROWS_AS(pool.backward(Matrix::Zero(1, 4)), std::logic_error);
        CHECK_THROWS_WITH(pool.backward(Matrix::Zero(1, 4)),
                          "AvgPool2D::backward: called before forward()");
    }
}
