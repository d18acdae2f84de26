// Tests of layers/conv2d.hpp, layers/image.hpp and the He and Xavier draws of layers/init.hpp.
#include "helpers.hpp"
#include "reference/pytorch_reference_cnn.hpp"
#include "reference/pytorch_reference_conv.hpp"

#include <backprop/check/gradient_check.hpp>
#include <backprop/layers/activations.hpp>
#include <backprop/layers/conv2d.hpp>
#include <backprop/layers/dense.hpp>
#include <backprop/layers/pooling.hpp>
#include <backprop/losses/mse.hpp>
#include <backprop/losses/softmax_cross_entropy.hpp>
#include <backprop/nn/sequential.hpp>
#include <backprop/optim/adam.hpp>
#include <backprop/optim/sgd.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <string>

using backprop::Conv2D;
using backprop::ImageShape;
using backprop::Init;
using backprop::Padding;
using backprop::Size2D;
using Catch::Matchers::Contains;

namespace {

/// The gradient checks of one Conv2D: dW, db and dX.
struct ConvGradientError {
    backprop::GradientError dW, db, dX;
    bool bias = true;

    bool passes(double tolerance) const {
        return dW.passes(tolerance) && (!bias || db.passes(tolerance)) && dX.passes(tolerance);
    }
};

/// Checks Conv2D::backward at X against finite differences in double, with the loss
/// L = Σ G∘Y for a fixed random G (so dY = G), as backprop::gradient_check does for Dense.
template <typename Scalar>
ConvGradientError conv_gradient_check(const Conv2D<Scalar>& layer,
                                      const typename Conv2D<Scalar>::Input& X) {
    Conv2D<Scalar> probe = layer;
    const auto& Y = probe.forward(X);
    const auto G = test::random_matrix<Scalar>(Y.rows(), Y.cols(), 99);
    const auto& grads = probe.backward(G);

    const Conv2D<double> reference = layer.template cast<double>();
    const Eigen::MatrixXd Xd = X.template cast<double>();
    const Eigen::MatrixXd Gd = G.template cast<double>();
    auto weighted_sum = [&](const Conv2D<double>& d, const Eigen::MatrixXd& input) {
        return (d.predict(input).array() * Gd.array()).sum();
    };
    ConvGradientError error;
    error.bias = layer.has_bias();
    error.dW = backprop::check_gradient(
        [&](const Eigen::MatrixXd& W) {
            Conv2D<double> d = reference;
            d.W = W;
            return weighted_sum(d, Xd);
        },
        reference.W, grads.dW.template cast<double>());
    error.db = backprop::check_gradient(
        [&](const Eigen::MatrixXd& b) {
            Conv2D<double> d = reference;
            d.b = b;
            return weighted_sum(d, Xd);
        },
        reference.b, grads.db.template cast<double>());
    error.dX = backprop::check_gradient(
        [&](const Eigen::MatrixXd& input) { return weighted_sum(reference, input); }, Xd,
        grads.dX.template cast<double>());
    return error;
}

Conv2D<double> layer_of(const reference::ConvCase& c) {
    const Padding padding = c.same ? Padding::same() : Padding(c.padding_height, c.padding_width);
    Conv2D<double> layer({c.channels, c.height, c.width}, c.filters,
                         Size2D(c.kernel_height, c.kernel_width),
                         Size2D(c.stride_height, c.stride_width), padding, 0, Init::pytorch,
                         c.bias);
    layer.W = test::from_rows(c.W, c.filters, c.channels * c.kernel_height * c.kernel_width);
    layer.b = test::from_rows(c.b, 1, c.filters);
    return layer;
}

}  // namespace

TEMPLATE_TEST_CASE("Conv2D: output shapes for each padding and stride", "[conv2d]", float,
                   double) {
    SECTION("valid") {
        Conv2D<TestType> layer({1, 28, 28}, 6, 5);
        CHECK(layer.output_shape() == ImageShape{6, 24, 24});
        CHECK(layer.in() == 784);
        CHECK(layer.out() == 6 * 24 * 24);
        CHECK(layer.W.rows() == 6);
        CHECK(layer.W.cols() == 25);
        CHECK(layer.b.cols() == 6);
    }
    SECTION("same keeps the size, also with an even kernel") {
        Conv2D<TestType> odd({3, 7, 5}, 4, 3, 1, Padding::same());
        CHECK(odd.output_shape() == ImageShape{4, 7, 5});
        Conv2D<TestType> even({2, 6, 5}, 3, Size2D(2, 4), 1, Padding::same());
        CHECK(even.output_shape() == ImageShape{3, 6, 5});
        CHECK(even.padding().top == 0);     // as PyTorch: the odd zero below and on the right
        CHECK(even.padding().bottom == 1);
        CHECK(even.padding().left == 1);
        CHECK(even.padding().right == 2);
    }
    SECTION("explicit padding and stride 2: ⌊(H + 2p − k)/s⌋ + 1") {
        Conv2D<TestType> layer({2, 7, 6}, 3, Size2D(3, 2), 2, Padding(1, 2));
        CHECK(layer.output_shape() == ImageShape{3, 4, 5});
        const auto& Y = layer.forward(test::random_matrix<TestType>(5, 2 * 7 * 6, 1));
        CHECK(Y.rows() == 5);
        CHECK(Y.cols() == 3 * 4 * 5);
        const auto& grads = layer.backward(test::random_matrix<TestType>(5, 60, 2));
        CHECK(grads.dW.rows() == 3);
        CHECK(grads.dW.cols() == 12);
        CHECK(grads.db.cols() == 3);
        CHECK(grads.dX.rows() == 5);
        CHECK(grads.dX.cols() == 84);
    }
}

TEST_CASE("Conv2D: values computed by hand", "[conv2d]") {
    // One 3x3 image, one 2x2 kernel, valid: each output is the sum of a 2x2 window times W.
    Conv2D<double> layer({1, 3, 3}, 1, 2);
    layer.W << 1, 2,
               3, 4;  // row 0: weight[0][0] flattened (i, j)
    layer.b << 0.5;
    Eigen::MatrixXd X(1, 9);
    X << 1, 2, 3,
         4, 5, 6,
         7, 8, 9;
    Eigen::MatrixXd Y(1, 4);
    Y << 37.5, 47.5,   // 1·1 + 2·2 + 4·3 + 5·4 + 0.5, …
         67.5, 77.5;
    CHECK(layer.forward(X) == Y);

    Eigen::MatrixXd dY(1, 4);
    dY << 1, 0,
          0, -1;
    const auto& grads = layer.backward(dY);
    Eigen::MatrixXd dW(1, 4), dX(1, 9);
    dW << 1 - 5, 2 - 6,   // Σ dY[oh][ow]·X[oh + i][ow + j]
          4 - 8, 5 - 9;
    dX << 1, 2, 0,        // dY's 1 spreads W over the top-left window, its −1 −W bottom-right
          3, 3, -2,
          0, -3, -4;
    CHECK(grads.dW == dW);
    CHECK(grads.db(0) == 0);
    CHECK(grads.dX == dX);
}

TEST_CASE("Conv2D: forward and backward match PyTorch's float64 values", "[conv2d][pytorch]") {
    for (const auto& c : reference::conv_cases) {
        CAPTURE(c.name);
        Conv2D<double> layer = layer_of(c);
        REQUIRE(layer.output_shape() == ImageShape{c.filters, c.out_height, c.out_width});
        const Eigen::MatrixXd X = test::from_rows(c.X, c.batch, layer.in());
        const Eigen::MatrixXd G = test::from_rows(c.G, c.batch, layer.out());
        CHECK(test::relative_difference(layer.forward(X),
                                        test::from_rows(c.Y, c.batch, layer.out())) < 1e-12);
        const auto& grads = layer.backward(G);
        CHECK(test::relative_difference(grads.dW,
                                        test::from_rows(c.dW, layer.W.rows(), layer.W.cols())) <
              1e-12);
        CHECK(test::relative_difference(grads.dX, test::from_rows(c.dX, c.batch, layer.in())) <
              1e-12);
        if (c.bias) {
            CHECK(test::relative_difference(grads.db, test::from_rows(c.db, 1, c.filters)) <
                  1e-12);
        } else {
            CHECK(grads.db.isZero());
        }
        const auto& parameters = layer.backward_parameters(G);
        CHECK(test::relative_difference(parameters.dW,
                                        test::from_rows(c.dW, layer.W.rows(), layer.W.cols())) <
              1e-12);
        CHECK(parameters.dX.rows() == 0);
    }
}

TEMPLATE_TEST_CASE("Conv2D: the gradient check passes on strides, paddings and shapes",
                   "[conv2d][gradient-check]", float, double) {
    struct Config {
        const char* name;
        int batch;
        ImageShape image;
        int filters;
        Size2D kernel, stride;
        Padding padding;
        bool bias;
    };
    const Config configs[] = {
        {"valid, one channel", 2, {1, 5, 5}, 2, 3, 1, Padding::valid(), true},
        {"batch 1, channels > 1", 1, {3, 4, 4}, 2, 2, 1, Padding::valid(), true},
        {"same, non-square image and kernel", 2, {2, 5, 7}, 3, Size2D(3, 2), 1, Padding::same(),
         true},
        {"stride 2, explicit padding", 3, {2, 6, 5}, 2, 3, 2, Padding(1), true},
        {"stride (2, 1), padding (2, 0), kernel 1x3", 2, {3, 5, 6}, 2, Size2D(1, 3), Size2D(2, 1),
         Padding(2, 0), true},
        {"stride 2 leaving edge pixels unused, no bias", 2, {2, 6, 6}, 3, 3, 2, Padding::valid(),
         false},
        {"kernel as large as the padded image", 2, {2, 3, 4}, 2, Size2D(5, 4), 1, Padding(1, 0),
         true},
    };
    for (const Config& config : configs) {
        CAPTURE(config.name);
        const Conv2D<TestType> layer(config.image, config.filters, config.kernel, config.stride,
                                     config.padding, 7, Init::pytorch, config.bias);
        const auto X = test::random_matrix<TestType>(config.batch, layer.in(), 3);
        const auto error = conv_gradient_check(layer, X);
        CAPTURE(error.dW.max_relative_error, error.db.max_relative_error,
                error.dX.max_relative_error);
        CHECK(error.passes(test::gradient_tolerance<TestType>));
    }
}

TEMPLATE_TEST_CASE("Conv2D: predict() is forward() keeping nothing", "[conv2d][inference]",
                   float, double) {
    Conv2D<TestType> layer({2, 6, 5}, 3, 3, 1, Padding::same(), 1);
    const auto X = test::random_matrix<TestType>(4, layer.in(), 2);
    const auto other = test::random_matrix<TestType>(4, layer.in(), 3);
    const auto dY = test::random_matrix<TestType>(4, layer.out(), 4);
    const auto Y = layer.forward(X).eval();
    typename Conv2D<TestType>::Output buffer;
    layer.predict(X, buffer);
    CHECK(buffer == Y);
    const void* data = buffer.data();
    layer.predict(other, buffer);  // the same shape: the buffer is reused
    CHECK(buffer.data() == data);
    CHECK(layer.predict(other) == buffer);
    const auto grads = layer.backward(dY);  // of X, not of `other`
    Conv2D<TestType> reference({2, 6, 5}, 3, 3, 1, Padding::same(), 1);
    reference.forward(X);
    const auto& expected = reference.backward(dY);
    CHECK(grads.dW == expected.dW);
    CHECK(grads.dX == expected.dX);
    // A block of a larger matrix and a row-major matrix give the same values.
    const typename Conv2D<TestType>::Matrix wide = test::random_matrix<TestType>(6, layer.in(), 2);
    CHECK(test::relative_difference(layer.predict(wide.topRows(4)), layer.predict(wide).topRows(4)) <
          test::rounding_tolerance<TestType>);
    const Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rows = X;
    CHECK(test::relative_difference(layer.predict(rows), Y) < test::rounding_tolerance<TestType>);
}

TEST_CASE("Conv2D: accumulated gradients of two batches are the gradients of their union",
          "[conv2d][accumulate]") {
    Conv2D<double> layer({2, 5, 5}, 3, 3, 2, Padding(1), 1);
    const auto X = test::random_matrix<double>(7, layer.in(), 2);
    const auto dY = test::random_matrix<double>(7, layer.out(), 3);
    layer.forward(X);
    const auto whole = layer.backward(dY);

    Conv2D<double> parts({2, 5, 5}, 3, 3, 2, Padding(1), 1);
    parts.forward(X.topRows(4));
    parts.backward(dY.topRows(4), backprop::GradientMode::accumulate);
    parts.forward(X.bottomRows(3));
    const auto& sum = parts.backward(dY.bottomRows(3), backprop::GradientMode::accumulate);
    CHECK(test::relative_difference(sum.dW, whole.dW) < 1e-14);
    CHECK(test::relative_difference(sum.db, whole.db) < 1e-14);
    CHECK(test::relative_difference(sum.dX, whole.dX.bottomRows(3)) < 1e-14);
    parts.clear_gradients();
    CHECK(!parts.has_gradients());
    CHECK(parts.gradients().dW.isZero());
}

TEST_CASE("Conv2D: backward with dY stored in the layer's own dX", "[conv2d][aliasing]") {
    // Possible when the output has the input's shape: same padding, F = C.
    Conv2D<double> layer({2, 4, 5}, 2, 3, 1, Padding::same(), 1);
    const auto X = test::random_matrix<double>(3, layer.in(), 2);
    layer.forward(X);
    layer.backward(test::random_matrix<double>(3, layer.out(), 3));
    const Eigen::MatrixXd dY = layer.gradients().dX;
    Conv2D<double> reference({2, 4, 5}, 2, 3, 1, Padding::same(), 1);
    reference.forward(X);
    const auto expected = reference.backward(dY);
    const auto& grads = layer.backward(layer.gradients().dX);
    CHECK(test::relative_difference(grads.dX, expected.dX) < 1e-14);
    CHECK(test::relative_difference(grads.dW, expected.dW) < 1e-14);
}

TEMPLATE_TEST_CASE("Conv2D: inside a Sequential with Dense layers, trained by an optimiser",
                   "[conv2d][sequential]", float, double) {
    using Net = backprop::Sequential<Conv2D<TestType>, backprop::ReLU<TestType>, Conv2D<TestType>,
                                     backprop::ReLU<TestType>, backprop::Dense<TestType>>;
    Net net(Conv2D<TestType>({1, 8, 8}, 4, 3, 1, Padding::same(), 1), backprop::ReLU<TestType>(),
            Conv2D<TestType>({4, 8, 8}, 3, 3, 2, Padding::valid(), 2), backprop::ReLU<TestType>(),
            backprop::Dense<TestType>(3 * 3 * 3, 2, 3));
    const auto X = test::random_matrix<TestType>(5, 64, 4);
    const auto target = test::random_matrix<TestType>(5, 2, 5);
    backprop::MSE<TestType> loss;
    backprop::SGD<TestType> sgd(TestType(0.05));

    const TestType first = loss.forward(net.forward(X), target);
    net.backward(loss.backward());
    CHECK(net.template gradients<0>().dX.rows() == 0);  // the data's gradient is not computed
    CHECK(net.template gradients<2>().dX.cols() == 4 * 8 * 8);
    const auto W0 = net.template layer<0>().W;
    const auto dW0 = net.template gradients<0>().dW;
    REQUIRE(!dW0.isZero());
    sgd.step(net);
    CHECK(test::relative_difference(net.template layer<0>().W, (W0 - TestType(0.05) * dW0).eval()) <
          test::rounding_tolerance<TestType>);
    for (int step = 0; step < 20; ++step) {
        loss.forward(net.forward(X), target);
        net.backward(loss.backward());
        sgd.step(net);
    }
    CHECK(loss.forward(net.forward(X), target) < first);
    CHECK(net.predict(X) == net.forward(X));

    CHECK_THROWS_WITH(
        (backprop::Sequential<Conv2D<TestType>, backprop::Dense<TestType>>(
            Conv2D<TestType>({1, 8, 8}, 4, 3), backprop::Dense<TestType>(64, 2))),
        Contains("layer 1 takes 64 inputs but layer 0 gives 144"));
}

TEMPLATE_TEST_CASE("Conv2D: in a Sequential, image layers must agree in C, H and W, not only in "
                   "width", "[conv2d][sequential][bad-input]", float, double) {
    using T = TestType;
    using backprop::MaxPool2D;
    using backprop::ReLU;
    using backprop::Sequential;
    // 6x28x28 and 3x56x28 are both 4704 wide: only the image shapes tell them apart.
    CHECK_THROWS_AS((Sequential<Conv2D<T>, MaxPool2D<T>>(Conv2D<T>({1, 28, 28}, 6, 5, 1, 2),
                                                         MaxPool2D<T>(3, 56, 28, 2))),
                    std::invalid_argument);
    CHECK_THROWS_WITH(
        (Sequential<Conv2D<T>, ReLU<T>, MaxPool2D<T>>(Conv2D<T>({1, 28, 28}, 6, 5, 1, 2), ReLU<T>(),
                                                      MaxPool2D<T>(3, 56, 28, 2))),
        Contains("Sequential: layer 2 takes images of 3 channels, height 56, width 28 but layer 0 "
                 "gives images of 6 channels, height 28, width 28"));
    CHECK_THROWS_WITH(
        (Sequential<MaxPool2D<T>, Conv2D<T>>(MaxPool2D<T>(6, 28, 28, 2),
                                             Conv2D<T>({6, 7, 28}, 16, 5))),
        Contains("layer 1 takes images of 6 channels, height 7, width 28 but layer 0 gives "
                 "images of 6 channels, height 14, width 14"));
    // The matching shapes chain; a Dense layer between image layers ends the comparison (its
    // output is not known as images), so only the widths are checked across it.
    CHECK_NOTHROW(Sequential<Conv2D<T>, ReLU<T>, MaxPool2D<T>, Conv2D<T>>(
        Conv2D<T>({1, 28, 28}, 6, 5, 1, 2), ReLU<T>(), MaxPool2D<T>(6, 28, 28, 2),
        Conv2D<T>({6, 14, 14}, 16, 5)));
    CHECK_NOTHROW(Sequential<MaxPool2D<T>, backprop::Dense<T>, MaxPool2D<T>>(
        MaxPool2D<T>(1, 4, 4, 2), backprop::Dense<T>(4, 8), MaxPool2D<T>(2, 2, 2, 2)));
}

TEST_CASE("Conv2D: bad settings at construction", "[conv2d][bad-input]") {
    CHECK_THROWS_WITH(Conv2D<double>({0, 5, 5}, 2, 3),
                      Contains("Conv2D: the input image is 0 channels, height 5, width 5") &&
                          Contains("positive"));
    CHECK_THROWS_WITH(Conv2D<double>({1, -5, 5}, 2, 3), Contains("height -5"));
    CHECK_THROWS_WITH(Conv2D<double>({1, 5, 5}, 0, 3), Contains("out_channels is 0"));
    CHECK_THROWS_WITH(Conv2D<double>({1, 5, 5}, 2, Size2D(3, 0)),
                      Contains("the kernel is 3x0 but must be positive"));
    CHECK_THROWS_WITH(Conv2D<double>({1, 5, 5}, 2, 3, 0),
                      Contains("the stride is 0x0 but must be positive"));
    CHECK_THROWS_WITH(Conv2D<double>({1, 5, 5}, 2, 3, Size2D(1, 0)), Contains("stride is 1x0"));
    CHECK_THROWS_WITH(Conv2D<double>({1, 5, 5}, 2, 3, 1, Padding(-1)),
                      Contains("the padding is -1, -1, -1, -1") && Contains("negative"));
    CHECK_THROWS_WITH(Conv2D<double>({1, 5, 5}, 2, 3, 2, Padding::same()),
                      Contains("padding \"same\" needs stride 1"));
    CHECK_THROWS_WITH(Conv2D<double>({3, 4, 6}, 2, 5),
                      Contains("Conv2D: the kernel is 5x5 but the padded image is only 4x6") &&
                          Contains("3 channels, height 4, width 6"));
    CHECK_THROWS_WITH(Conv2D<double>({1, 4, 4}, 2, Size2D(1, 7), 1, Padding(0, 1)),
                      Contains("padded image is only 4x6"));
    CHECK_THROWS_AS(Conv2D<double>({1, 4, 4}, 2, 3, 1, Padding(-1)), std::invalid_argument);
    CHECK_NOTHROW(Conv2D<double>({1, 4, 4}, 2, 6, 1, Padding(1)));  // exactly fits
}

TEMPLATE_TEST_CASE("Conv2D: bad input throws and changes nothing", "[conv2d][bad-input]", float,
                   double) {
    Conv2D<TestType> layer({3, 5, 4}, 2, 3, 1, Padding::same(), 1);

    SECTION("backward before forward") {
        CHECK_THROWS_AS(layer.backward(test::random_matrix<TestType>(2, layer.out(), 1)),
                        std::logic_error);
        CHECK_THROWS_WITH(layer.backward_parameters(test::random_matrix<TestType>(2, 40, 1)),
                          Contains("Conv2D::backward_parameters: called before forward()"));
    }

    const auto X = test::random_matrix<TestType>(2, layer.in(), 2);
    const auto dY = test::random_matrix<TestType>(2, layer.out(), 3);
    const auto Y = layer.forward(X).eval();
    const auto grads = layer.backward(dY);
    const auto W = layer.W;
    const auto b = layer.b;
    auto unchanged = [&] {
        CHECK(layer.W == W);
        CHECK(layer.b == b);
        const auto again = layer.backward(dY);  // still the state of the last good forward
        CHECK(again.dW == grads.dW);
        CHECK(again.db == grads.db);
        CHECK(again.dX == grads.dX);
    };

    SECTION("a channel mismatch names channels, height and width") {
        const auto one_channel = test::random_matrix<TestType>(2, 5 * 4, 4);
        CHECK_THROWS_AS(layer.forward(one_channel), std::invalid_argument);
        CHECK_THROWS_WITH(layer.forward(one_channel),
                          Contains("Conv2D::forward: X is 2x20 but the layer expects a non-empty "
                                   "batch of images of 3 channels, height 5, width 4 (60 columns)") &&
                              Contains("20 columns are 1 channels of 5x4"));
        unchanged();
    }
    SECTION("X of a width that fits no channel count") {
        CHECK_THROWS_WITH(layer.forward(test::random_matrix<TestType>(2, 61, 4)),
                          Contains("X is 2x61") && Contains("(60 columns)"));
        CHECK_THROWS_WITH(layer.predict(test::random_matrix<TestType>(2, 59, 4)),
                          Contains("Conv2D::predict: X is 2x59"));
        unchanged();
    }
    SECTION("an empty batch") {
        CHECK_THROWS_WITH(layer.forward(test::random_matrix<TestType>(0, 60, 4)),
                          Contains("Conv2D::forward: X is 0x60"));
        unchanged();
    }
    SECTION("dY of the wrong shape") {
        for (auto [rows, cols] : {std::pair{2, 39}, std::pair{3, 40}}) {
            const auto wrong = test::random_matrix<TestType>(rows, cols, 5);
            CHECK_THROWS_AS(layer.backward(wrong), std::invalid_argument);
            CHECK_THROWS_WITH(layer.backward(wrong),
                              Contains("Conv2D::backward: dY is " + std::to_string(rows) + "x" +
                                       std::to_string(cols)) &&
                                  Contains("2x40 (batch, 2 channels x 5 x 4)"));
        }
        unchanged();
    }
    CHECK(layer.forward(X) == Y);
}

TEST_CASE("Conv2D: initialised as torch.nn.Conv2d, and by name", "[conv2d][init]") {
    SECTION("PyTorch's default: W and b uniform in ±1/√(C·kh·kw)") {
        const Conv2D<double> layer({4, 10, 10}, 16, Size2D(3, 2), 1, Padding::valid(), 5);
        const double bound = 1 / std::sqrt(4.0 * 3 * 2);
        CHECK(layer.W.cwiseAbs().maxCoeff() <= bound);
        CHECK(layer.W.cwiseAbs().maxCoeff() > 0.95 * bound);
        CHECK(layer.b.cwiseAbs().maxCoeff() <= bound);
        CHECK(!layer.b.isZero());
        const Conv2D<double> again({4, 10, 10}, 16, Size2D(3, 2), 1, Padding::valid(), 5);
        CHECK(layer.W == again.W);
    }
    SECTION("He and Xavier: their bounds and variances") {
        // fan_in = 8·3·3 = 72, fan_out = 64·3·3 = 576: 36,864 weights.
        const ImageShape image{8, 6, 6};
        const double fan_in = 72;
        const double fan_out = 576;
        struct Case {
            Init init;
            double std;
            bool uniform;
        };
        for (const Case& c : {Case{Init::he_uniform, std::sqrt(2 / fan_in), true},
                              Case{Init::he_normal, std::sqrt(2 / fan_in), false},
                              Case{Init::xavier_uniform, std::sqrt(2 / (fan_in + fan_out)), true},
                              Case{Init::xavier_normal, std::sqrt(2 / (fan_in + fan_out)), false}}) {
            CAPTURE(static_cast<int>(c.init));
            const Conv2D<double> layer(image, 64, 3, 1, Padding::valid(), 11, c.init);
            const double mean = layer.W.mean();
            const double std = std::sqrt((layer.W.array() - mean).square().mean());
            CHECK(std::abs(mean) < 0.02 * c.std);
            CHECK(std == Approx(c.std).epsilon(0.02));
            CHECK(layer.b.isZero());
            if (c.uniform) {  // U(−a, a) has std a/√3
                const double bound = std::sqrt(3.0) * c.std;
                CHECK(layer.W.cwiseAbs().maxCoeff() <= bound);
                CHECK(layer.W.cwiseAbs().maxCoeff() > 0.999 * bound);
            } else {  // a normal sample this large reaches beyond 3 std, but not 6
                CHECK(layer.W.cwiseAbs().maxCoeff() > 3 * c.std);
                CHECK(layer.W.cwiseAbs().maxCoeff() < 6 * c.std);
            }
            const Conv2D<float> single(image, 64, 3, 1, Padding::valid(), 11, c.init);
            CHECK((single.W.cast<double>() - layer.W).cwiseAbs().maxCoeff() < 1e-6);
        }
    }
    SECTION("Dense counts fan_in = in and fan_out = out") {
        const backprop::Dense<double> layer(200, 100, 3, Init::xavier_uniform);
        const double bound = std::sqrt(6.0 / 300);
        CHECK(layer.W.cwiseAbs().maxCoeff() <= bound);
        CHECK(layer.W.cwiseAbs().maxCoeff() > 0.99 * bound);
        CHECK(layer.b.isZero());
    }
    SECTION("Dense's default draw is unchanged, bit for bit") {
        // The draw as it was before He and Xavier were added: W then b, row by row, from one
        // SplitMix64, uniform in ±1/√in computed in Scalar.
        auto old_draw = [](auto scalar, Eigen::Index in, Eigen::Index out, std::uint64_t seed) {
            using Scalar = decltype(scalar);
            Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> W(in, out);
            Eigen::Matrix<Scalar, 1, Eigen::Dynamic> b(1, out);
            const Scalar hi = Scalar(1) / std::sqrt(static_cast<Scalar>(in));
            backprop::detail::SplitMix64 rng(seed);
            backprop::detail::fill_uniform(W, rng, -hi, hi);
            backprop::detail::fill_uniform(b, rng, -hi, hi);
            return std::pair{W, b};
        };
        const auto [Wd, bd] = old_draw(0.0, 7, 5, 42);
        const backprop::Dense<double> d(7, 5, 42);
        CHECK(d.W == Wd);
        CHECK(d.b == bd);
        const auto [Wf, bf] = old_draw(0.0f, 3, 9, 0);
        const backprop::Dense<float> f(3, 9);
        CHECK(f.W == Wf);
        CHECK(f.b == bf);
        // Values pinned before the change.
        CHECK(backprop::Dense<double>(2, 2, 42).W(0, 0) == 0x1.5dd2c48cda7bcp-2);
        CHECK(backprop::Dense<float>(2, 2, 42).b(0, 1) == 0x1.0aa026p-1f);
    }
}

TEST_CASE("Conv2D: a small CNN's full training steps agree with PyTorch's to 1e-12",
          "[conv2d][pytorch]") {
    // Conv2D(1 → 2, 3x3, padding 1) → ReLU → MaxPool2D(2) → Dense(18 → 3), cross-entropy,
    // three steps of Adam(0.01) on one batch (tests/reference/make_reference_cnn.py).
    namespace ref = reference::cnn;
    using Net = backprop::Sequential<Conv2D<double>, backprop::ReLU<double>,
                                     backprop::MaxPool2D<double>, backprop::Dense<double>>;
    Net net(Conv2D<double>(ImageShape{1, 6, 6}, 2, Size2D(3), Size2D(1), Padding(1)),
            backprop::ReLU<double>(), backprop::MaxPool2D<double>(2, 6, 6, 2),
            backprop::Dense<double>(18, 3));
    const Eigen::Index shapes[4][2] = {{2, 9}, {1, 2}, {18, 3}, {1, 3}};
    int k = 0;
    backprop::for_each_parameter(net, [&](auto parameter) {
        parameter.value = test::from_rows(ref::initial[std::size_t(k)], shapes[k][0], shapes[k][1]);
        ++k;
    });
    REQUIRE(k == 4);
    const Eigen::MatrixXd X = test::from_rows(ref::X, 4, 36);
    const Eigen::VectorXi labels = Eigen::Map<const Eigen::VectorXi>(ref::labels.data(), 4);
    backprop::SoftmaxCrossEntropy<double> loss;
    backprop::Adam<double> adam(0.01);
    for (std::size_t step = 0; step < 3; ++step) {
        CAPTURE(step);
        const double value = loss.forward(net.forward(X), labels);
        CHECK(std::abs(value - ref::losses[step]) < 1e-12 * std::abs(ref::losses[step]));
        net.backward(loss.backward());
        if (step == 0) {
            k = 0;
            backprop::for_each_parameter(net, [&](const auto& parameter) {
                CAPTURE(k);
                CHECK(test::relative_difference(
                          parameter.gradient,
                          test::from_rows(ref::gradients[std::size_t(k)], shapes[k][0],
                                          shapes[k][1])) < 1e-12);
                ++k;
            });
        }
        adam.step(net);
    }
    k = 0;
    backprop::for_each_parameter(net, [&](const auto& parameter) {
        CAPTURE(k);
        CHECK(test::relative_difference(parameter.value,
                                        test::from_rows(ref::final[std::size_t(k)], shapes[k][0],
                                                        shapes[k][1])) < 1e-12);
        ++k;
    });
}
