// Tests of layers/attention.hpp (CausalSelfAttention): gradient checks, the causal mask,
// accumulation, the key/value cache, PyTorch's values, bad input.
#include "helpers.hpp"
#include "reference/pytorch_reference_attention.hpp"

#include <backprop/check/gradient_check.hpp>
#include <backprop/layers/attention.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

using backprop::CausalSelfAttention;
using backprop::GradientMode;
using Catch::Matchers::Contains;

namespace {

constexpr double pytorch_tolerance = 1e-12;

template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

/// X (rows, cols) uniform in [−2, 2): wide enough that the softmax rows are far from flat.
template <typename T>
Matrix<T> spread(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
    return 2 * test::random_matrix<T>(rows, cols, seed);
}

/// The value of the parameter `name` of `layer`, as a double matrix.
template <typename Layer>
Eigen::MatrixXd parameter_value(const Layer& layer, const std::string& name, bool gradient) {
    Eigen::MatrixXd value;
    layer.for_each_parameter([&](const auto& p) {
        if (name == p.name) {
            value = (gradient ? p.gradient : p.value).template cast<double>();
        }
    });
    return value;
}

}  // namespace

TEST_CASE("CausalSelfAttention: gradient checks against finite differences, every parameter",
          "[attention][gradient]") {
    // 3 heads of size 2, B = 2 sequences of T = 4: the mask cuts most of each head's scores.
    struct Shape {
        Eigen::Index B, T, C, H;
    };
    for (const Shape s : {Shape{2, 4, 6, 3}, Shape{1, 5, 4, 1}, Shape{3, 3, 8, 4}}) {
        CAPTURE(s.B, s.T, s.C, s.H);
        const CausalSelfAttention<double> layer(s.C, s.H, 21);
        const Eigen::MatrixXd X = spread<double>(s.B * s.T, s.C, 22);
        const Eigen::MatrixXd G = test::random_matrix<double>(s.B * s.T, s.C, 23);
        auto probe = layer;
        probe.forward(X, s.T);
        const Eigen::MatrixXd dX = probe.backward(G).dX;
        const auto loss = [&](CausalSelfAttention<double> copy, const Eigen::MatrixXd& x) {
            return (copy.forward(x, s.T).array() * G.array()).sum();
        };
        const auto e = backprop::check_gradient(
            [&](const Eigen::MatrixXd& x) { return loss(layer, x); }, X, dX);
        CAPTURE(e.max_relative_error);
        CHECK(e.passes(test::gradient_tolerance<double>));

        std::vector<std::string> names;
        layer.for_each_parameter([&](const auto& p) { names.emplace_back(p.name); });
        CHECK(names == std::vector<std::string>{"qkv.W", "qkv.b", "proj.W", "proj.b"});
        for (const auto& name : names) {
            const auto loss_at = [&](const Eigen::MatrixXd& value) {
                auto changed = layer;
                changed.for_each_parameter([&](auto p) {
                    if (name == p.name) p.value = value;
                });
                return loss(changed, X);
            };
            const Eigen::MatrixXd value = parameter_value(layer, name, false);
            const Eigen::MatrixXd analytic = parameter_value(probe, name, true);
            if (name != "qkv.b") {
                const auto error = backprop::check_gradient(loss_at, value, analytic);
                CAPTURE(name, error.max_relative_error);
                CHECK(error.passes(test::gradient_tolerance<double>));
                continue;
            }
            // The bias of the keys has no gradient: it adds q·b to a whole row of S, which the
            // softmax ignores. Both sides are 0 there (to rounding), so the relative check is
            // made on the Q and V columns, and the K columns are checked to be 0.
            const Eigen::Index C = s.C;
            CHECK(analytic.middleCols(C, C).cwiseAbs().maxCoeff() < 1e-14);
            const auto qv = [&](const Eigen::MatrixXd& v) {
                Eigen::MatrixXd b = value;
                b.leftCols(C) = v.leftCols(C);
                b.rightCols(C) = v.rightCols(C);
                return b;
            };
            Eigen::MatrixXd ends(1, 2 * C), ends_analytic(1, 2 * C);
            ends << value.leftCols(C), value.rightCols(C);
            ends_analytic << analytic.leftCols(C), analytic.rightCols(C);
            const auto error = backprop::check_gradient(
                [&](const Eigen::MatrixXd& v) { return loss_at(qv(v)); }, ends, ends_analytic);
            const auto keys = backprop::check_gradient(
                [&](const Eigen::MatrixXd& v) {
                    Eigen::MatrixXd b = value;
                    b.middleCols(C, C) = v;
                    return loss_at(b);
                },
                value.middleCols(C, C), analytic.middleCols(C, C));
            CAPTURE(error.max_relative_error, keys.max_abs_numeric);
            CHECK(error.passes(test::gradient_tolerance<double>));
            CHECK(keys.max_abs_numeric < 1e-9);
        }
    }
}

TEMPLATE_TEST_CASE("CausalSelfAttention: a position never sees a later one",
                   "[attention]", float, double) {
    using T = TestType;
    const Eigen::Index steps = 5, C = 6;
    const CausalSelfAttention<T> layer(C, 2, 3);
    const Matrix<T> X = spread<T>(2 * steps, C, 4);
    Matrix<T> Y, changed_Y;
    layer.predict(X, steps, Y);
    for (Eigen::Index t = 0; t < steps; ++t) {
        CAPTURE(t);
        Matrix<T> changed = X;
        changed.row(steps + t).array() += T(1);  // position t of sequence 1
        layer.predict(changed, steps, changed_Y);
        CHECK(changed_Y.topRows(steps) == Y.topRows(steps));  // sequence 0: untouched
        CHECK(changed_Y.middleRows(steps, t) == Y.middleRows(steps, t));  // earlier positions
        for (Eigen::Index later = t; later < steps; ++later) {
            CHECK(changed_Y.row(steps + later) != Y.row(steps + later));
        }
    }
    // The first position attends to itself alone: Y = proj(V) of that row.
    const Matrix<T> V = layer.qkv.predict(X.topRows(1)).rightCols(C);
    CHECK(test::relative_difference(Y.topRows(1), layer.proj.predict(V)) <
          test::rounding_tolerance<T>);
}

TEMPLATE_TEST_CASE("CausalSelfAttention: PyTorch's attention agrees to 1e-12",
                   "[attention][pytorch]", double) {
    REQUIRE(reference::attention_cases.size() == 3);
    for (const auto& c : reference::attention_cases) {
        CAPTURE(c.B, c.T, c.C, c.H);
        const Eigen::Index rows = c.B * c.T;
        CausalSelfAttention<double> layer(c.C, c.H);
        layer.qkv.W = test::from_rows(c.qkv_W, c.C, 3 * c.C);
        layer.qkv.b = test::from_rows(c.qkv_b, 1, 3 * c.C);
        layer.proj.W = test::from_rows(c.proj_W, c.C, c.C);
        layer.proj.b = test::from_rows(c.proj_b, 1, c.C);
        const Eigen::MatrixXd X = test::from_rows(c.X, rows, c.C);
        CHECK(test::relative_difference(layer.forward(X, c.T),
                                        test::from_rows(c.Y, rows, c.C)) < pytorch_tolerance);
        const auto& g = layer.backward(test::from_rows(c.G, rows, c.C));
        CHECK(test::relative_difference(g.dX, test::from_rows(c.dX, rows, c.C)) <
              pytorch_tolerance);
        const auto& dqkv = layer.qkv.gradients();
        const auto& dproj = layer.proj.gradients();
        CHECK(test::relative_difference(dqkv.dW, test::from_rows(c.qkv_dW, c.C, 3 * c.C)) <
              pytorch_tolerance);
        CHECK(test::relative_difference(dqkv.db, test::from_rows(c.qkv_db, 1, 3 * c.C)) <
              pytorch_tolerance);
        CHECK(test::relative_difference(dproj.dW, test::from_rows(c.proj_dW, c.C, c.C)) <
              pytorch_tolerance);
        CHECK(test::relative_difference(dproj.db, test::from_rows(c.proj_db, 1, c.C)) <
              pytorch_tolerance);
        Eigen::MatrixXd Y;
        layer.predict(X, c.T, Y);
        CHECK(test::relative_difference(Y, test::from_rows(c.Y, rows, c.C)) < pytorch_tolerance);
    }
}

TEMPLATE_TEST_CASE("CausalSelfAttention: accumulate adds the parameter gradients; predict "
                   "keeps nothing",
                   "[attention]", float, double) {
    using T = TestType;
    const CausalSelfAttention<T> layer(8, 2, 5);
    const Matrix<T> X1 = spread<T>(6, 8, 1), X2 = spread<T>(8, 8, 2);
    const Matrix<T> G1 = test::random_matrix<T>(6, 8, 3), G2 = test::random_matrix<T>(8, 8, 4);
    auto first = layer, second = layer, both = layer;
    first.forward(X1, 3);
    first.backward(G1);
    second.forward(X2, 4);
    const Matrix<T> dX2 = second.backward(G2).dX;

    CHECK_FALSE(both.has_gradients());
    both.forward(X1, 3);
    both.backward(G1, GradientMode::accumulate);  // no gradients held: the same as replace
    both.forward(X2, 4);
    Matrix<T> Y;
    both.predict(X1, 2, Y);  // between forward and backward: changes nothing
    CHECK(both.backward(G2, GradientMode::accumulate).dX == dX2);  // dX is this batch's alone
    CHECK(both.has_gradients());
    const double tolerance = 10 * test::rounding_tolerance<T>;
    CHECK(test::relative_difference(both.qkv.gradients().dW,
                                    first.qkv.gradients().dW + second.qkv.gradients().dW) <
          tolerance);
    CHECK(test::relative_difference(both.proj.gradients().db,
                                    first.proj.gradients().db + second.proj.gradients().db) <
          tolerance);

    both.clear_gradients();
    CHECK_FALSE(both.has_gradients());
    CHECK(both.qkv.gradients().dW.isZero());
    both.zero_gradients();
    CHECK(both.has_gradients());

    // predict() into X itself: X is read in full before Y is written.
    Matrix<T> inplace = X2;
    layer.predict(inplace, 4, inplace);
    Matrix<T> expected;
    layer.predict(X2, 4, expected);
    CHECK(inplace == expected);
}

TEMPLATE_TEST_CASE("CausalSelfAttention: the key/value cache equals attention over the whole "
                   "sequence",
                   "[attention]", float, double) {
    using T = TestType;
    const double tolerance = sizeof(T) == sizeof(double) ? 1e-12 : 1e-5;
    const Eigen::Index steps = 9, C = 12;
    const CausalSelfAttention<T> layer(C, 3, 6);
    const Matrix<T> X = spread<T>(steps, C, 7);
    Matrix<T> whole, Y;
    layer.predict(X, steps, whole);

    SECTION("one position at a time") {
        auto cache = layer.make_cache(steps);
        for (Eigen::Index t = 0; t < steps; ++t) {
            layer.predict(X.row(t), cache, Y);
            CAPTURE(t);
            CHECK(test::relative_difference(Y, whole.row(t)) < tolerance);
        }
        CHECK(cache.length == steps);
    }
    SECTION("in chunks, in a cache with room to spare") {
        auto cache = layer.make_cache(steps + 3);
        Eigen::Index t = 0;
        for (const Eigen::Index n : {3, 1, 4, 1}) {
            layer.predict(X.middleRows(t, n), cache, Y);
            CAPTURE(t, n);
            CHECK(test::relative_difference(Y, whole.middleRows(t, n)) < tolerance);
            t += n;
        }
        CHECK(cache.length == steps);
    }
    SECTION("the whole sequence at once") {
        auto cache = layer.make_cache(steps);
        layer.predict(X, cache, Y);
        CHECK(test::relative_difference(Y, whole) < tolerance);
    }
}

TEMPLATE_TEST_CASE("CausalSelfAttention: settings, cast, bad input throws and changes nothing",
                   "[attention]", float, double) {
    using T = TestType;
    CausalSelfAttention<T> layer(6, 3, 8);
    CHECK(layer.embed() == 6);
    CHECK(layer.heads() == 3);
    CHECK(layer.head_size() == 2);
    CHECK(std::string(CausalSelfAttention<T>::kind) == "CausalSelfAttention");
    std::string settings;
    layer.for_each_setting([&](const char* name, double value) {
        settings += std::string(name) + "=" + std::to_string(int(value)) + " ";
    });
    CHECK(settings == "embed=6 heads=3 ");
    const auto d = layer.template cast<double>();
    CHECK(d.qkv.W == layer.qkv.W.template cast<double>());
    CHECK(d.proj.b == layer.proj.b.template cast<double>());
    CHECK(d.heads() == 3);

    CHECK_THROWS_WITH(CausalSelfAttention<T>(6, 4),
                      Contains("CausalSelfAttention: embed is 6 and heads is 4"));
    CHECK_THROWS_AS(CausalSelfAttention<T>(0, 1), std::invalid_argument);
    CHECK_THROWS_AS(CausalSelfAttention<T>(6, 0), std::invalid_argument);

    const Matrix<T> X = spread<T>(8, 6, 9), G = test::random_matrix<T>(8, 6, 10);
    CHECK_THROWS_WITH(layer.backward(G),
                      Contains("CausalSelfAttention::backward: called before forward()"));
    CHECK_THROWS_AS(layer.backward(G), std::logic_error);
    auto reference = layer;
    reference.forward(X, 4);
    const auto expected = reference.backward(G);
    layer.forward(X, 4);

    CHECK_THROWS_WITH(layer.forward(Matrix<T>::Zero(8, 5), 4),
                      Contains("CausalSelfAttention::forward: X is 8x5") &&
                          Contains("6 inputs"));
    CHECK_THROWS_WITH(layer.forward(X, 3),
                      Contains("CausalSelfAttention::forward: X is 8x6") &&
                          Contains("T = 3"));
    CHECK_THROWS_WITH(layer.forward(X, 0),
                      Contains("CausalSelfAttention::forward: T is 0 but must be at least 1"));
    Matrix<T> Y;
    CHECK_THROWS_WITH(layer.predict(X, 5, Y), Contains("CausalSelfAttention::predict: X is 8x6"));
    CHECK(Y.size() == 0);
    CHECK_THROWS_WITH(layer.backward(Matrix<T>::Zero(4, 6)),
                      Contains("CausalSelfAttention::backward: dY is 4x6 but Y of the last "
                               "forward is 8x6"));
    CHECK(layer.backward(G).dX == expected.dX);  // the failed calls changed nothing
    CHECK(layer.qkv.gradients().dW == reference.qkv.gradients().dW);

    CHECK_THROWS_WITH(layer.make_cache(0), Contains("make_cache: context is 0"));
    auto cache = layer.make_cache(4);
    layer.predict(X.topRows(3), cache, Y);
    const auto before = cache;
    const Matrix<T> Y_before = Y;
    CHECK_THROWS_WITH(layer.predict(X.middleRows(3, 2), cache, Y),
                      Contains("CausalSelfAttention::predict: X has 2 rows but the cache holds"
                               " 3") &&
                          Contains("a sequence longer than the context"));
    CHECK_THROWS_WITH(layer.predict(Matrix<T>::Zero(1, 5), cache, Y),
                      Contains("CausalSelfAttention::predict: X is 1x5"));
    auto other = CausalSelfAttention<T>(4, 2).make_cache(4);
    CHECK_THROWS_WITH(layer.predict(X.topRows(1), other, Y),
                      Contains("is not one of width 6"));
    CHECK(cache.length == before.length);
    CHECK(cache.K == before.K);
    CHECK(cache.V == before.V);
    CHECK(Y == Y_before);
    layer.predict(X.row(3), cache, Y);  // the last position still fits
    CHECK(cache.length == 4);
}
