// Tests of nn/sequential.hpp: layers chained at compile time, gradients still reachable.
#include "helpers.hpp"

#include <backprop/check/gradient_check.hpp>
#include <backprop/io/serialize.hpp>
#include <backprop/layers/activations.hpp>
#include <backprop/layers/conv2d.hpp>
#include <backprop/layers/dense.hpp>
#include <backprop/layers/normalization.hpp>
#include <backprop/losses/softmax_cross_entropy.hpp>
#include <backprop/nn/model.hpp>
#include <backprop/nn/sequential.hpp>
#include <backprop/nn/shards.hpp>
#include <backprop/optim/adam.hpp>
#include <backprop/optim/momentum.hpp>
#include <backprop/optim/sgd.hpp>

#include <catch2/catch.hpp>

#include <limits>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using backprop::Dense;
using backprop::ReLU;
using backprop::Sequential;
using backprop::Tanh;
using Catch::Matchers::Contains;

namespace {

template <typename T>
using Net = Sequential<Dense<T>, ReLU<T>, Dense<T>>;

template <typename T>
Net<T> make_net() {
    return Net<T>(Dense<T>(4, 5, 1), ReLU<T>(), Dense<T>(5, 3, 2));
}

Eigen::VectorXi labels_for(Eigen::Index batch) {
    Eigen::VectorXi labels(batch);
    for (Eigen::Index i = 0; i < batch; ++i) {
        labels(i) = int(i % 3);
    }
    return labels;
}

}  // namespace

TEMPLATE_TEST_CASE("Sequential: forward and backward are the hand-written chain",
                   "[sequential]", float, double) {
    using T = TestType;
    auto net = make_net<T>();
    Dense<T> first(4, 5, 1);
    ReLU<T> relu;
    Dense<T> last(5, 3, 2);
    const auto X = test::random_matrix<T>(6, 4, 3);
    const auto dY = test::random_matrix<T>(6, 3, 4);

    CHECK(net.forward(X) == last.forward(relu.forward(first.forward(X))));
    net.backward(dY);
    const auto& g2 = last.backward(dY);
    const auto& g1 = first.backward_parameters(relu.backward(g2.dX).dX);
    CHECK(net.template gradients<2>().dW == g2.dW);
    CHECK(net.template gradients<2>().db == g2.db);
    CHECK(net.template gradients<1>().dX == relu.gradients().dX);
    CHECK(net.template gradients<0>().dW == g1.dW);
    CHECK(net.template gradients<0>().dX.size() == 0);  // the data's gradient is not computed
    CHECK(net.template layer<2>().W == last.W);
    CHECK(net.template layer<0>().out() == 5);
    CHECK(Net<T>::size == 3);

    SECTION("after_layer(I) is called top down, as soon as layer I's gradients are final") {
        std::vector<std::size_t> order;
        net.template layer<0>().clear_gradients();
        net.backward(dY, backprop::GradientMode::replace, [&](std::size_t I) {
            order.push_back(I);
            if (I == 2) {
                CHECK(net.template gradients<2>().dW == g2.dW);
                CHECK(!net.template layer<0>().has_gradients());  // still to run
            }
        });
        CHECK(order == std::vector<std::size_t>{2, 1, 0});
        CHECK(net.template gradients<0>().dW == g1.dW);
    }

    SECTION("a step of the network is a step of each Dense layer") {
        backprop::Momentum<T> momentum(T(0.1), T(0.9));
        momentum.step(net);
        momentum.step(first);
        momentum.step(last);
        CHECK(net.template layer<0>().W == first.W);
        CHECK(net.template layer<2>().b == last.b);
        net.template layer<0>().clear_gradients();
        net.template layer<2>().clear_gradients();
        first.clear_gradients();
        last.clear_gradients();
        CHECK(!net.has_gradients());
        net.backward(dY);
        last.backward(dY);
        first.backward(relu.backward(last.gradients().dX).dX);
        momentum.reset(net);
        momentum.reset(first);
        momentum.reset(last);
        momentum.step(net);
        momentum.step(first);
        momentum.step(last);
        CHECK(net.template layer<0>().W == first.W);
    }
}

TEST_CASE("Sequential: fixed-size layers give the dynamic network's values", "[sequential]") {
    Sequential<Dense<double, 4, 5>, ReLU<double, 5>, Dense<double, 5, 3>> fixed(
        Dense<double, 4, 5>(1), ReLU<double, 5>(), Dense<double, 5, 3>(2));
    auto dynamic = make_net<double>();
    const auto X = test::random_matrix<double>(6, 4, 3);
    const auto dY = test::random_matrix<double>(6, 3, 4);
    const double tolerance = test::rounding_tolerance<double>;
    CHECK(test::relative_difference(fixed.forward(X), dynamic.forward(X)) < tolerance);
    fixed.backward(dY);
    dynamic.backward(dY);
    CHECK(test::relative_difference(fixed.gradients<0>().dW, dynamic.gradients<0>().dW) < tolerance);
    CHECK(test::relative_difference(fixed.gradients<2>().dW, dynamic.gradients<2>().dW) < tolerance);
}

TEST_CASE("Sequential: the whole network passes a gradient check through the loss",
          "[sequential][gradient-check]") {
    // L(W of layer 0) through Dense → Tanh → Dense → softmax cross-entropy.
    Sequential<Dense<double>, Tanh<double>, Dense<double, Eigen::Dynamic, 3>> net(
        Dense<double>(4, 6, 1), Tanh<double>(), Dense<double, Eigen::Dynamic, 3>(6, 3, 2));
    const auto X = test::random_matrix<double>(8, 4, 3);
    const auto labels = labels_for(8);
    backprop::SoftmaxCrossEntropy<double, 3> loss;
    loss.forward(net.forward(X), labels);
    net.backward(loss.backward());
    const Eigen::MatrixXd dW0 = net.gradients<0>().dW;
    const Eigen::MatrixXd dW2 = net.gradients<2>().dW;

    auto copy = net;
    const auto error_W = backprop::check_gradient(
        [&](const Eigen::MatrixXd& W) {
            copy.layer<0>().W = W;
            return backprop::SoftmaxCrossEntropy<double>().value(copy.predict(X), labels);
        },
        net.layer<0>().W, dW0);
    CHECK(error_W.passes(1e-6));
    copy = net;
    const auto error_W2 = backprop::check_gradient(
        [&](const Eigen::MatrixXd& W) {
            copy.layer<2>().W = W;
            return backprop::SoftmaxCrossEntropy<double>().value(copy.predict(X), labels);
        },
        net.layer<2>().W, dW2);
    CHECK(error_W2.passes(1e-6));
}

TEMPLATE_TEST_CASE("Sequential: a few Adam steps lower the loss", "[sequential][adam]", float,
                   double) {
    using T = TestType;
    auto net = make_net<T>();
    const auto X = test::random_matrix<T>(12, 4, 5);
    Eigen::VectorXi labels(12);  // a learnable rule: the largest of the first three features
    for (Eigen::Index i = 0; i < 12; ++i) {
        X.row(i).head(3).maxCoeff(&labels(i));
    }
    backprop::SoftmaxCrossEntropy<T> loss;
    backprop::Adam<T> adam(T(0.05));
    const T first = loss.forward(net.forward(X), labels);
    for (int step = 0; step < 100; ++step) {
        loss.forward(net.forward(X), labels);
        net.backward(loss.backward());
        adam.step(net);
    }
    const T last = loss.forward(net.forward(X), labels);
    CAPTURE(first, last);
    CHECK(last < first / 10);
}

TEST_CASE("Sequential: once the shapes are stable, a training step reuses every buffer",
          "[sequential]") {
    auto net = make_net<float>();
    const auto X = test::random_matrix<float>(8, 4, 5);
    const auto labels = labels_for(8);
    backprop::SoftmaxCrossEntropy<float> loss;
    backprop::Adam<float> adam;
    std::vector<const void*> first;
    for (int step = 0; step < 3; ++step) {
        const auto& Y = net.forward(X);
        loss.forward(Y, labels);
        const auto& dY = loss.backward();
        net.backward(dY);
        adam.step(net);
        const std::vector<const void*> buffers{Y.data(), dY.data(),
                                               net.gradients<0>().dW.data(),
                                               net.gradients<1>().dX.data(),
                                               net.gradients<2>().db.data(),
                                               net.layer<0>().W.data()};
        if (step == 0) {
            first = buffers;
        } else {
            CHECK(buffers == first);
        }
    }
}

TEST_CASE("Sequential: for_each_parameter visits W and b of each Dense layer in order",
          "[sequential]") {
    auto net = make_net<double>();
    std::vector<std::string> names;
    std::vector<const void*> addresses;
    backprop::for_each_parameter(net, [&](const auto& parameter) {
        names.emplace_back(parameter.name);
        addresses.push_back(&parameter.value);
    });
    CHECK(names == std::vector<std::string>{"W", "b", "W", "b"});
    CHECK(addresses[0] == &net.layer<0>().W);
    CHECK(addresses[3] == &net.layer<2>().b);
}

TEST_CASE("Sequential: saved and loaded through for_each_parameter, bit-exactly",
          "[sequential]") {
    const auto net = make_net<float>();
    CHECK(backprop::parameter_count(net) == 4 * 5 + 5 + 5 * 3 + 3);
    std::stringstream file;
    backprop::save_parameters(file, net);
    Net<float> other(Dense<float>(4, 5, 7), ReLU<float>(), Dense<float>(5, 3, 8));
    REQUIRE(other.layer<0>().W != net.layer<0>().W);
    backprop::load_parameters(file, other);
    CHECK(other.layer<0>().W == net.layer<0>().W);
    CHECK(other.layer<0>().b == net.layer<0>().b);
    CHECK(other.layer<2>().W == net.layer<2>().W);
    CHECK(other.layer<2>().b == net.layer<2>().b);
}

TEMPLATE_TEST_CASE("Sequential: bad input throws and changes nothing", "[sequential][bad-input]",
                   float, double) {
    using T = TestType;
    CHECK_THROWS_AS((Net<T>(Dense<T>(4, 5), ReLU<T>(), Dense<T>(6, 3))), std::invalid_argument);
    CHECK_THROWS_WITH((Net<T>(Dense<T>(4, 5), ReLU<T>(), Dense<T>(6, 3))),
                      Contains("Sequential: layer 2 takes 6 inputs but layer 0 gives 5"));

    auto net = make_net<T>();
    const auto dY = test::random_matrix<T>(6, 3, 4);
    CHECK_THROWS_AS(net.backward(dY), std::logic_error);
    backprop::Adam<T> adam;
    CHECK_THROWS_AS(adam.step(net), std::logic_error);
    CHECK_THROWS_WITH(adam.step(net),
                      Contains("Adam::step: layer 0 (Dense) has no gradients: call backward() first"));

    const auto X = test::random_matrix<T>(6, 4, 3);
    const auto Y = net.forward(X).eval();
    net.backward(dY);
    const auto dW = net.template gradients<0>().dW.eval();
    auto unchanged = [&] {
        CHECK(net.template layer<1>().output().rows() == 6);
        CHECK(net.template gradients<0>().dW == dW);
        net.backward(dY);
        CHECK(net.template gradients<0>().dW == dW);
    };
    SECTION("X of the wrong width: no layer runs") {
        CHECK_THROWS_WITH(net.forward(test::random_matrix<T>(6, 3, 5)),
                          Contains("Sequential::forward: layer 0 takes 4 inputs but X has 3"));
        CHECK_THROWS_WITH(net.predict(test::random_matrix<T>(6, 3, 5)),
                          Contains("Sequential::predict: layer 0 takes 4 inputs but X has 3"));
        unchanged();
    }
    SECTION("an activation first, then X of the wrong width") {
        Sequential<ReLU<T>, Dense<T>> relu_first(ReLU<T>(), Dense<T>(4, 2));
        relu_first.forward(X);
        CHECK_THROWS_WITH(relu_first.forward(test::random_matrix<T>(2, 3, 5)),
                          Contains("layer 1 takes 4 inputs but X has 3"));
        CHECK(relu_first.template layer<0>().output().rows() == 6);
    }
    SECTION("dY of the wrong shape") {
        CHECK_THROWS_WITH(net.backward(test::random_matrix<T>(6, 2, 5)),
                          Contains("Dense::backward: dZ is 6x2"));
        unchanged();
    }
    CHECK(net.forward(X) == Y);
}

namespace {

// Trains `net` for `steps` steps of Adam on a fixed batch and returns the loss of each step.
template <typename Network, typename Optimizer>
std::vector<double> train(Network& net, Optimizer& optimizer, int steps) {
    const auto X = test::random_matrix<double>(8, 4, 5);
    const auto labels = labels_for(8);
    backprop::SoftmaxCrossEntropy<double> loss;
    std::vector<double> losses;
    for (int step = 0; step < steps; ++step) {
        losses.push_back(loss.forward(net.forward(X), labels));
        net.backward(loss.backward());
        optimizer.step(net);
    }
    return losses;
}

}  // namespace

TEST_CASE("Sequential: moving a network or a vector of them leaves training bit-identical",
          "[sequential][state]") {
    auto reference = make_net<double>();
    backprop::Adam<double> adam(0.05);
    train(reference, adam, 3);
    const auto expected = train(reference, adam, 3);

    SECTION("std::move of a Sequential between steps") {
        auto net = make_net<double>();
        train(net, adam, 3);
        auto moved = std::move(net);
        CHECK(train(moved, adam, 3) == expected);
        CHECK(moved.layer<0>().W == reference.layer<0>().W);
    }
    SECTION("std::move between backward() and step(): the moved net steps at once") {
        // The gradients and the optimiser's state move with the layers, so the moved net needs
        // no new backward() to step, and steps as the unmoved one does.
        auto net = make_net<double>();
        auto unmoved = make_net<double>();
        train(net, adam, 3);
        train(unmoved, adam, 3);
        const auto X = test::random_matrix<double>(8, 4, 5);
        const auto dY = test::random_matrix<double>(8, 3, 6);
        for (auto* each : {&net, &unmoved}) {
            each->forward(X);
            each->backward(dY);
        }
        auto moved = std::move(net);
        REQUIRE(moved.has_gradients());
        adam.step(moved);
        adam.step(unmoved);
        CHECK(moved.layer<0>().W == unmoved.layer<0>().W);
        CHECK(moved.layer<0>().b == unmoved.layer<0>().b);
        CHECK(moved.layer<2>().W == unmoved.layer<2>().W);
        CHECK(moved.layer<2>().b == unmoved.layer<2>().b);
        CHECK(train(moved, adam, 2) == train(unmoved, adam, 2));
    }
    SECTION("a std::vector of networks that reallocates between steps") {
        std::vector<Net<double>> nets;
        nets.push_back(make_net<double>());
        train(nets[0], adam, 3);
        const void* before = &nets[0];
        for (int i = 0; i < 20; ++i) {
            nets.push_back(make_net<double>());
        }
        REQUIRE(static_cast<const void*>(&nets[0]) != before);
        CHECK(train(nets[0], adam, 3) == expected);
    }
    SECTION("a std::vector of Dense layers that reallocates between steps") {
        std::vector<Dense<double>> layers;
        layers.emplace_back(4, 3, 1);
        Dense<double> alone(4, 3, 1);
        const auto X = test::random_matrix<double>(5, 4, 6);
        const auto dZ = test::random_matrix<double>(5, 3, 7);
        for (int step = 0; step < 4; ++step) {
            layers[0].forward(X);
            layers[0].backward(dZ);
            alone.forward(X);
            alone.backward(dZ);
            adam.step(layers[0]);
            adam.step(alone);
            layers.emplace_back(4, 3, 2);  // reallocates now and then
        }
        CHECK(layers[0].W == alone.W);
        CHECK(layers[0].b == alone.b);
    }
}

TEST_CASE("Sequential: a copy trains on as the original would, and independently of it",
          "[sequential][state]") {
    auto net = make_net<double>();
    backprop::Momentum<double> momentum(0.1, 0.9);
    train(net, momentum, 2);
    auto copy = net;
    const auto from_original = train(net, momentum, 3);
    CHECK(train(copy, momentum, 3) == from_original);  // velocities copied with the layers
    CHECK(copy.layer<2>().W == net.layer<2>().W);
}

TEST_CASE("Sequential: stepping a copy made after backward() uses the copy's own gradients",
          "[sequential][state]") {
    auto net = make_net<double>();
    const auto X = test::random_matrix<double>(6, 4, 3);
    const auto dY = test::random_matrix<double>(6, 3, 4);
    const auto other_dY = test::random_matrix<double>(6, 3, 9);
    net.forward(X);
    net.backward(dY);
    auto copy = net;
    auto expected = net;
    net.backward(other_dY);  // the original's gradients change; the copy's must not
    backprop::SGD<double> sgd(0.5);
    sgd.step(copy);
    sgd.step(expected);
    CHECK(copy.layer<0>().W == expected.layer<0>().W);
    CHECK(copy.layer<2>().b == expected.layer<2>().b);
    sgd.step(net);
    CHECK(net.layer<0>().W != copy.layer<0>().W);
}

TEST_CASE("Sequential: a layer built where a destroyed one lived starts from a fresh state",
          "[sequential][state]") {
    std::optional<Net<double>> slot;
    slot.emplace(make_net<double>());
    backprop::Adam<double> adam(0.05);
    train(*slot, adam, 2);
    const void* address = &*slot;
    slot.reset();
    slot.emplace(make_net<double>());
    REQUIRE(static_cast<const void*>(&*slot) == address);
    auto fresh = make_net<double>();
    backprop::Adam<double> fresh_adam(0.05);
    CHECK(train(*slot, adam, 2) == train(fresh, fresh_adam, 2));
    slot->for_each_layer([](const auto& layer) {
        if constexpr (backprop::has_parameters_v<decltype(layer)>) {
            layer.for_each_parameter([](const auto& parameter) { CHECK(parameter.state.steps == 2); });
        }
    });
}

TEST_CASE("Sequential: predict() keeps nothing, so validation between forward and backward "
          "changes no gradient", "[sequential][inference]") {
    auto net = make_net<double>();
    auto reference = make_net<double>();
    const auto X = test::random_matrix<double>(6, 4, 3);
    const auto validation = test::random_matrix<double>(6, 4, 8);  // the same shape as X
    const auto dY = test::random_matrix<double>(6, 3, 4);

    const auto Y = net.forward(X).eval();
    const auto predicted = net.predict(validation);
    CHECK(predicted == reference.forward(validation));
    CHECK(net.predict(X) == Y);
    net.backward(dY);
    reference.forward(X);
    reference.backward(dY);
    CHECK(net.gradients<0>().dW == reference.gradients<0>().dW);
    CHECK(net.gradients<2>().dW == reference.gradients<2>().dW);

    SECTION("with buffers, a second batch of the same size allocates nothing new") {
        Net<double>::Buffers buffers;
        const auto& first = net.predict(X, buffers);
        const void* data = first.data();
        const auto& second = net.predict(validation, buffers);
        CHECK(second.data() == data);
        CHECK(second == predicted);
    }
    SECTION("every layer predicts as it forwards") {
        Dense<double> dense(4, 3, 5);
        backprop::Tanh<double> tanh;
        CHECK(dense.predict(X) == dense.forward(X));
        CHECK(tanh.predict(X) == tanh.forward(X));
        backprop::MSE<double> mse;
        const auto target = test::random_matrix<double>(6, 3, 10);
        const double loss = mse.forward(Y, target);
        CHECK(mse.value(predicted, target) == backprop::MSE<double>().forward(predicted, target));
        CHECK(mse.backward() == backprop::MSE<double>::Matrix(2.0 / 18 * (Y - target)));
        (void)loss;
    }
}

namespace {

// A layer with a train and an eval behaviour, as dropout will have: it records the mode.
struct ModeProbe {
    using Matrix = Eigen::MatrixXd;
    struct Gradients {
        Matrix dX;
    };
    static constexpr const char* kind = "ModeProbe";
    backprop::Mode mode = backprop::Mode::train;
    Gradients grads;
    void set_mode(backprop::Mode m) { mode = m; }
    const Matrix& forward(const Matrix& X) { return X; }
    void predict(const Matrix& X, Matrix& Y) const { Y = X; }
    const Gradients& backward(const Matrix& dY) {
        grads.dX = dY;
        return grads;
    }
    const Gradients& gradients() const { return grads; }
};

}  // namespace

TEST_CASE("Sequential: set_mode reaches the layers that have a mode", "[sequential][mode]") {
    Sequential<Dense<double>, ModeProbe, Dense<double>> net(Dense<double>(4, 5, 1), ModeProbe(),
                                                             Dense<double>(5, 3, 2));
    CHECK(net.mode() == backprop::Mode::train);
    net.set_mode(backprop::Mode::eval);
    CHECK(net.mode() == backprop::Mode::eval);
    CHECK(net.layer<1>().mode == backprop::Mode::eval);
    net.set_mode(backprop::Mode::train);
    CHECK(net.layer<1>().mode == backprop::Mode::train);
    const auto X = test::random_matrix<double>(2, 4, 3);
    CHECK(net.forward(X) == net.predict(X));  // the probe passes its input through

}

TEMPLATE_TEST_CASE("Sequential: zero_gradients() gives every layer with parameters the "
                   "held zero gradients of an empty batch", "[sequential][zero-gradients]",
                   float, double) {
    using T = TestType;
    using backprop::BatchNorm;
    using backprop::Conv2D;
    using backprop::LayerNorm;
    using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    // Every kind of layer with parameters: a 1x4x4 image → 2x2x2 → BatchNorm → 3 → LayerNorm.
    Sequential<Conv2D<T>, BatchNorm<T>, ReLU<T>, Dense<T>, LayerNorm<T>> net(
        Conv2D<T>({1, 4, 4}, 2, 3), BatchNorm<T>(2, 2, 2), ReLU<T>(), Dense<T>(8, 3, 1),
        LayerNorm<T>(3));
    const auto X = test::random_matrix<T>(5, 16, 2);
    const auto dY = test::random_matrix<T>(5, 3, 3);
    Vector gradients;
    Vector replaced;

    net.forward(X);
    net.backward(dY);
    backprop::gather_gradients(net, replaced);
    REQUIRE_FALSE(replaced.isZero(0));
    net.zero_gradients();
    CHECK(net.has_gradients());
    backprop::gather_gradients(net, gradients);
    CHECK(gradients.isZero(0));

    // An optimiser steps on them, and with zero gradients Adam moves nothing.
    Vector before;
    Vector after;
    backprop::gather_parameters(net, before);
    backprop::Adam<T> adam(T(0.1));
    adam.step(net);
    backprop::gather_parameters(net, after);
    CHECK(after == before);

    // A backward() that accumulates onto them gives replace's gradients, bit for bit.
    net.zero_gradients();
    net.forward(X);
    net.backward(dY, backprop::GradientMode::accumulate);
    backprop::gather_gradients(net, gradients);
    CHECK(gradients == replaced);

    // clear_gradients() after it: not held any more.
    net.clear_gradients();
    CHECK_FALSE(net.has_gradients());
}

TEST_CASE("Sequential: anomaly detection names the first layer whose output is not finite",
          "[sequential][anomaly]") {
    auto net = make_net<double>();
    auto X = test::random_matrix<double>(6, 4, 3);
    const auto dY = test::random_matrix<double>(6, 3, 4);
    net.detect_anomalies(true);
    CHECK(net.detects_anomalies());
    net.forward(X);
    net.backward(dY);

    SECTION("a NaN in X") {
        X(2, 1) = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_AS(net.forward(X), std::domain_error);
        CHECK_THROWS_WITH(net.forward(X), Contains("Sequential::forward: X(2, 1) is nan"));
    }
    SECTION("a layer whose output overflows") {
        net.layer<2>().W(0, 0) = std::numeric_limits<double>::max();
        net.layer<0>().W.setConstant(1e300);
        CHECK_THROWS_WITH(net.forward(X), Contains("layer 2 (Dense) gave Y"));
    }
    SECTION("a gradient that is not finite") {
        auto bad = dY;
        bad(0, 0) = std::numeric_limits<double>::infinity();
        CHECK_THROWS_WITH(net.backward(bad), Contains("Sequential::backward: dY(0, 0) is inf"));
        net.layer<2>().W(1, 2) = std::numeric_limits<double>::infinity();
        CHECK_THROWS_WITH(net.backward(dY), Contains("Sequential::backward: layer 2 (Dense) gave dX"));
    }
    SECTION("off, nothing is checked") {
        net.detect_anomalies(false);
        X(0, 0) = std::numeric_limits<double>::quiet_NaN();
        CHECK_NOTHROW(net.forward(X));
    }
}
