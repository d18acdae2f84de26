// Agreement with PyTorch autograd: reference/pytorch_reference.hpp holds forward values, the
// loss, every gradient and one torch.optim.SGD step of the two-layer network, made once in
// float64 by reference/make_reference.py.
#include "helpers.hpp"
#include "reference/pytorch_reference.hpp"

#include <backprop/backprop.hpp>

#include <catch2/catch.hpp>

using backprop::Dense;

namespace {

constexpr double tolerance = 1e-12;

/// Runs one forward, backward and SGD step of a case with layers of type L1 and L2, and compares
/// each value with PyTorch's.
template <typename L1, typename L2, typename Loss>
void check_case(const reference::TwoLayerCase& c) {
    const auto matrix = [&](const std::vector<double>& values, int rows, int cols) {
        return test::from_rows(values, rows, cols);
    };
    L1 layer1(c.in, c.hidden);
    L2 layer2(c.hidden, c.out);
    layer1.W = matrix(c.W1, c.in, c.hidden);
    layer1.b = matrix(c.b1, 1, c.hidden);
    layer2.W = matrix(c.W2, c.hidden, c.out);
    layer2.b = matrix(c.b2, 1, c.out);
    const Eigen::MatrixXd X = matrix(c.X, c.batch, c.in);
    const Eigen::MatrixXd Y = matrix(c.Y, c.batch, c.out);
    Loss mse;

    const auto& Z1 = layer1.forward(X);
    CHECK(test::relative_difference(Z1, matrix(c.Z1, c.batch, c.hidden)) < tolerance);
    const auto& Z2 = layer2.forward(Z1);
    CHECK(test::relative_difference(Z2, matrix(c.Z2, c.batch, c.out)) < tolerance);
    CHECK(mse.forward(Z2, Y) == Approx(c.loss).epsilon(tolerance));

    const auto& dZ2 = mse.backward();
    CHECK(test::relative_difference(dZ2, matrix(c.dZ2, c.batch, c.out)) < tolerance);
    const auto& g2 = layer2.backward(dZ2);
    CHECK(test::relative_difference(g2.dW, matrix(c.dW2, c.hidden, c.out)) < tolerance);
    CHECK(test::relative_difference(g2.db, matrix(c.db2, 1, c.out)) < tolerance);
    CHECK(test::relative_difference(g2.dX, matrix(c.dZ1, c.batch, c.hidden)) < tolerance);
    const auto& g1 = layer1.backward(g2.dX);
    CHECK(test::relative_difference(g1.dW, matrix(c.dW1, c.in, c.hidden)) < tolerance);
    CHECK(test::relative_difference(g1.db, matrix(c.db1, 1, c.hidden)) < tolerance);
    CHECK(test::relative_difference(g1.dX, matrix(c.dX, c.batch, c.in)) < tolerance);

    const backprop::SGD<double> sgd{c.lr};
    sgd.step(layer2);
    sgd.step(layer1);
    CHECK(test::relative_difference(layer1.W, matrix(c.W1_next, c.in, c.hidden)) < tolerance);
    CHECK(test::relative_difference(layer1.b, matrix(c.b1_next, 1, c.hidden)) < tolerance);
    CHECK(test::relative_difference(layer2.W, matrix(c.W2_next, c.hidden, c.out)) < tolerance);
    CHECK(test::relative_difference(layer2.b, matrix(c.b2_next, 1, c.out)) < tolerance);
}

}  // namespace

TEST_CASE("PyTorch: forward, loss, gradients and an SGD step agree to 1e-12", "[pytorch]") {
    REQUIRE(reference::two_layer_cases.size() == 4);
    for (const auto& c : reference::two_layer_cases) {
        CAPTURE(c.batch, c.in, c.hidden, c.out);
        check_case<Dense<double>, Dense<double>, backprop::MSE<double>>(c);
    }
}

TEST_CASE("PyTorch: the notebook's shapes with fixed-size layers", "[pytorch]") {
    const auto& c = reference::two_layer_cases.front();
    REQUIRE((c.in == 5 && c.hidden == 5 && c.out == 1));
    check_case<Dense<double, 5, 5>, Dense<double, 5, 1>, backprop::MSE<double, 1>>(c);
}
