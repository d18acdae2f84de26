// Tests of optim/optimizer.hpp, optim/momentum.hpp, optim/adam.hpp and optim/clip.hpp: the
// optimisers that keep state beside each parameter, what every step checks first, gradient
// accumulation, and gradient clipping (kept here beside the optimisers it feeds).
#include "helpers.hpp"
#include "reference/pytorch_reference_nonlinear.hpp"
#include "reference/pytorch_reference_optim.hpp"

#include <backprop/layers/activations.hpp>
#include <backprop/layers/dense.hpp>
#include <backprop/losses/mse.hpp>
#include <backprop/losses/softmax_cross_entropy.hpp>
#include <backprop/nn/sequential.hpp>
#include <backprop/optim/adam.hpp>
#include <backprop/optim/clip.hpp>
#include <backprop/optim/momentum.hpp>
#include <backprop/optim/sgd.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

using backprop::Adam;
using backprop::AdamW;
using backprop::clip_grad_norm;
using backprop::Dense;
using backprop::GradientMode;
using backprop::Momentum;
using backprop::OptimizerKind;
using backprop::SGD;
using Catch::Matchers::Contains;

namespace {

template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

/// The network of most tests, 3 → 4 → 2: Y = tanh(X·W1 + b1)·W2 + b2.
template <typename T>
using Net = backprop::Sequential<Dense<T>, backprop::Tanh<T>, Dense<T>>;

template <typename T>
Net<T> make_net(std::uint64_t seed = 1) {
    return Net<T>(Dense<T>(3, 4, seed), backprop::Tanh<T>(), Dense<T>(4, 2, seed + 1));
}

/// One forward and backward of `net` on a random batch of 5 (dY random too), replacing its
/// gradients.
template <typename T>
void backward_on_random_batch(Net<T>& net, std::uint64_t seed) {
    net.forward(test::random_matrix<T>(5, 3, seed));
    net.backward(test::random_matrix<T>(5, 2, seed + 1));
}

/// Makes backward() leave exactly dW and db in `layer`: with X = [I; 0] (in + 1 rows) and
/// dZ = [dW; db − Σ rows of dW], dW = Xᵀ·dZ picks the first `in` rows and db = Σ rows dZ.
template <typename Layer, typename GW, typename GB>
void set_gradients(Layer& layer, const GW& dW, const GB& db) {
    using T = typename Layer::Weights::Scalar;
    const Eigen::Index in = layer.in();
    Matrix<T> X = Matrix<T>::Zero(in + 1, in);
    X.topRows(in).setIdentity();
    typename Layer::Output dZ(in + 1, layer.out());
    dZ.topRows(in) = dW.template cast<T>();
    dZ.row(in) = db.template cast<T>() - dZ.topRows(in).colwise().sum();
    layer.forward(X);
    layer.backward(dZ);
}

/// Every parameter's value and optimiser state (moments, then kind and step count), in double:
/// two equal snapshots mean nothing a step could change differs.
template <typename Model>
std::vector<Eigen::MatrixXd> snapshot(const Model& model) {
    std::vector<Eigen::MatrixXd> all;
    backprop::for_each_parameter(model, [&all](const auto& p) {
        all.push_back(p.value.template cast<double>());
        all.push_back(p.state.moment1.template cast<double>());
        all.push_back(p.state.moment2.template cast<double>());
        Eigen::MatrixXd meta(1, 2);
        meta << static_cast<double>(p.state.kind), static_cast<double>(p.state.steps);
        all.push_back(meta);
    });
    return all;
}

bool same(const std::vector<Eigen::MatrixXd>& a, const std::vector<Eigen::MatrixXd>& b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].rows() != b[i].rows() || a[i].cols() != b[i].cols() || a[i] != b[i]) {
            return false;
        }
    }
    return true;
}

/// The steps taken by the state of W of a layer.
template <typename Layer>
std::int64_t steps_of(Layer& layer) {
    std::int64_t steps = -1;
    layer.for_each_parameter([&steps](const auto& p) {
        if (std::string(p.name) == "W") {
            steps = p.state.steps;
        }
    });
    return steps;
}

/// a agrees with the reference b to `tolerance` relative to b's scale; a comparison of zeros
/// proves nothing, so a zero reference fails.
template <typename A, typename B>
void check_close(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b, double tolerance) {
    REQUIRE(b.template cast<double>().norm() > 0);
    CHECK(test::relative_difference(a, b) < tolerance);
}

/// Steps `layer` with the gradients of the old reference in turn and compares it with PyTorch
/// after each step.
template <typename Optimizer>
void check_against_pytorch(Optimizer& optimizer, const reference::OptimizerCase& expected) {
    CAPTURE(expected.name);
    Dense<double> layer(3, 2);
    layer.W = test::from_rows(reference::optimizer_W0, 3, 2);
    layer.b = test::from_rows(reference::optimizer_b0, 1, 2);
    REQUIRE(reference::optimizer_grads.size() == expected.after.size());
    for (std::size_t k = 0; k < expected.after.size(); ++k) {
        CAPTURE(k);
        set_gradients(layer, test::from_rows(reference::optimizer_grads[k].W, 3, 2),
                      test::from_rows(reference::optimizer_grads[k].b, 1, 2));
        optimizer.step(layer);
        check_close(layer.W, test::from_rows(expected.after[k].W, 3, 2), 1e-12);
        check_close(layer.b, test::from_rows(expected.after[k].b, 1, 2), 1e-12);
    }
}

/// Trains the reference network as make_reference_optim.py did: for each step, forward and
/// backward with MSE on its batch, clip if the case clips, set the step's learning rate, step.
template <typename Optimizer>
void train_like_pytorch(Optimizer& optimizer, const reference::optim::Case& expected) {
    namespace ref = reference::optim;
    Net<double> net = make_net<double>();
    net.layer<0>().W = test::from_rows(ref::start.W1, 3, 4);
    net.layer<0>().b = test::from_rows(ref::start.b1, 1, 4);
    net.layer<2>().W = test::from_rows(ref::start.W2, 4, 2);
    net.layer<2>().b = test::from_rows(ref::start.b2, 1, 2);
    backprop::MSE<double> mse;
    REQUIRE(expected.after.size() == ref::batches.size());
    REQUIRE(expected.lr.size() == ref::batches.size());
    for (std::size_t k = 0; k < ref::batches.size(); ++k) {
        CAPTURE(k);
        const auto& Y = net.forward(test::from_rows(ref::batches[k].X, 4, 3));
        mse.forward(Y, test::from_rows(ref::batches[k].T, 4, 2));
        net.backward(mse.backward());
        if (expected.max_norm > 0) {
            const double norm = clip_grad_norm(net, expected.max_norm);
            CHECK(std::abs(norm - expected.norms[k]) < 1e-12 * expected.norms[k]);
        }
        optimizer.set_lr(expected.lr[k]);
        optimizer.step(net);
        const auto& after = expected.after[k];
        check_close(net.layer<0>().W, test::from_rows(after.W1, 3, 4), 1e-12);
        check_close(net.layer<0>().b, test::from_rows(after.b1, 1, 4), 1e-12);
        check_close(net.layer<2>().W, test::from_rows(after.W2, 4, 2), 1e-12);
        check_close(net.layer<2>().b, test::from_rows(after.b2, 1, 2), 1e-12);
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Values: by hand and against PyTorch

TEMPLATE_TEST_CASE("Momentum: two steps computed by hand", "[momentum]", float, double) {
    using T = TestType;
    Dense<T> layer(1, 1);
    layer.W << 1;
    layer.b << 0;
    const Matrix<T> dW = Matrix<T>::Constant(1, 1, 2);
    const Matrix<T> db = Matrix<T>::Constant(1, 1, 1);

    SECTION("classical: v = g, then v = μ·v + g") {
        Momentum<T> momentum(T(0.5), T(0.75));
        set_gradients(layer, dW, db);
        momentum.step(layer);  // v = 2, W = 1 − 0.5·2 = 0
        CHECK(layer.W(0, 0) == T(0));
        set_gradients(layer, dW, db);
        momentum.step(layer);  // v = 0.75·2 + 2 = 3.5, W = 0 − 0.5·3.5
        CHECK(layer.W(0, 0) == T(-1.75));
        CHECK(layer.b(0, 0) == T(-0.5 - 0.5 * 1.75));
        CHECK(steps_of(layer) == 2);
    }
    SECTION("Nesterov: the step is g + μ·v") {
        Momentum<T> nesterov(T(0.5), T(0.75), true);
        CHECK(nesterov.nesterov());
        set_gradients(layer, dW, db);
        nesterov.step(layer);  // v = 2, W = 1 − 0.5·(2 + 1.5) = −0.75
        CHECK(layer.W(0, 0) == T(-0.75));
        set_gradients(layer, dW, db);
        nesterov.step(layer);  // v = 3.5, W = −0.75 − 0.5·(2 + 2.625)
        CHECK(layer.W(0, 0) == T(-0.75 - 0.5 * 4.625));
    }
    SECTION("set_lr between steps: the new rate, the same velocity") {
        Momentum<T> momentum(T(0.5), T(0.75));
        set_gradients(layer, dW, db);
        momentum.step(layer);  // v = 2, W = 0
        momentum.set_lr(T(0.25));
        CHECK(momentum.lr() == T(0.25));
        set_gradients(layer, dW, db);
        momentum.step(layer);  // v = 0.75·2 + 2 = 3.5 (kept), W = 0 − 0.25·3.5
        CHECK(layer.W(0, 0) == T(-0.875));
        CHECK(steps_of(layer) == 2);
    }
    SECTION("weight decay: g + wd·p takes the place of g") {
        Momentum<T> momentum(T(0.5), T(0.75), false, T(0.5));
        set_gradients(layer, dW, db);
        momentum.step(layer);  // g = 2 + 0.5·1 = 2.5 = v, W = 1 − 0.5·2.5 = −0.25
        CHECK(layer.W(0, 0) == T(-0.25));
        set_gradients(layer, dW, db);
        momentum.step(layer);  // g = 2 − 0.125, v = 0.75·2.5 + 1.875 = 3.75, W = −0.25 − 1.875
        CHECK(layer.W(0, 0) == T(-2.125));
    }
}

TEMPLATE_TEST_CASE("Adam: the first step moves each parameter by lr against its gradient's sign",
                   "[adam]", float, double) {
    // t = 1: m̂ = g and v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
    Dense<TestType> layer(4, 3, 1);
    const auto W = layer.W;
    const Matrix<TestType> dW = test::random_matrix<TestType>(4, 3, 2);
    set_gradients(layer, dW, test::random_matrix<TestType>(1, 3, 3));
    Adam<TestType> adam(TestType(0.1));
    CHECK(steps_of(layer) == 0);
    adam.step(layer);
    CHECK(steps_of(layer) == 1);
    for (Eigen::Index i = 0; i < W.size(); ++i) {
        const TestType g = dW(i);
        CHECK(W(i) - layer.W(i) == Approx(0.1 * g / (std::abs(g) + 1e-8)).epsilon(1e-4));
    }
}

TEST_CASE("Momentum, Nesterov and Adam: four steps agree with torch.optim to 1e-12",
          "[momentum][adam][pytorch]") {
    const auto& cases = reference::optimizer_cases;
    REQUIRE(cases.size() == 4);
    for (int k = 0; k < 2; ++k) {
        REQUIRE(cases[k].nesterov == (k == 1));
        Momentum<double> momentum(cases[k].lr, cases[k].momentum, cases[k].nesterov);
        check_against_pytorch(momentum, cases[k]);
    }
    for (int k = 2; k < 4; ++k) {
        Adam<double> adam(cases[k].lr, cases[k].beta1, cases[k].beta2, cases[k].eps);
        check_against_pytorch(adam, cases[k]);
    }
}

TEST_CASE("Weight decay, AdamW, a learning rate changed mid-run and clipping: five steps of a "
          "two-layer network agree with PyTorch to 1e-12",
          "[sgd][momentum][adam][clip][pytorch]") {
    // The learning rate changed by set_lr at step 3 keeps the velocities and moments, as
    // PyTorch's param_groups[0]['lr'] = … does; a restart would land elsewhere.
    std::size_t run = 0;
    for (const auto& c : reference::optim::cases) {
        CAPTURE(c.name);
        const std::string kind = c.optimizer;
        if (kind == "SGD") {
            SGD<double> sgd(c.lr[0], c.weight_decay);
            train_like_pytorch(sgd, c);
        } else if (kind == "Momentum") {
            Momentum<double> momentum(c.lr[0], c.momentum, c.nesterov, c.weight_decay);
            train_like_pytorch(momentum, c);
        } else if (kind == "Adam") {
            REQUIRE(c.weight_decay == 0);
            Adam<double> adam(c.lr[0], c.beta1, c.beta2, c.eps);
            train_like_pytorch(adam, c);
        } else {
            REQUIRE(kind == "AdamW");
            AdamW<double> adamw(c.lr[0], c.beta1, c.beta2, c.eps, c.weight_decay);
            train_like_pytorch(adamw, c);
        }
        ++run;
    }
    CHECK(run == 10);
}

TEMPLATE_TEST_CASE("Momentum and Adam: state per layer, fixed sizes", "[momentum][adam]", float,
                   double) {
    // Two layers stepped by one optimiser keep separate moments: stepping them together is the
    // same as stepping each with an optimiser of its own.
    Dense<TestType, 3, 2> a(1);
    Dense<TestType> b(3, 2, 1);
    Dense<TestType, 3, 2> a_alone = a;
    Dense<TestType> b_alone = b;
    Adam<TestType> shared;
    Adam<TestType> only_a;
    Adam<TestType> only_b;
    for (int step = 0; step < 3; ++step) {
        const Matrix<TestType> dWa = test::random_matrix<TestType>(3, 2, 10 + step);
        const Matrix<TestType> dba = test::random_matrix<TestType>(1, 2, 30 + step);
        const Matrix<TestType> dWb = test::random_matrix<TestType>(3, 2, 20 + step);
        const Matrix<TestType> dbb = test::random_matrix<TestType>(1, 2, 40 + step);
        set_gradients(a, dWa, dba);
        set_gradients(b, dWb, dbb);
        set_gradients(a_alone, dWa, dba);
        set_gradients(b_alone, dWb, dbb);
        shared.step(a);
        shared.step(b);
        only_a.step(a_alone);
        only_b.step(b_alone);
    }
    CHECK(steps_of(a) == 3);
    CHECK(a.W == a_alone.W);
    CHECK(b.W == b_alone.W);
    CHECK(a.b == a_alone.b);
    CHECK(b.b == b_alone.b);
}

// ---------------------------------------------------------------------------------------------
// Hyper-parameters

TEMPLATE_TEST_CASE("Momentum and Adam: bad hyperparameters", "[momentum][adam][bad-input]", float,
                   double) {
    using T = TestType;
    using limits = std::numeric_limits<T>;
    for (T lr : {T(0), T(-1), limits::quiet_NaN(), limits::infinity()}) {
        CHECK_THROWS_WITH(Momentum<T>(lr, T(0.9)), Contains("Momentum: the learning rate is"));
        CHECK_THROWS_WITH(Adam<T>(lr), Contains("Adam: the learning rate is"));
        CHECK_THROWS_WITH(AdamW<T>(lr), Contains("AdamW: the learning rate is"));
    }
    CHECK_THROWS_WITH(Momentum<T>(T(0.1), T(-0.5)), Contains("Momentum: the momentum is -0.5"));
    CHECK_THROWS_WITH(Momentum<T>(T(0.1), limits::quiet_NaN()), Contains("the momentum is"));
    CHECK_THROWS_WITH(Momentum<T>(T(0.1), T(0), true), Contains("positive for Nesterov"));
    CHECK_THROWS_WITH(Momentum<T>(T(0.1), T(0.9), false, T(-1)),
                      Contains("Momentum: the weight decay is -1"));
    CHECK_NOTHROW(Momentum<T>(T(0.1), T(0)));
    for (T beta : {T(-0.1), T(1), limits::quiet_NaN()}) {
        CHECK_THROWS_WITH(Adam<T>(T(0.1), beta), Contains("Adam: the betas are"));
        CHECK_THROWS_WITH(Adam<T>(T(0.1), T(0.9), beta), Contains("each must be in [0, 1)"));
    }
    CHECK_THROWS_WITH(Adam<T>(T(0.1), T(0.9), T(0.99), T(-1)), Contains("Adam: eps is -1"));
    CHECK_THROWS_WITH(Adam<T>(T(0.1), T(0.9), T(0.99), limits::infinity()), Contains("eps is"));
    CHECK_THROWS_WITH(AdamW<T>(T(0.1), T(0.9), T(0.99), T(1e-8), limits::quiet_NaN()),
                      Contains("AdamW: the weight decay is"));
    CHECK_THROWS_WITH(AdamW<T>(T(0.1), T(0.9), T(0.99), T(1e-8), T(-0.1)),
                      Contains("AdamW: the weight decay is"));
}

TEMPLATE_TEST_CASE("Adam: eps = 0 is refused, and a gradient that is zero from the first step "
                   "(a dead ReLU unit) never gives NaN",
                   "[adam][bad-input]", float, double) {
    // PyTorch accepts eps = 0, and then m̂/(√v̂ + ε) = 0/0 for a zero gradient.
    using T = TestType;
    CHECK_THROWS_AS(Adam<T>(T(0.1), T(0.9), T(0.999), T(0)), std::invalid_argument);
    CHECK_THROWS_WITH(Adam<T>(T(0.1), T(0.9), T(0.999), T(0)), Contains("Adam: eps is 0"));
    CHECK_THROWS_WITH(AdamW<T>(T(0.1), T(0.9), T(0.999), T(0)), Contains("AdamW: eps is 0"));

    // Unit 0 of the hidden layer is dead: its pre-activation is below 0 for every input in
    // [−1, 1]³ (|X·W| ≤ 3), so its ReLU passes no gradient and its column of dW is exactly 0.
    backprop::Sequential<Dense<T>, backprop::ReLU<T>, Dense<T>> net(
        Dense<T>(3, 4, 1), backprop::ReLU<T>(), Dense<T>(4, 2, 2));
    net.template layer<0>().b(0) = T(-100);
    const auto W0 = net.template layer<0>().W;
    const T b0 = net.template layer<0>().b(0);
    Adam<T> adam(T(0.1));  // the default ε = 1e-8
    for (int step = 0; step < 5; ++step) {
        net.forward(test::random_matrix<T>(6, 3, 10 + step));
        net.backward(test::random_matrix<T>(6, 2, 20 + step));
        REQUIRE(net.template gradients<0>().dW.col(0).isZero(0));
        REQUIRE(net.template gradients<0>().db(0) == T(0));
        REQUIRE(net.template gradients<0>().dW.col(1).norm() > 0);
        adam.step(net);
    }
    CHECK(net.template layer<0>().W.allFinite());
    CHECK(net.template layer<0>().b.allFinite());
    CHECK(net.template layer<2>().W.allFinite());
    CHECK(net.template layer<0>().W.col(0) == W0.col(0));  // a zero step, not 0/0
    CHECK(net.template layer<0>().b(0) == b0);
    CHECK(net.template layer<0>().W.col(1) != W0.col(1));
}

// ---------------------------------------------------------------------------------------------
// What a step checks before it changes anything

TEMPLATE_TEST_CASE("A step with a gradient that is not finite throws, naming the optimiser, the "
                   "layer, the parameter and the first bad index, and changes nothing",
                   "[sgd][momentum][adam][bad-input]", float, double) {
    using T = TestType;
    auto check_one = [](auto optimizer, T bad) {
        using Optimizer = decltype(optimizer);
        CAPTURE(Optimizer::name, bad);
        REQUIRE(optimizer.checks_finite());
        Net<T> net = make_net<T>();
        backward_on_random_batch(net, 10);
        optimizer.step(net);  // a first step: the states exist and must not change either

        // Only the last layer's gradient is bad: layer 0's is finite, and still not applied.
        backward_on_random_batch(net, 20);
        Matrix<T> dY = test::random_matrix<T>(5, 2, 21);
        dY(3, 1) = bad;  // dW = A1ᵀ·dY: its column 1 is bad, and (0, 1) comes first
        net.template layer<2>().backward(dY);
        REQUIRE(net.template gradients<0>().dW.allFinite());
        const auto before = snapshot(net);

        CHECK_THROWS_AS(optimizer.step(net), std::invalid_argument);
        CHECK_THROWS_WITH(optimizer.step(net),
                          Contains(std::string(Optimizer::name) +
                                   "::step: layer 2 (Dense) dW(0, 1) is ") &&
                              Contains(std::isnan(bad) ? "nan" : "inf"));
        CHECK(same(snapshot(net), before));

        // Switched off, the step goes through, and the bad value spreads.
        optimizer.set_check_finite(false);
        CHECK_FALSE(optimizer.checks_finite());
        CHECK_NOTHROW(optimizer.step(net));
        CHECK_FALSE(net.template layer<2>().W.allFinite());
    };
    for (T bad : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity()}) {
        check_one(SGD<T>(T(0.1)), bad);
        check_one(Momentum<T>(T(0.1), T(0.9)), bad);
        check_one(Momentum<T>(T(0.1), T(0.9), true, T(0.01)), bad);
        check_one(Adam<T>(T(0.1)), bad);
        check_one(AdamW<T>(T(0.1)), bad);
    }
}

TEMPLATE_TEST_CASE("A step before backward(), or after clear_gradients(), throws std::logic_error "
                   "and changes nothing",
                   "[sgd][adam][bad-input]", float, double) {
    using T = TestType;
    Net<T> net = make_net<T>();
    Adam<T> adam;
    const auto fresh = snapshot(net);
    CHECK_THROWS_AS(adam.step(net), std::logic_error);
    CHECK_THROWS_WITH(adam.step(net),
                      Contains("Adam::step: layer 0 (Dense) has no gradients: call backward() first"));
    CHECK(same(snapshot(net), fresh));

    backward_on_random_batch(net, 3);
    adam.step(net);
    net.clear_gradients();
    const auto stepped = snapshot(net);
    CHECK_THROWS_AS(adam.step(net), std::logic_error);
    CHECK(same(snapshot(net), stepped));

    // Layer 0 holds gradients, layer 2 does not: layer 0 is not stepped either.
    backward_on_random_batch(net, 4);
    net.template layer<2>().clear_gradients();
    CHECK_THROWS_WITH(adam.step(net), Contains("Adam::step: layer 2 (Dense) has no gradients"));
    CHECK(same(snapshot(net), stepped));
}

TEMPLATE_TEST_CASE("A layer whose state another kind of optimiser wrote throws, naming both, and "
                   "changes nothing",
                   "[momentum][adam][bad-input]", float, double) {
    using T = TestType;
    Net<T> net = make_net<T>();
    backward_on_random_batch(net, 1);
    Adam<T> adam;
    // Only layer 2 is stepped by Adam: layer 0's state stays fresh.
    adam.step(net.template layer<2>());
    const auto before = snapshot(net);

    Momentum<T> momentum(T(0.1), T(0.9));
    CHECK_THROWS_AS(momentum.step(net), std::invalid_argument);
    CHECK_THROWS_WITH(momentum.step(net),
                      Contains("Momentum::step: layer 2 (Dense) W has the state of Adam, not of "
                               "Momentum: reset it"));
    CHECK(same(snapshot(net), before));  // layer 0 was not stepped either

    // Classical and Nesterov velocities are different kinds too.
    Net<T> other = make_net<T>();
    backward_on_random_batch(other, 2);
    momentum.step(other);
    const auto after_momentum = snapshot(other);
    Momentum<T> nesterov(T(0.1), T(0.9), true);
    CHECK_THROWS_WITH(nesterov.step(other),
                      Contains("layer 0 (Dense) W has the state of Momentum, not of Momentum (Nesterov)"));
    CHECK_THROWS_WITH(AdamW<T>().step(other), Contains("the state of Momentum, not of AdamW"));
    CHECK(same(snapshot(other), after_momentum));

    // After reset, any optimiser may start afresh.
    Momentum<T>::reset(net);
    CHECK_NOTHROW(momentum.step(net));
}

TEMPLATE_TEST_CASE("A parameter or state of another shape than its gradient throws and changes "
                   "nothing",
                   "[momentum][adam][bad-input]", float, double) {
    using T = TestType;
    auto check_one = [](auto optimizer) {
        using Optimizer = decltype(optimizer);
        const std::string name = Optimizer::name;
        CAPTURE(name);
        Dense<T> layer(3, 2, 1);
        layer.forward(test::random_matrix<T>(4, 3, 2));
        layer.backward(test::random_matrix<T>(4, 2, 3));
        optimizer.step(layer);
        const Dense<T> stepped = layer;

        // W given another shape after backward(): dW no longer fits.
        layer.W = Dense<T>::Weights::Ones(4, 2);
        CHECK_THROWS_WITH(optimizer.step(layer), Contains(name + "::step: layer 0 (Dense) dW is 3x2 but W is 4x2"));
        CHECK(layer.W == Dense<T>::Weights::Ones(4, 2));

        // Then a backward() of that shape: the state held for W no longer fits.
        layer.forward(test::random_matrix<T>(4, 4, 4));
        layer.backward(test::random_matrix<T>(4, 2, 5));
        const auto before = snapshot(layer);
        CHECK_THROWS_WITH(optimizer.step(layer),
                          Contains(name + "::step: layer 0 (Dense) W is 4x2 but the state held "
                                          "for it is for 3x2"));
        CHECK(same(snapshot(layer), before));
        CHECK(steps_of(stepped) == 1);
    };
    check_one(Momentum<T>(T(0.1), T(0.9)));
    check_one(Momentum<T>(T(0.1), T(0.9), true));
    check_one(Adam<T>());
    check_one(AdamW<T>());
}

// ---------------------------------------------------------------------------------------------
// The state lives in the layers

TEMPLATE_TEST_CASE("reset(model): the next step equals a fresh optimiser's first step",
                   "[momentum][adam]", float, double) {
    using T = TestType;
    auto check_one = [](auto optimizer) {
        using Optimizer = decltype(optimizer);
        CAPTURE(Optimizer::name);
        Net<T> net = make_net<T>();
        for (int step = 0; step < 3; ++step) {
            backward_on_random_batch(net, 10 + 2 * step);
            optimizer.step(net);
        }
        REQUIRE(steps_of(net.template layer<0>()) == 3);
        Optimizer::reset(net);
        backprop::for_each_parameter(net, [](const auto& p) {
            CHECK(p.state.kind == OptimizerKind::none);
            CHECK(p.state.steps == 0);
            CHECK(p.state.moment1.size() == 0);  // freed
            CHECK(p.state.moment2.size() == 0);
        });

        // A network built afresh with the same parameters, stepped by a fresh optimiser.
        Net<T> fresh = make_net<T>(99);
        fresh.template layer<0>().W = net.template layer<0>().W;
        fresh.template layer<0>().b = net.template layer<0>().b;
        fresh.template layer<2>().W = net.template layer<2>().W;
        fresh.template layer<2>().b = net.template layer<2>().b;
        backward_on_random_batch(net, 50);
        backward_on_random_batch(fresh, 50);
        auto first = optimizer;  // same hyper-parameters; it holds nothing else
        optimizer.step(net);
        first.step(fresh);
        CHECK(same(snapshot(net), snapshot(fresh)));
    };
    check_one(Momentum<T>(T(0.1), T(0.9)));
    check_one(Momentum<T>(T(0.1), T(0.9), true));
    check_one(Adam<T>(T(0.01)));
    check_one(AdamW<T>(T(0.01)));
}

TEST_CASE("An optimiser holds no memory of the layers it stepped: 1,000 models built and "
          "destroyed leave nothing behind",
          "[momentum][adam]") {
    // It is trivially copyable (no container, no pointer to a heap), and stepping does not
    // change a byte of it: every state is in the layers, and goes with them.
    static_assert(std::is_trivially_copyable_v<SGD<double>>);
    static_assert(std::is_trivially_copyable_v<Momentum<double>>);
    static_assert(std::is_trivially_copyable_v<Adam<double>>);
    static_assert(std::is_trivially_copyable_v<AdamW<float>>);
    Adam<double> adam(0.01);
    unsigned char bytes[sizeof adam];
    std::memcpy(bytes, &adam, sizeof adam);
    for (std::uint64_t model = 0; model < 1000; ++model) {
        Net<double> net = make_net<double>(model);
        backward_on_random_batch(net, 7);
        adam.step(net);
        if (model == 999) {
            // Its first step, as a fresh optimiser's on the same model.
            Net<double> same_model = make_net<double>(model);
            backward_on_random_batch(same_model, 7);
            Adam<double>(0.01).step(same_model);
            CHECK(same(snapshot(net), snapshot(same_model)));
            CHECK(steps_of(net.layer<2>()) == 1);
        }
    }
    CHECK(std::memcmp(bytes, &adam, sizeof adam) == 0);
}

TEMPLATE_TEST_CASE("A layer built where a destroyed one lived starts from a fresh state",
                   "[adam]", float, double) {
    using T = TestType;
    auto train_three_steps = [](Dense<T>& layer, Adam<T>& adam) {
        for (int step = 0; step < 3; ++step) {
            layer.forward(test::random_matrix<T>(4, 3, 10 + step));
            layer.backward(test::random_matrix<T>(4, 2, 20 + step));
            adam.step(layer);
        }
    };
    auto first_step = [](Dense<T>& layer, Adam<T>& adam) {
        layer.forward(test::random_matrix<T>(4, 3, 30));
        layer.backward(test::random_matrix<T>(4, 2, 31));
        adam.step(layer);
    };
    Adam<T> adam(T(0.1));
    Dense<T> expected(3, 2, 7);
    Adam<T> fresh(T(0.1));
    first_step(expected, fresh);

    SECTION("std::optional: reset, then emplace") {
        std::optional<Dense<T>> slot;
        slot.emplace(3, 2, 1);
        train_three_steps(*slot, adam);
        const void* address = &*slot;
        slot.reset();
        slot.emplace(3, 2, 7);
        REQUIRE(static_cast<const void*>(&*slot) == address);
        first_step(*slot, adam);
        CHECK(steps_of(*slot) == 1);
        CHECK(slot->W == expected.W);
        CHECK(slot->b == expected.b);
    }
    SECTION("placement new into the same storage") {
        alignas(Dense<T>) unsigned char storage[sizeof(Dense<T>)];
        Dense<T>* old_layer = new (storage) Dense<T>(3, 2, 1);
        train_three_steps(*old_layer, adam);
        old_layer->~Dense<T>();
        Dense<T>* layer = new (storage) Dense<T>(3, 2, 7);
        REQUIRE(static_cast<void*>(layer) == static_cast<void*>(old_layer));
        first_step(*layer, adam);
        CHECK(steps_of(*layer) == 1);
        CHECK(layer->W == expected.W);
        CHECK(layer->b == expected.b);
        layer->~Dense<T>();
    }
}

// ---------------------------------------------------------------------------------------------
// Gradient accumulation

// Micro-batches of sizes mᵢ summing to N. A loss that is a mean over the rows of its batch
// (MSE over rows·columns, CrossEntropy over rows) gives, on the union,
//     L = (1/N)·Σ_rows ℓ = Σᵢ (mᵢ/N)·Lᵢ,  so  ∂L/∂θ = Σᵢ (mᵢ/N)·∂Lᵢ/∂θ:
// each micro-batch's dY is weighted by mᵢ/N, and backward(…, GradientMode::accumulate) sums.
TEMPLATE_TEST_CASE("Gradient accumulation: micro-batches weighted by mᵢ/N, then one step, equal "
                   "one step on their union",
                   "[momentum][adam][accumulate]", float, double) {
    using T = TestType;
    const double tolerance = sizeof(T) == sizeof(double) ? 1e-12 : 2e-5;
    const std::vector<Eigen::Index> sizes = {2, 3, 5};
    const Eigen::Index N = 10;
    const Matrix<T> X = test::random_matrix<T>(N, 3, 1);

    // Trains `whole` on the union and `parts` on the micro-batches, with one optimiser each,
    // and compares gradients and parameters. `loss(net, rows, from, to, mode, weight)` runs
    // forward, the loss and backward on rows [from, to) with dY·weight.
    auto compare = [&](auto whole, auto loss, auto optimizer) {
        auto parts = whole;
        auto whole_optimizer = optimizer;
        for (int round = 0; round < 2; ++round) {
            CAPTURE(round);
            loss(whole, 0, N, GradientMode::replace, T(1));
            if (round == 1) {
                // Gradients from an earlier sum are still there: clear_gradients() starts anew.
                REQUIRE(parts.has_gradients());
                parts.clear_gradients();
                REQUIRE_FALSE(parts.has_gradients());
            }
            Eigen::Index from = 0;
            for (Eigen::Index m : sizes) {
                loss(parts, from, from + m, GradientMode::accumulate, T(double(m) / double(N)));
                from += m;
            }
            check_close(parts.template gradients<0>().dW, whole.template gradients<0>().dW, tolerance);
            check_close(parts.template gradients<0>().db, whole.template gradients<0>().db, tolerance);
            check_close(parts.template gradients<2>().dW, whole.template gradients<2>().dW, tolerance);
            check_close(parts.template gradients<2>().db, whole.template gradients<2>().db, tolerance);
            optimizer.step(parts);
            whole_optimizer.step(whole);
            check_close(parts.template layer<0>().W, whole.template layer<0>().W, tolerance);
            check_close(parts.template layer<2>().W, whole.template layer<2>().W, tolerance);
            check_close(parts.template layer<2>().b, whole.template layer<2>().b, tolerance);
        }
        // Without clear_gradients(), a third sum adds to the second.
        loss(whole, 0, N, GradientMode::replace, T(1));
        loss(parts, 0, N, GradientMode::accumulate, T(1));
        CHECK(test::relative_difference(parts.template gradients<2>().dW,
                                        whole.template gradients<2>().dW) > 0.01);
    };

    SECTION("SoftmaxCrossEntropy, a ReLU network, Momentum") {
        Eigen::VectorXi labels(N);
        labels << 0, 3, 1, 2, 2, 0, 1, 3, 3, 0;
        backprop::SoftmaxCrossEntropy<T> cross_entropy;
        auto loss = [&](auto& net, Eigen::Index from, Eigen::Index to, GradientMode mode, T weight) {
            const auto& logits = net.forward(X.middleRows(from, to - from));
            cross_entropy.forward(logits, labels.segment(from, to - from));
            net.backward(cross_entropy.backward() * weight, mode);
        };
        using ReLUNet = backprop::Sequential<Dense<T>, backprop::ReLU<T>, Dense<T>>;
        compare(ReLUNet(Dense<T>(3, 6, 1), backprop::ReLU<T>(), Dense<T>(6, 4, 2)), loss,
                Momentum<T>(T(0.1), T(0.9)));
    }
    SECTION("MSE, a Tanh network, Adam") {
        const Matrix<T> target = test::random_matrix<T>(N, 2, 2);
        backprop::MSE<T> mse;
        auto loss = [&](auto& net, Eigen::Index from, Eigen::Index to, GradientMode mode, T weight) {
            const auto& Y = net.forward(X.middleRows(from, to - from));
            mse.forward(Y, target.middleRows(from, to - from));
            net.backward(mse.backward() * weight, mode);
        };
        compare(make_net<T>(), loss, SGD<T>(T(0.1)));
        compare(make_net<T>(), loss, Adam<T>(T(0.01)));
    }
}

// ---------------------------------------------------------------------------------------------
// Gradient clipping (clip.hpp); its agreement with PyTorch is in the test of five steps above

namespace {

/// √(Σ g²) over every gradient of `net`, in double.
template <typename Model>
double gradient_norm(const Model& net) {
    double sum = 0;
    backprop::for_each_parameter(net, [&sum](const auto& p) {
        sum += p.gradient.template cast<double>().squaredNorm();
    });
    return std::sqrt(sum);
}

/// Every gradient of `net`, in double.
template <typename Model>
std::vector<Eigen::MatrixXd> gradients_of(const Model& net) {
    std::vector<Eigen::MatrixXd> all;
    backprop::for_each_parameter(net, [&all](const auto& p) {
        all.push_back(p.gradient.template cast<double>());
    });
    return all;
}

}  // namespace

TEMPLATE_TEST_CASE("clip_grad_norm: scales every gradient by max_norm/(total + 1e-6) when that is "
                   "below 1, and returns the total",
                   "[clip]", float, double) {
    using T = TestType;
    Net<T> net = make_net<T>();
    backward_on_random_batch(net, 3);
    const auto before = gradients_of(net);
    const double total = gradient_norm(net);
    REQUIRE(total > 0.5);

    SECTION("clipped") {
        const double max_norm = total / 4;
        const double norm = clip_grad_norm(net, max_norm);
        CHECK(norm == Approx(total).epsilon(1e-14));
        const double scale = max_norm / (total + 1e-6);
        const auto after = gradients_of(net);
        for (std::size_t i = 0; i < after.size(); ++i) {
            check_close(after[i], (before[i] * static_cast<double>(static_cast<T>(scale))).eval(),
                        test::rounding_tolerance<T>);
        }
        // The 1e-6 makes the clipped norm land just below max_norm, as in PyTorch.
        CHECK(gradient_norm(net) ==
              Approx(max_norm * total / (total + 1e-6)).epsilon(test::rounding_tolerance<T>));
        CHECK(gradient_norm(net) < max_norm);
    }
    SECTION("not clipped: the gradients are untouched, bit for bit") {
        for (double max_norm : {total * 2, std::numeric_limits<double>::infinity()}) {
            CAPTURE(max_norm);
            CHECK(clip_grad_norm(net, max_norm) == Approx(total).epsilon(1e-14));
            CHECK(same(gradients_of(net), before));
        }
    }
    SECTION("max_norm a little above the total still clips, by PyTorch's 1e-6") {
        clip_grad_norm(net, total + 1e-7);
        CHECK_FALSE(same(gradients_of(net), before));
        CHECK(gradient_norm(net) < total);
    }
    SECTION("a single layer is a model too") {
        auto& layer = net.template layer<2>();
        const double layer_total = std::sqrt(layer.gradients().dW.template cast<double>().squaredNorm() +
                                             layer.gradients().db.template cast<double>().squaredNorm());
        CHECK(clip_grad_norm(layer, 1e-3) == Approx(layer_total).epsilon(1e-14));
        CHECK(gradient_norm(layer) == Approx(1e-3).epsilon(1e-5));
        CHECK(same(gradients_of(net.template layer<0>()), {before[0], before[1]}));
    }
}

TEMPLATE_TEST_CASE("clip_grad_norm: the norm is computed in double, and survives an overflow of "
                   "the sum of squares",
                   "[clip]", float, double) {
    using T = TestType;
    // Gradients near the top of T's range: their squares overflow T (float), or even double.
    const double big = sizeof(T) == sizeof(double) ? 1e200 : 1e30;
    Dense<T> layer(2, 2);
    Matrix<T> dW(2, 2);
    dW << T(3 * big), T(0), T(0), T(0);
    Matrix<T> db(1, 2);
    db << T(4 * big), T(0);
    set_gradients(layer, dW, db);
    const double norm = clip_grad_norm(layer, 1.0);
    CHECK(norm == Approx(5 * big).epsilon(1e-6));
    CHECK(layer.gradients().dW(0, 0) == Approx(0.6).epsilon(1e-6));
    CHECK(layer.gradients().db(0, 0) == Approx(0.8).epsilon(1e-6));
}

TEMPLATE_TEST_CASE("clip_grad_norm: bad input throws and changes nothing", "[clip][bad-input]",
                   float, double) {
    using T = TestType;
    Net<T> net = make_net<T>();
    CHECK_THROWS_AS(clip_grad_norm(net, 1.0), std::logic_error);
    CHECK_THROWS_WITH(clip_grad_norm(net, 1.0),
                      Contains("clip_grad_norm: layer 0 (Dense) has no gradients"));

    backward_on_random_batch(net, 3);
    const auto good = gradients_of(net);
    for (double max_norm : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN()}) {
        CAPTURE(max_norm);
        CHECK_THROWS_AS(clip_grad_norm(net, max_norm), std::invalid_argument);
        CHECK_THROWS_WITH(clip_grad_norm(net, max_norm),
                          Contains("clip_grad_norm: max_norm is") && Contains("must be positive"));
        CHECK(same(gradients_of(net), good));
    }

    // A gradient that is not finite: named, and nothing is scaled by NaN (PyTorch's default
    // would turn every gradient into NaN or 0).
    for (T bad : {std::numeric_limits<T>::quiet_NaN(), -std::numeric_limits<T>::infinity()}) {
        CAPTURE(bad);
        backward_on_random_batch(net, 3);
        Matrix<T> dY = test::random_matrix<T>(5, 2, 4);
        dY(2, 1) = bad;
        net.template layer<2>().backward(dY);
        const auto before = gradients_of(net);
        CHECK_THROWS_AS(clip_grad_norm(net, 1e-3), std::invalid_argument);
        CHECK_THROWS_WITH(clip_grad_norm(net, 1e-3),
                          Contains("clip_grad_norm: layer 2 (Dense) dW(0, 1) is") &&
                              Contains(std::isnan(bad) ? "nan" : "inf"));
        const auto unchanged = gradients_of(net);
        CHECK(same({unchanged[0], unchanged[1]}, {before[0], before[1]}));

        // error_if_nonfinite = false: the total is returned and no gradient changes, so the
        // optimiser's finiteness check still names the culprit.
        const double total = clip_grad_norm(net, 1e-3, false);
        CHECK((std::isnan(bad) ? std::isnan(total) : std::isinf(total)));
        const auto after = gradients_of(net);
        CHECK(same({after[0], after[1]}, {before[0], before[1]}));
        CHECK_THROWS_WITH(SGD<T>(T(0.1)).step(net), Contains("layer 2 (Dense) dW(0, 1) is"));
    }
}
