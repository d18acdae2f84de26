// Tests of layers/embedding.hpp (Embedding with its tied head, PositionalEmbedding) and of GELU in
// layers/activations.hpp: the layers of a GPT that the earlier networks did not have.
#include "helpers.hpp"
#include "reference/pytorch_reference_embedding.hpp"

#include <backprop/check/gradient_check.hpp>
#include <backprop/io/serialize.hpp>
#include <backprop/layers/activations.hpp>
#include <backprop/layers/embedding.hpp>
#include <backprop/optim/sgd.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using backprop::Embedding;
using backprop::GELU;
using backprop::GeluApproximation;
using backprop::GradientMode;
using backprop::PositionalEmbedding;
using Catch::Matchers::Contains;

namespace {

constexpr double pytorch_tolerance = 1e-12;

template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

/// Ids with repeats: 3 four times, 1 twice, 4 never (as the PyTorch case).
Eigen::VectorXi repeated_ids() {
    return (Eigen::VectorXi(10) << 3, 1, 3, 0, 6, 3, 1, 2, 5, 3).finished();
}

Eigen::VectorXi from_ints(const std::vector<int>& ids) {
    return Eigen::Map<const Eigen::VectorXi>(ids.data(), static_cast<Eigen::Index>(ids.size()));
}

void check_passes(const backprop::GradientError& error) {
    CAPTURE(error.max_relative_error, error.max_abs_analytic, error.max_abs_numeric, error.row,
            error.col);
    CHECK(error.passes(test::gradient_tolerance<double>));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Embedding

TEMPLATE_TEST_CASE("Embedding: rows by hand, a scatter-add that adds repeated ids",
                   "[embedding]", float, double) {
    using T = TestType;
    Embedding<T> emb(4, 2, 7);
    emb.W << 1, 2,
             3, 4,
             5, 6,
             7, 8;
    const Eigen::VectorXi ids = (Eigen::VectorXi(5) << 2, 0, 2, 3, 2).finished();
    Matrix<T> Y(5, 2);
    Y << 5, 6,
         1, 2,
         5, 6,
         7, 8,
         5, 6;
    CHECK(emb.forward(ids) == Y);
    CHECK(emb.predict(ids) == Y);
    // Any integer vector: a row of 64-bit ids, a segment.
    const Eigen::Matrix<std::int64_t, 1, Eigen::Dynamic> row = ids.transpose().cast<std::int64_t>();
    CHECK(emb.predict(row) == Y);
    CHECK(emb.predict(ids.segment(1, 2)) == Y.middleRows(1, 2));

    Matrix<T> dY(5, 2);
    dY << 1, 10,
          2, 20,
          3, 30,
          4, 40,
          5, 50;
    Matrix<T> dW(4, 2);  // id 2 is used by rows 0, 2 and 4: their rows add up; id 1 by none
    dW << 2, 20,
          0, 0,
          9, 90,
          4, 40;
    CHECK(emb.backward(dY).dW == dW);
    CHECK(emb.has_gradients());
    CHECK(emb.backward(dY).dW == dW);  // replace: not 2·dW

    CHECK(emb.vocab() == 4);
    CHECK(emb.dim() == 2);
    std::string settings;
    emb.for_each_setting([&](const char* name, double value) {
        settings += std::string(name) + "=" + std::to_string(int(value)) + " ";
    });
    CHECK(settings == "vocab=4 dim=2 ");
    CHECK(backprop::parameter_count(emb) == 8);
    const Embedding<double> wide = emb.template cast<double>();
    CHECK(wide.W == emb.W.template cast<double>());
    CHECK(!wide.has_gradients());
    CHECK(std::string(Embedding<T>::kind) == "Embedding");
}

TEMPLATE_TEST_CASE("Embedding and PositionalEmbedding: W ~ N(0, std²) from the seed, the same in "
                   "float and double",
                   "[embedding]", float, double) {
    using T = TestType;
    const Embedding<T> a(50, 40, 3, 0.5), b(50, 40, 3, 0.5), c(50, 40, 4, 0.5);
    CHECK(a.W == b.W);
    CHECK(a.W != c.W);
    CHECK(test::relative_difference(a.W, Embedding<double>(50, 40, 3, 0.5).W) <
          test::rounding_tolerance<float>);
    const double mean = double(a.W.mean());
    const double std = std::sqrt(double((a.W.array() - T(mean)).square().mean()));
    CHECK(std::abs(mean) < 0.05);  // 2000 draws: the mean's own spread is 0.5/√2000 ≈ 0.011
    CHECK(std == Approx(0.5).epsilon(0.05));
    CHECK(PositionalEmbedding<T>(8, 3, 3, 0.5).W == Embedding<T>(8, 3, 3, 0.5).W);
    CHECK(PositionalEmbedding<T>(6, 2, 0, 0.0).W == Matrix<T>::Zero(6, 2));
}

TEST_CASE("Embedding: gradient checks against finite differences, repeated ids",
          "[embedding][gradient]") {
    const Eigen::VectorXi ids = repeated_ids();
    const Embedding<double> emb(7, 5, 11);
    const Eigen::MatrixXd G = test::random_matrix<double>(10, 5, 12);
    const Eigen::MatrixXd GL = test::random_matrix<double>(10, 7, 13);
    const auto with = [&emb](const Eigen::MatrixXd& W) {
        Embedding<double> changed = emb;
        changed.W = W;
        return changed;
    };

    SECTION("the table: dW = Oᵀ·dY, id 3 used four times, id 4 never") {
        Embedding<double> probe = emb;
        probe.forward(ids);
        const Eigen::MatrixXd dW = probe.backward(G).dW;
        CHECK(dW.row(4).isZero(0));
        const auto loss = [&](const Eigen::MatrixXd& W) {
            return (with(W).predict(ids).array() * G.array()).sum();
        };
        check_passes(backprop::check_gradient(loss, emb.W, dW));
    }
    SECTION("the head alone: dW = dLogitsᵀ·X, dX = dLogits·W") {
        const Eigen::MatrixXd X = test::random_matrix<double>(10, 5, 14);
        Embedding<double> probe = emb;
        probe.unembed(X);
        const Eigen::MatrixXd dX = probe.unembed_backward(GL);
        const auto head = [&](const Embedding<double>& e, const Eigen::MatrixXd& x) {
            Eigen::MatrixXd logits;
            e.predict_unembed(x, logits);
            return (logits.array() * GL.array()).sum();
        };
        check_passes(backprop::check_gradient(
            [&](const Eigen::MatrixXd& W) { return head(with(W), X); }, emb.W,
            probe.gradients().dW));
        check_passes(backprop::check_gradient(
            [&](const Eigen::MatrixXd& x) { return head(emb, x); }, X, dX));
    }
    SECTION("tied, logits = W[ids]·Wᵀ: the gradients of both uses add") {
        Embedding<double> probe = emb;
        probe.unembed(probe.forward(ids));
        const auto& dX = probe.unembed_backward(GL);
        const Eigen::MatrixXd head_only = probe.gradients().dW;
        const Eigen::MatrixXd dW = probe.backward(dX, GradientMode::accumulate).dW;
        const auto tied = [&](const Eigen::MatrixXd& W) {
            const Embedding<double> e = with(W);
            Eigen::MatrixXd logits;
            e.predict_unembed(e.predict(ids), logits);
            return (logits.array() * GL.array()).sum();
        };
        check_passes(backprop::check_gradient(tied, emb.W, dW));
        // Either use alone is wrong by the other's part.
        CHECK(!backprop::check_gradient(tied, emb.W, head_only).passes(1e-2));
    }
}

TEST_CASE("Embedding: PyTorch's Embedding, its weight as a head, and tied, to 1e-12",
          "[embedding][pytorch]") {
    const auto& c = reference::embedding_case;
    const Eigen::VectorXi ids = from_ints(c.ids);
    const Eigen::Index n = ids.size();
    Embedding<double> emb(7, 5);
    emb.W = test::from_rows(c.W, 7, 5);
    CHECK(test::relative_difference(emb.forward(ids), test::from_rows(c.Y, n, 5)) <
          pytorch_tolerance);
    CHECK(test::relative_difference(emb.backward(test::from_rows(c.G, n, 5)).dW,
                                    test::from_rows(c.dW, 7, 5)) < pytorch_tolerance);

    const auto& h = reference::head_case;
    CHECK(test::relative_difference(emb.unembed(test::from_rows(h.X, 4, 5)),
                                    test::from_rows(h.logits, 4, 7)) < pytorch_tolerance);
    CHECK(test::relative_difference(emb.unembed_backward(test::from_rows(h.G, 4, 7)),
                                    test::from_rows(h.dX, 4, 5)) < pytorch_tolerance);
    CHECK(test::relative_difference(emb.gradients().dW, test::from_rows(h.dW, 7, 5)) <
          pytorch_tolerance);

    const auto& t = reference::tied_case;
    CHECK(test::relative_difference(emb.unembed(emb.forward(ids)),
                                    test::from_rows(t.logits, n, 7)) < pytorch_tolerance);
    emb.backward(emb.unembed_backward(test::from_rows(t.G, n, 7)), GradientMode::accumulate);
    CHECK(test::relative_difference(emb.gradients().dW, test::from_rows(t.dW, 7, 5)) <
          pytorch_tolerance);
}

TEMPLATE_TEST_CASE("Embedding: GradientMode::accumulate adds, clear and zero_gradients",
                   "[embedding]", float, double) {
    using T = TestType;
    Embedding<T> emb(7, 3, 1);
    const Eigen::VectorXi ids1 = repeated_ids(), ids2 = ids1.head(4).reverse();
    const Matrix<T> G1 = test::random_matrix<T>(10, 3, 2), G2 = test::random_matrix<T>(4, 3, 3);
    const Matrix<T> GL = test::random_matrix<T>(4, 7, 4);
    auto one = emb, two = emb, head = emb;
    one.forward(ids1);
    const Matrix<T> first = one.backward(G1).dW;
    two.forward(ids2);
    const Matrix<T> second = two.backward(G2).dW;
    head.unembed(G2);
    head.unembed_backward(GL);
    const Matrix<T> third = head.gradients().dW;

    emb.forward(ids1);
    emb.backward(G1);
    emb.forward(ids2);
    CHECK(test::relative_difference(emb.backward(G2, GradientMode::accumulate).dW,
                                    first + second) < test::rounding_tolerance<T>);
    emb.unembed(G2);
    emb.unembed_backward(GL, GradientMode::accumulate);
    CHECK(test::relative_difference(emb.gradients().dW, first + second + third) <
          test::rounding_tolerance<T>);
    CHECK(emb.unembed_backward(GL) == head.unembed_backward(GL));
    CHECK(emb.gradients().dW == third);  // replace

    emb.clear_gradients();  // the next sum starts anew, in either mode
    CHECK(!emb.has_gradients());
    CHECK(emb.gradients().dW.isZero(0));
    CHECK(emb.backward(G2, GradientMode::accumulate).dW == second);
    emb.clear_gradients();
    CHECK(emb.unembed_backward(GL, GradientMode::accumulate).size() == 4 * 3);
    CHECK(emb.gradients().dW == third);
    emb.zero_gradients();
    CHECK(emb.has_gradients());
    CHECK(emb.gradients().dW.isZero(0));

    // An optimiser steps the table through for_each_parameter.
    emb.backward(G2);
    const Matrix<T> before = emb.W;
    backprop::SGD<T>(T(0.5)).step(emb);
    CHECK(test::relative_difference(emb.W, Matrix<T>(before - T(0.5) * second)) <
          test::rounding_tolerance<T>);
}

TEMPLATE_TEST_CASE("Embedding: bad input throws, names the call and changes nothing",
                   "[embedding]", float, double) {
    using T = TestType;
    CHECK_THROWS_WITH(Embedding<T>(0, 3),
                      "Embedding: vocab is 0 and dim is 3 but both must be positive");
    CHECK_THROWS_WITH(Embedding<T>(3, -1), Contains("dim is -1"));
    CHECK_THROWS_WITH(Embedding<T>(3, 2, 0, -1.0),
                      "Embedding: std is -1 but must be finite and >= 0");
    CHECK_THROWS_WITH(Embedding<T>(3, 2, 0, std::numeric_limits<double>::infinity()),
                      Contains("std is inf"));

    Embedding<T> emb(5, 3, 1);
    const Eigen::VectorXi ids = (Eigen::VectorXi(4) << 0, 4, 4, 1).finished();
    const Matrix<T> G = test::random_matrix<T>(4, 3, 2), GL = test::random_matrix<T>(4, 5, 3);
    SECTION("backward before forward, unembed_backward before unembed") {
        CHECK_THROWS_AS(emb.backward(G), std::logic_error);
        CHECK_THROWS_WITH(emb.backward(G), "Embedding::backward: called before forward()");
        emb.forward(ids);
        CHECK_THROWS_AS(emb.unembed_backward(GL), std::logic_error);
        CHECK_THROWS_WITH(emb.unembed_backward(GL),
                          "Embedding::unembed_backward: called before unembed()");
        CHECK(!emb.has_gradients());
    }
    SECTION("ids outside the vocabulary, wrong shapes") {
        const Matrix<T> Y = emb.forward(ids);
        const Matrix<T> dW = emb.backward(G).dW;
        const Matrix<T> logits = emb.unembed(G);
        const Matrix<T> dX = emb.unembed_backward(GL);
        const Matrix<T> W = emb.W;
        const Eigen::VectorXi past = (Eigen::VectorXi(3) << 1, 2, 5).finished();
        CHECK_THROWS_WITH(emb.forward(past), "Embedding::forward: ids[2] is 5 but the vocabulary "
                                             "has 5 tokens (ids 0 to 4)");
        const Eigen::VectorXi negative = (Eigen::VectorXi(2) << -1, 2).finished();
        CHECK_THROWS_WITH(emb.predict(negative), Contains("Embedding::predict: ids[0] is -1"));
        const Eigen::Matrix<std::uint64_t, Eigen::Dynamic, 1> huge =
            Eigen::Matrix<std::uint64_t, Eigen::Dynamic, 1>::Constant(1, ~std::uint64_t{0});
        CHECK_THROWS_WITH(emb.forward(huge), Contains("ids[0] is 18446744073709551615"));
        CHECK_THROWS_WITH(emb.forward(Eigen::VectorXi(0)),
                          "Embedding::forward: ids is 0x1 but must be a non-empty vector");
        CHECK_THROWS_WITH(emb.forward(Eigen::MatrixXi::Zero(2, 2)), Contains("ids is 2x2"));
        CHECK_THROWS_WITH(emb.backward(Matrix<T>::Zero(3, 3)),
                          "Embedding::backward: dY is 3x3 but Y of the last forward is 4x3");
        CHECK_THROWS_WITH(emb.unembed(Matrix<T>::Zero(4, 2)),
                          Contains("Embedding::unembed: X is 4x2") && Contains("3 inputs"));
        Matrix<T> out;
        CHECK_THROWS_WITH(emb.predict_unembed(Matrix<T>::Zero(0, 3), out),
                          Contains("Embedding::predict_unembed: X is 0x3"));
        CHECK_THROWS_WITH(emb.unembed_backward(Matrix<T>::Zero(4, 4)),
                          "Embedding::unembed_backward: dLogits is 4x4 but the logits of the "
                          "last unembed is 4x5");
        CHECK(out.size() == 0);
        CHECK(emb.W == W);  // nothing changed: the table, the caches, the gradients
        CHECK(emb.gradients().dW != dW);  // the head's, held since unembed_backward
        CHECK(emb.backward(G).dW == dW);  // the ids of the last good forward
        CHECK(emb.unembed_backward(GL) == dX);
        CHECK(emb.predict(ids) == Y);
        CHECK(emb.unembed(G) == logits);
    }
}

// ---------------------------------------------------------------------------------------------
// PositionalEmbedding

TEMPLATE_TEST_CASE("PositionalEmbedding: rows added per position, dW summed over sequences",
                   "[embedding]", float, double) {
    using T = TestType;
    PositionalEmbedding<T> pos(3, 2);
    pos.W << 1, 2,
             3, 4,
             5, 6;
    Matrix<T> X = Matrix<T>::Zero(4, 2);  // 2 sequences of 2 positions
    X(3, 1) = 10;
    Matrix<T> Y(4, 2);
    Y << 1, 2,
         3, 4,
         1, 2,
         3, 14;
    CHECK(pos.forward(X, 2) == Y);
    CHECK(pos.predict(X, 2) == Y);
    Matrix<T> Y1(4, 2);  // positions 1 and 2: what generation adds after one token
    Y1 << 3, 4,
          5, 6,
          3, 4,
          5, 16;
    CHECK(pos.predict(X, 2, 1) == Y1);
    Matrix<T> inplace = X;
    pos.predict(inplace, 2, 1, inplace);
    CHECK(inplace == Y1);

    Matrix<T> dY(4, 2);
    dY << 1, 2,
          3, 4,
          5, 6,
          7, 8;
    Matrix<T> dW(3, 2);
    dW << 6, 8,
          10, 12,
          0, 0;  // position 2 unused
    const auto& g = pos.backward(dY);
    CHECK(g.dW == dW);
    CHECK(g.dX == dY);
    CHECK(pos.backward(dY).dW == dW);  // replace
    CHECK(pos.backward(dY, GradientMode::accumulate).dW == 2 * dW);
    pos.clear_gradients();
    CHECK(pos.backward(dY, GradientMode::accumulate).dW == dW);
    pos.zero_gradients();
    CHECK(pos.has_gradients());
    CHECK(pos.gradients().dW.isZero(0));

    CHECK(pos.context() == 3);
    std::string settings;
    pos.for_each_setting([&](const char* name, double) { settings += std::string(name) + " "; });
    CHECK(settings == "context dim ");
    CHECK(pos.template cast<double>().W == pos.W.template cast<double>());
    CHECK(std::string(PositionalEmbedding<T>::kind) == "PositionalEmbedding");
}

TEST_CASE("PositionalEmbedding: gradient check and PyTorch to 1e-12", "[embedding][gradient]") {
    const PositionalEmbedding<double> pos(6, 5, 21);
    const Eigen::MatrixXd X = test::random_matrix<double>(12, 5, 22);
    const Eigen::MatrixXd G = test::random_matrix<double>(12, 5, 23);
    PositionalEmbedding<double> probe = pos;
    probe.forward(X, 4);
    const auto& g = probe.backward(G);
    CHECK(g.dW.bottomRows(2).isZero(0));
    check_passes(backprop::check_gradient(
        [&](const Eigen::MatrixXd& W) {
            PositionalEmbedding<double> changed = pos;
            changed.W = W;
            return (changed.predict(X, 4).array() * G.array()).sum();
        },
        pos.W, g.dW));
    check_passes(backprop::check_gradient(
        [&](const Eigen::MatrixXd& x) { return (pos.predict(x, 4).array() * G.array()).sum(); },
        X, g.dX));

    const auto& c = reference::positional_case;
    PositionalEmbedding<double> torch(6, 5);
    torch.W = test::from_rows(c.W, 6, 5);
    CHECK(test::relative_difference(torch.forward(test::from_rows(c.X, 12, 5), 4),
                                    test::from_rows(c.Y, 12, 5)) < pytorch_tolerance);
    const auto& t = torch.backward(test::from_rows(c.G, 12, 5));
    CHECK(test::relative_difference(t.dX, test::from_rows(c.dX, 12, 5)) < pytorch_tolerance);
    CHECK(test::relative_difference(t.dW, test::from_rows(c.dW, 6, 5)) < pytorch_tolerance);
}

TEMPLATE_TEST_CASE("PositionalEmbedding: bad input throws, names the call and changes nothing",
                   "[embedding]", float, double) {
    using T = TestType;
    CHECK_THROWS_WITH(PositionalEmbedding<T>(0, 4),
                      "PositionalEmbedding: context is 0 and dim is 4 but both must be positive");
    CHECK_THROWS_WITH(PositionalEmbedding<T>(4, 4, 0, std::nan("")), Contains("std is nan"));
    PositionalEmbedding<T> pos(4, 3, 1);
    const Matrix<T> X = test::random_matrix<T>(6, 3, 2), G = test::random_matrix<T>(6, 3, 3);
    CHECK_THROWS_AS(pos.backward(G), std::logic_error);
    CHECK_THROWS_WITH(pos.backward(G), "PositionalEmbedding::backward: called before forward()");
    const Matrix<T> Y = pos.forward(X, 3);
    const auto g = pos.backward(G);
    CHECK_THROWS_WITH(pos.forward(test::random_matrix<T>(10, 3, 4), 5),
                      "PositionalEmbedding::forward: positions 0 to 4 but the context has 4 "
                      "(0 to 3): a sequence longer than the context");
    CHECK_THROWS_WITH(pos.predict(X, 3, 2), Contains("PositionalEmbedding::predict: positions 2 "
                                                     "to 4") &&
                                                Contains("a sequence longer than the context"));
    CHECK_THROWS_WITH(pos.predict(X, 3, -1), Contains("start is -1 but must be >= 0"));
    CHECK_THROWS_WITH(pos.forward(X, 4),
                      "PositionalEmbedding::forward: X is 6x3 but must hold whole sequences of "
                      "T = 4 positions (T >= 1, rows a multiple of T)");
    CHECK_THROWS_WITH(pos.forward(X, 0), Contains("T = 0"));
    CHECK_THROWS_WITH(pos.forward(Matrix<T>::Zero(6, 2), 3),
                      Contains("PositionalEmbedding::forward: X is 6x2") && Contains("3 inputs"));
    CHECK_THROWS_WITH(pos.backward(Matrix<T>::Zero(3, 3)),
                      "PositionalEmbedding::backward: dY is 3x3 but Y of the last forward is 6x3");
    Matrix<T> out = X;
    CHECK_THROWS(pos.predict(X, 3, 3, out));
    CHECK(out == X);
    CHECK(pos.gradients().dW == g.dW);  // nothing changed: gradients, cached T
    CHECK(pos.backward(G).dW == g.dW);
    CHECK(pos.predict(X, 3) == Y);
}

TEMPLATE_TEST_CASE("Embedding, PositionalEmbedding and GELU: files round-trip and check the "
                   "settings",
                   "[embedding][serialize]", float, double) {
    using T = TestType;
    const auto round_trip = [](const auto& saved, auto loaded) {
        std::stringstream file;
        backprop::save_parameters(file, saved);
        backprop::load_parameters(file, loaded);
        return loaded;
    };
    const Embedding<T> emb(9, 4, 1, 0.02);
    CHECK(round_trip(emb, Embedding<T>(9, 4, 2)).W == emb.W);
    const PositionalEmbedding<T> pos(8, 4, 3);
    CHECK(round_trip(pos, PositionalEmbedding<T>(8, 4, 4)).W == pos.W);
    CHECK(round_trip(GELU<T>(GeluApproximation::none), GELU<T>(GeluApproximation::none))
              .approximation() == GeluApproximation::none);

    std::stringstream file;
    backprop::save_parameters(file, emb);
    Embedding<T> other(8, 4, 5);
    const Matrix<T> W = other.W;
    CHECK_THROWS_WITH(backprop::load_parameters(file, other),
                      Contains("Embedding(vocab=9, dim=4)") &&
                          Contains("Embedding(vocab=8, dim=4)"));
    CHECK(other.W == W);
    std::stringstream gelu;
    backprop::save_parameters(gelu, GELU<T>());
    GELU<T> exact(GeluApproximation::none);
    CHECK_THROWS_WITH(backprop::load_parameters(gelu, exact), Contains("GELU(tanh=1)"));
}

// ---------------------------------------------------------------------------------------------
// GELU

TEMPLATE_TEST_CASE("GELU: values at 0, ±1 and large |x|, both forms; settings and cast",
                   "[activations][gelu]", float, double) {
    using T = TestType;
    Matrix<T> X(1, 5);
    X << 0, 1, -1, 40, -40;
    // Φ(1) = 0.8413447460685429, φ(1) = 0.24197072451914337.
    const double Phi1 = 0.8413447460685429, phi1 = 0.24197072451914337;
    Matrix<T> exact(1, 5), exact_slope(1, 5);
    exact << 0, T(Phi1), T(-(1 - Phi1)), 40, 0;
    exact_slope << T(0.5), T(Phi1 + phi1), T(1 - Phi1 - phi1), 1, 0;
    // tanh form at 1: u = √(2/π)·1.044715, t = tanh(u).
    const double u = std::sqrt(2 / 3.14159265358979323846) * 1.044715, t = std::tanh(u);
    const double slope = 0.5 * (1 + t) + 0.5 * (1 - t * t) * std::sqrt(2 / 3.14159265358979323846) *
                                             (1 + 3 * 0.044715);
    Matrix<T> approx(1, 5), approx_slope(1, 5);
    approx << 0, T(0.5 * (1 + t)), T(-0.5 * (1 - t)), 40, 0;
    approx_slope << T(0.5), T(slope), T(1 - slope), 1, 0;

    const Matrix<T> ones = Matrix<T>::Ones(1, 5);
    GELU<T> g;  // tanh by default, as GPT-2
    CHECK(g.approximation() == GeluApproximation::tanh);
    CHECK(test::relative_difference(g.forward(X), approx) < test::rounding_tolerance<T>);
    CHECK(test::relative_difference(g.backward(ones).dX, approx_slope) <
          test::rounding_tolerance<T>);
    GELU<T> e(GeluApproximation::none);
    CHECK(test::relative_difference(e.forward(X), exact) < test::rounding_tolerance<T>);
    CHECK(test::relative_difference(e.predict(X), exact) < test::rounding_tolerance<T>);
    CHECK(test::relative_difference(e.backward(ones).dX, exact_slope) <
          test::rounding_tolerance<T>);
    // The two forms differ: by 1.5e-4 at x = 1.
    CHECK(test::relative_difference(g.forward(X), e.forward(X)) > 1e-6);

    std::string settings;
    g.for_each_setting([&](const char* name, double v) { settings += name + std::to_string(v); });
    e.for_each_setting([&](const char* name, double v) { settings += name + std::to_string(v); });
    CHECK(settings == "tanh1.000000tanh0.000000");
    CHECK(e.template cast<double>().approximation() == GeluApproximation::none);
    CHECK(std::string(GELU<T>::kind) == "GELU");
    // Like the other activations: backward first, shapes.
    GELU<T> fresh;
    CHECK_THROWS_WITH(fresh.backward(ones), "GELU::backward: called before forward()");
    CHECK_THROWS_WITH(g.backward(Matrix<T>::Ones(2, 5)), Contains("GELU::backward: dY is 2x5"));
    CHECK_THROWS_WITH(g.forward(Matrix<T>(0, 5)), Contains("GELU::forward: X is 0x5"));
    CHECK(test::relative_difference(g.backward(ones).dX, approx_slope) <
          test::rounding_tolerance<T>);  // unchanged by the throws
}

TEST_CASE("GELU: gradient checks against finite differences, around 0 and at large |x|",
          "[activations][gelu][gradient]") {
    // Not below x = −3: there GELU' is under 1e-4 and falls to 1e-9 at x = −6 (tanh form), where
    // the central difference's rounding (about 1e-11 here) is no longer small beside it. Those
    // values are checked against PyTorch (to 1e-12 of the largest) and by their limits below.
    Eigen::MatrixXd X(3, 8);
    X.row(0) << -1e-3, -1e-7, 0, 1e-7, 1e-3, 0.5, -0.5, 0.1;
    X.row(1) << -3, -2, -1.5, 1.5, 3, 6, 12, 30;
    X.row(2) = 3 * test::random_matrix<double>(1, 8, 31);
    Eigen::MatrixXd far(1, 4);
    far << -30, -12, 12, 30;
    for (auto form : {GeluApproximation::tanh, GeluApproximation::none}) {
        CAPTURE(form == GeluApproximation::tanh);
        check_passes(backprop::gradient_check(GELU<double>(form), X));
        check_passes(backprop::gradient_check(GELU<double, 8>(form), X));
        // The limits: GELU(x) → max(x, 0) and GELU'(x) → [x > 0], without NaN.
        GELU<double> gelu(form);
        const Eigen::MatrixXd Y = gelu.forward(far);
        const Eigen::MatrixXd dX = gelu.backward(Eigen::MatrixXd::Ones(1, 4)).dX;
        CHECK(std::abs(Y(0)) < 1e-30);
        CHECK(std::abs(Y(1)) < 1e-30);
        CHECK(Y(2) == 12);
        CHECK(Y(3) == 30);
        CHECK(std::abs(dX(0)) < 1e-30);
        CHECK(std::abs(dX(1)) < 1e-30);
        CHECK(dX(2) == 1);
        CHECK(dX(3) == 1);
    }
}

TEST_CASE("GELU: PyTorch's GELU, approximate 'tanh' and 'none', to 1e-12",
          "[activations][gelu][pytorch]") {
    const Eigen::MatrixXd X = test::from_rows(reference::gelu_X, 4, 8);
    const Eigen::MatrixXd G = test::from_rows(reference::gelu_G, 4, 8);
    for (const auto& c : reference::gelu_cases) {
        CAPTURE(c.approximate);
        GELU<double> gelu(std::string(c.approximate) == "tanh" ? GeluApproximation::tanh
                                                                : GeluApproximation::none);
        CHECK(test::relative_difference(gelu.forward(X), test::from_rows(c.Y, 4, 8)) <
              pytorch_tolerance);
        CHECK(test::relative_difference(gelu.backward(G).dX, test::from_rows(c.dX, 4, 8)) <
              pytorch_tolerance);
    }
}
