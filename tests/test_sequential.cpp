// Tests of nn/sequential.hpp: layers chained at compile time, gradients still reachable.
#include "helpers.hpp"

#include <backprop/check/gradient_check.hpp>
#include <backprop/io/parameters.hpp>
#include <backprop/io/serialize.hpp>
#include <backprop/layers/activations.hpp>
#include <backprop/layers/dense.hpp>
#include <backprop/losses/softmax_cross_entropy.hpp>
#include <backprop/nn/sequential.hpp>
#include <backprop/optim/adam.hpp>
#include <backprop/optim/momentum.hpp>
#include <backprop/optim/sgd.hpp>

#include <catch2/catch.hpp>

#include <sstream>
#include <string>
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
    const auto& dX = net.backward(dY);
    const auto& g2 = last.backward(dY);
    const auto& g1 = first.backward(relu.backward(g2.dX));
    CHECK(dX == g1.dX);
    CHECK(net.template gradients<2>().dW == g2.dW);
    CHECK(net.template gradients<2>().db == g2.db);
    CHECK(net.template gradients<1>() == relu.backward(g2.dX));
    CHECK(net.template gradients<0>().dW == g1.dW);
    CHECK(net.template layer<2>().W == last.W);
    CHECK(net.template layer<0>().out() == 5);
    CHECK(Net<T>::size == 3);

    SECTION("a step of the network is a step of each Dense layer") {
        backprop::Momentum<T> momentum(T(0.1), T(0.9));
        backprop::Momentum<T> alone(T(0.1), T(0.9));
        net.step(momentum);
        alone.step(first, g1);
        alone.step(last, g2);
        CHECK(momentum.layers() == 2);
        CHECK(net.template layer<0>().W == first.W);
        CHECK(net.template layer<2>().b == last.b);
        const backprop::SGD<T> sgd(T(0.1));
        net.step(sgd);
        sgd.step(first, g1);
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
    CHECK(test::relative_difference(fixed.backward(dY), dynamic.backward(dY)) < tolerance);
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
    const Eigen::MatrixXd dX = net.gradients<0>().dX;

    auto copy = net;
    const auto error_W = backprop::check_gradient(
        [&](const Eigen::MatrixXd& W) {
            copy.layer<0>().W = W;
            return backprop::SoftmaxCrossEntropy<double>().forward(copy.forward(X), labels);
        },
        net.layer<0>().W, dW0);
    CHECK(error_W.passes(1e-6));
    const auto error_X = backprop::check_gradient(
        [&](const Eigen::MatrixXd& x) {
            return backprop::SoftmaxCrossEntropy<double>().forward(net.forward(x), labels);
        },
        X, dX);
    CHECK(error_X.passes(1e-6));
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
        net.step(adam);
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
        const auto& dX = net.backward(dY);
        net.step(adam);
        const std::vector<const void*> buffers{Y.data(), dY.data(), dX.data(),
                                               net.gradients<0>().dW.data(),
                                               net.gradients<1>().data(),
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
    for_each_parameter(net, [&](const char* name, auto& matrix) {
        names.emplace_back(name);
        addresses.push_back(&matrix);
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
    CHECK_THROWS_WITH(net.template gradients<1>(), Contains("Sequential::gradients<1>: called before backward()"));
    backprop::Adam<T> adam;
    CHECK_THROWS_WITH(net.step(adam), Contains("Sequential::step: called before backward()"));
    CHECK(adam.layers() == 0);

    const auto X = test::random_matrix<T>(6, 4, 3);
    const auto Y = net.forward(X).eval();
    const auto dX = net.backward(dY).eval();
    auto unchanged = [&] {
        CHECK(net.template layer<1>().output().rows() == 6);
        CHECK(net.backward(dY) == dX);
    };
    SECTION("X of the wrong width: no layer runs") {
        CHECK_THROWS_WITH(net.forward(test::random_matrix<T>(6, 3, 5)),
                          Contains("Sequential::forward: layer 0 takes 4 inputs but X has 3"));
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
