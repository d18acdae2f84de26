// Tests of layers/normalization.hpp (BatchNorm, LayerNorm) and layers/dropout.hpp (Dropout): the
// layers whose behaviour depends on the batch or on the mode.
#include "helpers.hpp"
#include "layer_gradient_check.hpp"
#include "reference/pytorch_reference_norm.hpp"

#include <backprop/layers/activations.hpp>
#include <backprop/layers/dense.hpp>
#include <backprop/layers/dropout.hpp>
#include <backprop/layers/normalization.hpp>
#include <backprop/losses/mse.hpp>
#include <backprop/nn/sequential.hpp>
#include <backprop/optim/sgd.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

using backprop::BatchNorm;
using backprop::Dropout;
using backprop::GradientMode;
using backprop::LayerNorm;
using backprop::Mode;
using Catch::Matchers::Contains;

namespace {

constexpr double pytorch_tolerance = 1e-12;

template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

/// γ in [0.5, 1.5) and β in [−0.5, 0.5), so that neither hides a wrong gradient.
template <typename Layer>
void randomize(Layer& layer, std::uint64_t seed) {
    using Row = typename Layer::Row;
    using T = typename Row::Scalar;
    const auto u = test::random_matrix<T>(1, layer.gamma.cols(), seed);
    layer.gamma = Row((u.array() / 2 + T(1)).matrix());
    layer.beta = Row(test::random_matrix<T>(1, layer.beta.cols(), seed + 1) / 2);
}

/// X (batch, cols) with mean 1 and spread 2 per element: normalisation has something to do.
Eigen::MatrixXd spread(Eigen::Index batch, Eigen::Index cols, std::uint64_t seed) {
    return ((2 * test::random_matrix<double>(batch, cols, seed)).array() + 1).matrix();
}

void check_all(const test::LayerGradientErrors& e) {
    CAPTURE(e.dX.max_relative_error, e.dgamma.max_relative_error, e.dbeta.max_relative_error);
    CHECK(e.dX.passes(test::gradient_tolerance<double>));
    CHECK(e.dgamma.passes(test::gradient_tolerance<double>));
    CHECK(e.dbeta.passes(test::gradient_tolerance<double>));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// BatchNorm

TEMPLATE_TEST_CASE("BatchNorm: values computed by hand, running statistics, eval mode",
                   "[normalization]", float, double) {
    using T = TestType;
    // Feature 0 is {1, 3}: mean 2, biased variance 1, unbiased 2; feature 1 is {10, 14}: mean 12,
    // variance 4, unbiased 8.
    BatchNorm<T> bn(2);
    bn.gamma << 2, 3;
    bn.beta << 1, -1;
    Matrix<T> X(2, 2);
    X << 1, 10,
         3, 14;
    const T s0 = 1 / std::sqrt(T(1) + T(1e-5)), s1 = 1 / std::sqrt(T(4) + T(1e-5));
    Matrix<T> Y(2, 2);
    Y << 1 - 2 * s0, -1 - 6 * s1,
         1 + 2 * s0, -1 + 6 * s1;
    CHECK(test::relative_difference(bn.forward(X), Y) < test::rounding_tolerance<T>);
    // r ← 0.9·r + 0.1·b, with the unbiased variance: mean 0.1·{2, 12}, variance 0.9 + 0.1·{2, 8}.
    CHECK(bn.running_mean(0) == Approx(0.2));
    CHECK(bn.running_mean(1) == Approx(1.2));
    CHECK(bn.running_var(0) == Approx(1.1));
    CHECK(bn.running_var(1) == Approx(1.7));

    // dβ = Σ dY, dγ = Σ dY∘x̂; a constant dY gives dX = 0 in training (the mean absorbs it).
    const Matrix<T> dY = Matrix<T>::Ones(2, 2);
    const auto& g = bn.backward(dY);
    CHECK(g.dbeta(0) == T(2));
    CHECK(g.dgamma(0) == Approx(0).margin(1e-6));
    CHECK(g.dX.cwiseAbs().maxCoeff() == Approx(0).margin(1e-5));

    bn.set_mode(Mode::eval);
    Matrix<T> eval(2, 2);
    for (int j = 0; j < 2; ++j) {
        const T scale = bn.gamma(j) / std::sqrt(bn.running_var(j) + T(1e-5));
        eval.col(j) = ((X.col(j).array() - bn.running_mean(j)) * scale + bn.beta(j)).matrix();
    }
    const Matrix<T> before_mean = bn.running_mean, before_var = bn.running_var;
    CHECK(test::relative_difference(bn.forward(X), eval) < test::rounding_tolerance<T>);
    CHECK(bn.running_mean == before_mean);  // eval mode updates nothing
    CHECK(bn.running_var == before_var);
    // μ and σ² are constants in eval mode: dX = γ·s·dY.
    const T s = 3 / std::sqrt(bn.running_var(1) + T(1e-5));
    CHECK(test::relative_difference(bn.backward(dY).dX.col(1), Matrix<T>::Constant(2, 1, s)) <
          test::rounding_tolerance<T>);
}

TEMPLATE_TEST_CASE("BatchNorm: shapes, settings, buffers and cast", "[normalization]", float,
                   double) {
    using T = TestType;
    BatchNorm<T> bn(3, 4, 5, T(1e-3), T(0.25));
    CHECK((bn.channels() == 3 && bn.height() == 4 && bn.width() == 5));
    CHECK((bn.in() == 60 && bn.out() == 60));
    CHECK(bn.mode() == Mode::train);
    CHECK(bn.running_mean == Matrix<T>::Zero(1, 3));
    CHECK(bn.running_var == Matrix<T>::Ones(1, 3));
    std::string settings;
    bn.for_each_setting([&](const char* name, double) { settings += std::string(name) + " "; });
    CHECK(settings == "channels height width eps momentum ");
    std::string buffers;
    bn.for_each_buffer([&](const char* name, auto&) { buffers += std::string(name) + " "; });
    CHECK(buffers == "running_mean running_var ");
    std::string parameters;
    bn.for_each_parameter([&](const auto& p) { parameters += std::string(p.name) + " "; });
    CHECK(parameters == "gamma beta ");

    bn.running_var << 2, 3, 4;
    bn.set_mode(Mode::eval);
    const auto other = bn.template cast<double>();
    CHECK(other.running_var == bn.running_var.template cast<double>());
    CHECK(other.mode() == Mode::eval);
    CHECK(other.eps() == double(T(1e-3)));
    CHECK(other.momentum() == double(T(0.25)));
}

TEST_CASE("BatchNorm: gradient checks against finite differences", "[normalization][gradient]") {
    SECTION("features in training") {
        BatchNorm<double> bn(4);
        randomize(bn, 1);
        check_all(test::layer_gradient_errors(bn, spread(5, 4, 2)));
    }
    SECTION("images in training: channels > 1, non-square") {
        BatchNorm<double> bn(3, 2, 5);
        randomize(bn, 3);
        check_all(test::layer_gradient_errors(bn, spread(2, 30, 4)));
    }
    SECTION("images in training, batch 1: each channel's values are one image's") {
        BatchNorm<double> bn(2, 3, 2);
        randomize(bn, 5);
        check_all(test::layer_gradient_errors(bn, spread(1, 12, 6)));
    }
    SECTION("eval mode: the running statistics are constants") {
        BatchNorm<double> bn(3, 2, 2);
        randomize(bn, 7);
        bn.running_mean << 0.5, -1, 2;
        bn.running_var << 0.7, 2, 1.5;
        bn.set_mode(Mode::eval);
        check_all(test::layer_gradient_errors(bn, spread(1, 12, 8)));
    }
}

TEST_CASE("BatchNorm: PyTorch's BatchNorm1d and BatchNorm2d agree to 1e-12, running statistics "
          "over several steps included", "[normalization][pytorch]") {
    REQUIRE(reference::batch_norm_cases.size() == 2);
    for (const auto& c : reference::batch_norm_cases) {
        CAPTURE(c.name);
        const Eigen::Index H = c.spatial == 1 ? 1 : 4, W = c.spatial / H;
        REQUIRE(H * W == c.spatial);
        BatchNorm<double> bn(c.channels, H, W, c.eps, c.momentum);
        bn.gamma = test::from_rows(c.gamma, 1, c.channels);
        bn.beta = test::from_rows(c.beta, 1, c.channels);
        const Eigen::Index width = c.channels * c.spatial;
        REQUIRE(c.steps.size() == 4);
        for (std::size_t k = 0; k < c.steps.size(); ++k) {
            CAPTURE(k);
            const auto& s = c.steps[k];
            bn.set_mode(k < 3 ? Mode::train : Mode::eval);
            const auto row = [&](const std::vector<double>& v) {
                return test::from_rows(v, 1, c.channels);
            };
            CHECK(test::relative_difference(bn.forward(test::from_rows(s.X, c.batch, width)),
                                            test::from_rows(s.Y, c.batch, width)) <
                  pytorch_tolerance);
            const auto& g = bn.backward(test::from_rows(s.G, c.batch, width));
            CHECK(test::relative_difference(g.dX, test::from_rows(s.dX, c.batch, width)) <
                  pytorch_tolerance);
            CHECK(test::relative_difference(g.dgamma, row(s.dgamma)) < pytorch_tolerance);
            CHECK(test::relative_difference(g.dbeta, row(s.dbeta)) < pytorch_tolerance);
            CHECK(test::relative_difference(bn.running_mean, row(s.running_mean)) <
                  pytorch_tolerance);
            CHECK(test::relative_difference(bn.running_var, row(s.running_var)) <
                  pytorch_tolerance);
        }
    }
}

TEST_CASE("BatchNorm: a Sequential with BatchNorm and SGD steps as PyTorch's",
          "[normalization][pytorch]") {
    using backprop::Dense;
    using Net = backprop::Sequential<Dense<double>, BatchNorm<double>, backprop::ReLU<double>,
                                     Dense<double>>;
    Net net(Dense<double>(4, 3), BatchNorm<double>(3), backprop::ReLU<double>(),
            Dense<double>(3, 2));
    const auto& start = reference::network_start;
    net.layer<0>().W = test::from_rows(start.W1, 4, 3);
    net.layer<0>().b = test::from_rows(start.b1, 1, 3);
    net.layer<1>().gamma = test::from_rows(start.gamma, 1, 3);
    net.layer<1>().beta = test::from_rows(start.beta, 1, 3);
    net.layer<3>().W = test::from_rows(start.W2, 3, 2);
    net.layer<3>().b = test::from_rows(start.b2, 1, 2);
    REQUIRE(test::relative_difference(net.layer<1>().running_var,
                                      test::from_rows(start.running_var, 1, 3)) == 0);

    backprop::MSE<double> mse;
    const backprop::SGD<double> sgd(0.1);
    REQUIRE(reference::network_batches.size() == 2);
    for (std::size_t k = 0; k < reference::network_batches.size(); ++k) {
        CAPTURE(k);
        const auto& batch = reference::network_batches[k];
        mse.forward(net.forward(test::from_rows(batch.X, 6, 4)),
                    test::from_rows(batch.target, 6, 2));
        net.backward(mse.backward());
        sgd.step(net);
        const auto& after = reference::network_after[k];
        const auto close = [](const auto& value, const std::vector<double>& expected,
                              Eigen::Index rows, Eigen::Index cols) {
            return test::relative_difference(value, test::from_rows(expected, rows, cols)) <
                   pytorch_tolerance;
        };
        CHECK(close(net.layer<0>().W, after.W1, 4, 3));
        CHECK(close(net.layer<0>().b, after.b1, 1, 3));
        CHECK(close(net.layer<1>().gamma, after.gamma, 1, 3));
        CHECK(close(net.layer<1>().beta, after.beta, 1, 3));
        CHECK(close(net.layer<1>().running_mean, after.running_mean, 1, 3));
        CHECK(close(net.layer<1>().running_var, after.running_var, 1, 3));
        CHECK(close(net.layer<3>().W, after.W2, 3, 2));
        CHECK(close(net.layer<3>().b, after.b2, 1, 2));
    }
}

TEMPLATE_TEST_CASE("BatchNorm: predict() is eval mode's forward() and keeps nothing",
                   "[normalization]", float, double) {
    using T = TestType;
    BatchNorm<T> bn(2, 2, 3);
    randomize(bn, 9);
    bn.running_mean << T(0.5), T(-0.25);
    bn.running_var << T(1.5), T(0.75);
    const Matrix<T> X1 = test::random_matrix<T>(3, 12, 1);
    const Matrix<T> X2 = test::random_matrix<T>(2, 12, 2);
    const Matrix<T> G = test::random_matrix<T>(3, 12, 3);

    auto eval = bn;
    eval.set_mode(Mode::eval);
    const Matrix<T> Y2 = bn.predict(X2);  // in training mode too: predict is inference
    CHECK(test::relative_difference(Y2, eval.forward(X2)) < test::rounding_tolerance<T>);

    auto reference = bn;
    reference.forward(X1);
    const auto expected = reference.backward(G);
    bn.forward(X1);
    Matrix<T> into;
    bn.predict(X2, into);  // between forward and backward
    CHECK(into == reference.predict(X2));  // the running statistics after X1's forward
    const auto& g = bn.backward(G);
    CHECK(g.dX == expected.dX);
    CHECK(g.dgamma == expected.dgamma);
    CHECK(g.dbeta == expected.dbeta);
    CHECK(bn.running_mean == reference.running_mean);  // predict updated no statistic
    CHECK(bn.running_var == reference.running_var);
}

TEMPLATE_TEST_CASE("BatchNorm and LayerNorm: GradientMode::accumulate adds dgamma and dbeta",
                   "[normalization]", float, double) {
    using T = TestType;
    auto check = [](auto layer, Eigen::Index width) {
        const Matrix<T> X1 = test::random_matrix<T>(4, width, 1);
        const Matrix<T> X2 = test::random_matrix<T>(3, width, 2);
        const Matrix<T> G1 = test::random_matrix<T>(4, width, 3);
        const Matrix<T> G2 = test::random_matrix<T>(3, width, 4);
        auto one = layer;
        one.forward(X1);
        const auto first = one.backward(G1);
        auto two = layer;
        two.forward(X2);
        const auto second = two.backward(G2);

        layer.forward(X1);
        layer.backward(G1);
        layer.forward(X2);
        const auto& sum = layer.backward(G2, GradientMode::accumulate);
        CHECK(sum.dgamma == first.dgamma + second.dgamma);
        CHECK(sum.dbeta == first.dbeta + second.dbeta);
        CHECK(sum.dX == second.dX);  // dX is always this batch's
        CHECK(layer.has_gradients());

        layer.clear_gradients();  // the next sum starts anew
        CHECK(!layer.has_gradients());
        layer.forward(X2);
        CHECK(layer.backward(G2, GradientMode::accumulate).dgamma == second.dgamma);
        CHECK(layer.backward_parameters(G2).dbeta == second.dbeta);
    };
    check(BatchNorm<T>(2, 1, 3), 6);
    check(LayerNorm<T>(5), 5);
}

TEMPLATE_TEST_CASE("BatchNorm: bad input throws, names the shapes and changes nothing",
                   "[normalization]", float, double) {
    using T = TestType;
    SECTION("sizes, eps and momentum") {
        CHECK_THROWS_WITH(BatchNorm<T>(0), Contains("BatchNorm: channels 0"));
        CHECK_THROWS_WITH(BatchNorm<T>(3, 4, 0), Contains("width 0"));
        CHECK_THROWS_WITH(BatchNorm<T>(3, 1, 1, T(0)),
                          Contains("BatchNorm: eps is 0 but must be finite and > 0"));
        CHECK_THROWS_WITH(BatchNorm<T>(3, 1, 1, T(-1)), Contains("eps is -1"));
        CHECK_THROWS_WITH(BatchNorm<T>(3, 1, 1, std::numeric_limits<T>::quiet_NaN()),
                          Contains("eps is nan"));
        CHECK_THROWS_WITH(BatchNorm<T>(3, 1, 1, T(1e-5), T(1.5)),
                          Contains("momentum is 1.5 but must be in [0, 1]"));
    }
    BatchNorm<T> bn(3, 4, 5);
    randomize(bn, 1);
    const Matrix<T> X = test::random_matrix<T>(2, 60, 2);
    const Matrix<T> G = test::random_matrix<T>(2, 60, 3);
    SECTION("backward before forward") {
        CHECK_THROWS_AS(bn.backward(G), std::logic_error);
        CHECK_THROWS_WITH(bn.backward_parameters(G),
                          "BatchNorm::backward_parameters: called before forward()");
    }
    SECTION("a channel mismatch, an empty batch, one value per channel in training") {
        bn.forward(X);
        const auto dX = bn.backward(G).dX;
        const Matrix<T> mean = bn.running_mean, var = bn.running_var;
        CHECK_THROWS_WITH(bn.forward(Matrix<T>::Zero(2, 40)),
                          Contains("BatchNorm::forward: X is 2x40") &&
                              Contains("60 columns (3 channels of 4x5 (height x width))"));
        CHECK_THROWS_WITH(bn.predict(Matrix<T>(0, 60)), Contains("BatchNorm::predict: X is 0x60"));
        CHECK_THROWS_WITH(bn.backward(Matrix<T>::Zero(2, 59)),
                          Contains("BatchNorm::backward: dY is 2x59") &&
                              Contains("but Y of the last forward is 2x60"));

        BatchNorm<T> features(3);
        const Matrix<T> one = test::random_matrix<T>(1, 3, 4);
        CHECK_THROWS_WITH(features.forward(one),
                          Contains("BatchNorm::forward: X is 1x3, one value per channel") &&
                              Contains("eval mode"));
        CHECK(features.running_mean == Matrix<T>::Zero(1, 3));
        features.set_mode(Mode::eval);
        CHECK_NOTHROW(features.forward(one));  // eval mode needs no batch statistics
        BatchNorm<T> pixel(2, 1, 1);
        pixel.set_mode(Mode::train);
        CHECK_THROWS_WITH(pixel.forward(Matrix<T>::Zero(1, 2)), Contains("one value per channel"));

        CHECK(bn.running_mean == mean);  // nothing changed: statistics, cache, gradients
        CHECK(bn.running_var == var);
        CHECK(bn.gradients().dX == dX);
        CHECK(bn.backward(G).dX == dX);
    }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

TEMPLATE_TEST_CASE("LayerNorm: values computed by hand", "[normalization]", float, double) {
    using T = TestType;
    // Row 0 is {1, 3}: mean 2, variance 1; row 1 is {0, 4}: mean 2, variance 4. x̂ ≈ {−1, 1}.
    LayerNorm<T> ln(2);
    ln.gamma << 2, 3;
    ln.beta << 1, -1;
    Matrix<T> X(2, 2);
    X << 1, 3,
         0, 4;
    const T s0 = 1 / std::sqrt(T(1) + T(1e-5)), s1 = 2 / std::sqrt(T(4) + T(1e-5));
    Matrix<T> Y(2, 2);
    Y << 1 - 2 * s0, -1 + 3 * s0,
         1 - 2 * s1, -1 + 3 * s1;
    CHECK(test::relative_difference(ln.forward(X), Y) < test::rounding_tolerance<T>);
    CHECK(test::relative_difference(ln.predict(X), Y) < test::rounding_tolerance<T>);
    Matrix<T> dY(2, 2);
    dY << 1, 2,
          3, 4;
    const auto& g = ln.backward(dY);
    CHECK(g.dbeta == (Matrix<T>(1, 2) << 4, 6).finished());
    CHECK(g.dgamma(0) == Approx(-s0 - 3 * s1).epsilon(1e-5));
    CHECK(g.dgamma(1) == Approx(2 * s0 + 4 * s1).epsilon(1e-5));
    // Each row of dX sums to 0: a shift of a row changes nothing after normalisation.
    CHECK(std::abs(g.dX.row(0).sum()) < 1e-5);
    CHECK(std::abs(g.dX.row(1).sum()) < 1e-5);
    std::string settings;
    ln.for_each_setting([&](const char* name, double) { settings += std::string(name) + " "; });
    CHECK(settings == "features eps ");
}

TEST_CASE("LayerNorm: gradient checks against finite differences", "[normalization][gradient]") {
    // Not 2 features: two values normalise to about ±1 whatever they are, so dX is of the order
    // of ε and the central difference cannot resolve it.
    for (auto [batch, features] : {std::pair{1, 5}, std::pair{4, 6}, std::pair{3, 3}}) {
        CAPTURE(batch, features);
        LayerNorm<double> ln(features);
        randomize(ln, 11);
        check_all(test::layer_gradient_errors(ln, spread(batch, features, 12)));
    }
}

TEST_CASE("LayerNorm: PyTorch's LayerNorm agrees to 1e-12", "[normalization][pytorch]") {
    const auto& c = reference::layer_norm_case;
    LayerNorm<double> ln(6);
    ln.gamma = test::from_rows(c.gamma, 1, 6);
    ln.beta = test::from_rows(c.beta, 1, 6);
    CHECK(test::relative_difference(ln.forward(test::from_rows(c.X, 4, 6)),
                                    test::from_rows(c.Y, 4, 6)) < pytorch_tolerance);
    const auto& g = ln.backward(test::from_rows(c.G, 4, 6));
    CHECK(test::relative_difference(g.dX, test::from_rows(c.dX, 4, 6)) < pytorch_tolerance);
    CHECK(test::relative_difference(g.dgamma, test::from_rows(c.dgamma, 1, 6)) <
          pytorch_tolerance);
    CHECK(test::relative_difference(g.dbeta, test::from_rows(c.dbeta, 1, 6)) < pytorch_tolerance);
}

TEMPLATE_TEST_CASE("LayerNorm: predict() keeps nothing; bad input throws and changes nothing",
                   "[normalization]", float, double) {
    using T = TestType;
    LayerNorm<T> ln(6);
    randomize(ln, 13);
    const Matrix<T> X1 = test::random_matrix<T>(3, 6, 1), X2 = test::random_matrix<T>(2, 6, 2);
    const Matrix<T> G = test::random_matrix<T>(3, 6, 3);
    CHECK_THROWS_AS(ln.backward(G), std::logic_error);
    auto reference = ln;
    reference.forward(X1);
    const auto expected = reference.backward(G);
    ln.forward(X1);
    CHECK(test::relative_difference(ln.predict(X2), reference.forward(X2)) <
          test::rounding_tolerance<T>);
    CHECK_THROWS_WITH(ln.forward(Matrix<T>::Zero(3, 5)),
                      Contains("LayerNorm::forward: X is 3x5") && Contains("6 inputs"));
    CHECK_THROWS_WITH(ln.predict(Matrix<T>(0, 6)), Contains("LayerNorm::predict: X is 0x6"));
    CHECK_THROWS_WITH(ln.backward(Matrix<T>::Zero(2, 6)),
                      Contains("LayerNorm::backward: dY is 2x6 but Y of the last forward is 3x6"));
    CHECK(ln.backward(G).dX == expected.dX);
    CHECK(ln.gradients().dgamma == expected.dgamma);

    CHECK_THROWS_WITH(LayerNorm<T>(0), Contains("LayerNorm: features is 0 but must be positive"));
    CHECK_THROWS_WITH(LayerNorm<T>(3, T(0)), Contains("LayerNorm: eps is 0"));
    CHECK_THROWS_WITH(LayerNorm<T>(3, -std::numeric_limits<T>::infinity()),
                      Contains("eps is -inf"));
}

// ---------------------------------------------------------------------------------------------
// Dropout

TEMPLATE_TEST_CASE("Dropout: a seeded mask, the same for the same seed", "[dropout]", float,
                   double) {
    using T = TestType;
    const Matrix<T> X = test::random_matrix<T>(20, 30, 1);
    Dropout<T> a(T(0.5), 7), b(T(0.5), 7), c(T(0.5), 8);
    const Matrix<T> Ya = a.forward(X);
    CHECK(Ya == b.forward(X));
    CHECK(Ya != c.forward(X));
    auto copy = a;  // the copy draws what the original draws next
    const Matrix<T> next = a.forward(X);
    CHECK(next != Ya);  // a new mask every forward()
    CHECK(copy.forward(X) == next);
    CHECK(a.mask().cwiseProduct(X) == next);
    for (Eigen::Index i = 0; i < a.mask().size(); ++i) {
        const T m = a.mask().data()[i];
        CHECK((m == T(0) || m == T(2)));
    }
}

TEMPLATE_TEST_CASE("Dropout: inverted scaling keeps the mean", "[dropout]", float, double) {
    using T = TestType;
    const T p = T(0.3);
    Dropout<T> dropout(p, 2024);
    const Matrix<T> X = Matrix<T>::Ones(400, 500);  // 200,000 elements
    const Matrix<T> Y = dropout.forward(X);
    // Each element is 0 with probability 0.3, else 1/0.7: mean 1, standard deviation
    // √(0.3/0.7) ≈ 0.65, so the mean of 200,000 has a standard deviation of about 0.0015.
    const double mean = Y.template cast<double>().mean();
    const double dropped = (Y.array() == T(0)).template cast<double>().mean();
    CHECK(mean == Approx(1).margin(0.01));
    CHECK(dropped == Approx(0.3).margin(0.005));
    CHECK(((Y.array() == T(0)) || (Y.array() == T(1) / (1 - p))).all());
}

TEMPLATE_TEST_CASE("Dropout: the identity in eval mode and in predict()", "[dropout]", float,
                   double) {
    using T = TestType;
    const Matrix<T> X = test::random_matrix<T>(6, 7, 1);
    const Matrix<T> G = test::random_matrix<T>(6, 7, 2);
    Dropout<T> dropout(T(0.5), 3);
    auto untouched = dropout;
    CHECK(dropout.predict(X) == X);  // in training mode too: predict is inference
    Matrix<T> into;
    dropout.predict(X, into);
    CHECK(into == X);
    // predict drew nothing: the next mask is the one an untouched copy draws.
    CHECK(dropout.forward(X) == untouched.forward(X));
    const Matrix<T> dX = dropout.backward(G).dX;
    dropout.predict(X);  // between forward and backward: no gradient changes
    CHECK(dropout.backward(G).dX == dX);

    dropout.set_mode(Mode::eval);
    CHECK(dropout.mode() == Mode::eval);
    CHECK(dropout.forward(X) == X);
    CHECK(dropout.backward(G).dX == G);
    CHECK(Dropout<T>(T(0)).forward(X) == X);  // p = 0 keeps everything, scaled by 1
}

TEST_CASE("Dropout: gradient check through the mask", "[dropout][gradient]") {
    // layer_gradient_errors forwards a fresh copy each time, which draws the same mask.
    const auto e = test::layer_gradient_errors(Dropout<double>(0.4, 99), spread(5, 8, 1)).dX;
    CAPTURE(e.max_relative_error);
    CHECK(e.passes(test::gradient_tolerance<double>));
}

TEMPLATE_TEST_CASE("Dropout: bad input throws and changes nothing", "[dropout]", float, double) {
    using T = TestType;
    CHECK_THROWS_WITH(Dropout<T>(T(1)), "Dropout: p is 1 but must be in [0, 1)");
    CHECK_THROWS_WITH(Dropout<T>(T(-0.5)), Contains("p is -0.5"));
    CHECK_THROWS_WITH(Dropout<T>(std::numeric_limits<T>::quiet_NaN()), Contains("p is nan"));
    Dropout<T> dropout(T(0.5), 1);
    CHECK_THROWS_AS(dropout.backward(Matrix<T>::Zero(2, 2)), std::logic_error);
    const Matrix<T> X = test::random_matrix<T>(3, 4, 1);
    dropout.forward(X);
    const Matrix<T> mask = dropout.mask();
    CHECK_THROWS_WITH(dropout.forward(Matrix<T>(0, 4)), Contains("Dropout::forward: X is 0x4"));
    CHECK_THROWS_WITH(dropout.backward(Matrix<T>::Zero(3, 5)),
                      Contains("Dropout::backward: dY is 3x5 but Y of the last forward is 3x4"));
    CHECK(dropout.mask() == mask);
}

// ---------------------------------------------------------------------------------------------
// In a Sequential

TEMPLATE_TEST_CASE("set_mode through a Sequential reaches BatchNorm and Dropout",
                   "[normalization][dropout]", float, double) {
    using T = TestType;
    using backprop::Dense;
    backprop::Sequential<Dense<T>, BatchNorm<T>, backprop::ReLU<T>, Dropout<T>, Dense<T>> net(
        Dense<T>(3, 4, 1), BatchNorm<T>(4), backprop::ReLU<T>(), Dropout<T>(T(0.5), 2),
        Dense<T>(4, 2, 3));
    const Matrix<T> X = test::random_matrix<T>(5, 3, 4);
    net.forward(X);  // training: the running statistics move
    CHECK(net.template layer<1>().running_mean != Matrix<T>::Zero(1, 4));

    net.set_mode(Mode::eval);
    CHECK(net.template layer<1>().mode() == Mode::eval);
    CHECK(net.template layer<3>().mode() == Mode::eval);
    const Matrix<T> mean = net.template layer<1>().running_mean;
    const Matrix<T> Y = net.forward(X);
    CHECK(net.template layer<1>().running_mean == mean);
    CHECK(net.template layer<3>().mask() == Matrix<T>::Ones(5, 4));
    CHECK(test::relative_difference(Y, net.predict(X)) < test::rounding_tolerance<T>);

    net.set_mode(Mode::train);
    CHECK(net.template layer<1>().mode() == Mode::train);
    CHECK(net.template layer<3>().mode() == Mode::train);
}
