// The seed notebook's two-layer network, Z1 = X·W1 + b1, Z2 = Z1·W2 + b2, L = MSE(Z2, y),
// written with the library the way a user would, and checked end to end.
#include "helpers.hpp"

#include <backprop/backprop.hpp>

#include <catch2/catch.hpp>

#include <Eigen/QR>

using backprop::Dense;
using backprop::MSE;
using backprop::SGD;

namespace {

/// The notebook's network with its parameters, one forward and backward pass at a time.
template <typename Scalar>
struct Notebook {
    Dense<Scalar> layer1{5, 5, 1};
    Dense<Scalar> layer2{5, 1, 2};
    MSE<Scalar> mse;

    Scalar loss(const Eigen::MatrixXd& X, const Eigen::MatrixXd& y) {
        return mse.forward(layer2.forward(layer1.forward(X.cast<Scalar>())), y.cast<Scalar>());
    }
};

/// L(W1, b1, W2, b2; X) in double, for finite differences.
double loss_of(Notebook<double> net, const Eigen::MatrixXd& X, const Eigen::MatrixXd& y) {
    return net.loss(X, y);
}

}  // namespace

TEMPLATE_TEST_CASE("Notebook network: every gradient agrees with finite differences of the loss",
                   "[network][gradient-check]", float, double) {
    const auto data = backprop::make_notebook_dataset<double>(10, 3);
    Notebook<TestType> net;
    net.loss(data.X, data.y);
    const auto& dZ2 = net.mse.backward();
    const auto& g2 = net.layer2.backward(dZ2);
    const auto& g1 = net.layer1.backward(g2.dX);

    Notebook<double> reference;  // the same parameters, in double
    reference.layer1 = net.layer1.template cast<double>();
    reference.layer2 = net.layer2.template cast<double>();
    const double tolerance = test::gradient_tolerance<TestType>;

    auto check = [&](auto&& set_parameter, const Eigen::MatrixXd& at, const auto& analytic) {
        return backprop::check_gradient(
            [&](const Eigen::MatrixXd& value) {
                Notebook<double> moved = reference;
                set_parameter(moved, value);
                return loss_of(moved, data.X, data.y);
            },
            at, analytic.template cast<double>());
    };
    CHECK(check([](auto& n, auto& v) { n.layer2.W = v; }, reference.layer2.W, g2.dW).passes(tolerance));
    CHECK(check([](auto& n, auto& v) { n.layer2.b = v; }, reference.layer2.b, g2.db).passes(tolerance));
    CHECK(check([](auto& n, auto& v) { n.layer1.W = v; }, reference.layer1.W, g1.dW).passes(tolerance));
    CHECK(check([](auto& n, auto& v) { n.layer1.b = v; }, reference.layer1.b, g1.db).passes(tolerance));
    const auto dX = backprop::check_gradient(
        [&](const Eigen::MatrixXd& X) { return loss_of(reference, X, data.y); }, data.X,
        g1.dX.template cast<double>());
    CHECK(dX.passes(tolerance));
}

TEST_CASE("Notebook network: one SGD step updates every parameter from its own gradient",
          "[network][sgd]") {
    // The notebook's last line is `b2 = b1 - lr*dldb1`. Each parameter must move by −lr times
    // its own gradient, and then the loss falls by lr·‖∇L‖² to first order.
    const auto data = backprop::make_notebook_dataset<double>(10, 4);
    Notebook<double> net;
    const double loss = net.loss(data.X, data.y);
    const auto g2 = net.layer2.backward(net.mse.backward());
    const auto g1 = net.layer1.backward(g2.dX);
    const Notebook<double> before = net;

    const double lr = 1e-5;
    const SGD<double> sgd{lr};
    sgd.step(net.layer2);
    sgd.step(net.layer1);

    CHECK(net.layer2.W.isApprox(before.layer2.W - lr * g2.dW, 1e-15));
    CHECK(net.layer2.b.isApprox(before.layer2.b - lr * g2.db, 1e-15));
    CHECK(net.layer1.W.isApprox(before.layer1.W - lr * g1.dW, 1e-15));
    CHECK(net.layer1.b.isApprox(before.layer1.b - lr * g1.db, 1e-15));

    const double squared_gradient = g2.dW.squaredNorm() + g2.db.squaredNorm() +
                                    g1.dW.squaredNorm() + g1.db.squaredNorm();
    const double decrease = loss - net.loss(data.X, data.y);
    CHECK(decrease / (lr * squared_gradient) == Approx(1).epsilon(1e-3));
}

TEST_CASE("Notebook network: fixed-size layers compute the same numbers as dynamic ones",
          "[network]") {
    const auto data = backprop::make_notebook_dataset<double>();
    Notebook<double> dynamic;
    Dense<double, 5, 5> layer1{1};
    Dense<double, 5, 1> layer2{2};
    MSE<double, 1> mse;
    const SGD<double> sgd{0.1};
    for (int step = 0; step < 5; ++step) {
        const double expected = dynamic.loss(data.X, data.y);
        CHECK(mse.forward(layer2.forward(layer1.forward(data.X)), data.y) == Approx(expected).epsilon(1e-14));
        const auto& d2 = dynamic.layer2.backward(dynamic.mse.backward());
        const auto& f2 = layer2.backward(mse.backward());
        dynamic.layer1.backward(d2.dX);
        layer1.backward(f2.dX);
        sgd.step(dynamic.layer2);
        sgd.step(layer2);
        sgd.step(dynamic.layer1);
        sgd.step(layer1);
    }
    CHECK(layer1.W.isApprox(dynamic.layer1.W, 1e-13));
    CHECK(layer2.b.isApprox(dynamic.layer2.b, 1e-13));
}

TEST_CASE("Notebook network: training reaches the least-squares optimum", "[network][training]") {
    // Two linear layers compute one linear map, X·(W1·W2) + (b1·W2 + b2), so gradient descent
    // must reach the ordinary least-squares fit of y on [X, 1]. Noise makes the optimum's loss
    // positive, so the test cannot pass on a perfect fit by accident.
    auto data = backprop::make_notebook_dataset<double>(10, 5);
    data.y += 0.05 * test::random_matrix<double>(10, 1, 6);

    Eigen::MatrixXd A(10, 6);
    A << data.X, Eigen::VectorXd::Ones(10);
    const Eigen::VectorXd coefficients = A.colPivHouseholderQr().solve(data.y);
    const double optimum = (A * coefficients - data.y).squaredNorm() / 10;
    REQUIRE(optimum > 1e-4);

    Notebook<double> net;
    const SGD<double> sgd{0.1};
    const double initial = net.loss(data.X, data.y);
    double loss = initial;
    for (int step = 0; step < 20000; ++step) {
        loss = net.loss(data.X, data.y);
        const auto& g2 = net.layer2.backward(net.mse.backward());
        net.layer1.backward(g2.dX);
        sgd.step(net.layer2);
        sgd.step(net.layer1);
    }
    CAPTURE(initial, loss, optimum);
    CHECK(loss == Approx(optimum).epsilon(1e-6));

    const Eigen::VectorXd w = net.layer1.W * net.layer2.W;
    const double bias = (net.layer1.b * net.layer2.W + net.layer2.b)(0, 0);
    CHECK((w - coefficients.head(5)).cwiseAbs().maxCoeff() < 1e-3);
    CHECK(bias == Approx(coefficients(5)).margin(1e-3));
}
