// Tutorial page 4, Two layers and the chain rule, drawn: the notebook's network as a
// computational graph, each tensor with its shape and its value and gradient after one forward
// and one backward pass, written as Graphviz DOT by backprop::ComputationalGraph.
// Usage: tutorial_4_graph [GRAPH.dot]   (default two_layers.dot; the site renders it with dot)
// Exits non-zero if the file cannot be written.
#include <backprop/backprop.hpp>
#include <backprop/io/graphviz.hpp>

#include <fstream>
#include <iostream>
#include <string>

namespace bp = backprop;

int main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "two_layers.dot";
    const auto data = bp::make_notebook_dataset<double>();

    // [graph]
    // Page 4's network and one step of it: forward, loss, backward.
    bp::Dense<double> layer1(5, 5, /*seed=*/1, bp::Init::unit_uniform);
    bp::Dense<double> layer2(5, 1, /*seed=*/2, bp::Init::unit_uniform);
    bp::MSE<double> mse;
    const Eigen::MatrixXd z1 = layer1.forward(data.X);
    const Eigen::MatrixXd z2 = layer2.forward(z1);
    const double loss = mse.forward(z2, data.y);
    const Eigen::MatrixXd dz2 = mse.backward();
    const auto grads2 = layer2.backward(dz2);
    const auto grads1 = layer1.backward(grads2.dX);

    // Every tensor with its value and gradient, every operation with its inputs and output.
    bp::ComputationalGraph graph;
    const auto x = graph.tensor("x", data.X, grads1.dX);
    const auto W1 = graph.tensor("W1", layer1.W, grads1.dW);
    const auto b1 = graph.tensor("b1", layer1.b, grads1.db);
    const auto Z1 = graph.tensor("z1", z1, grads2.dX);
    graph.operation("x·W1 + b1", {x, W1, b1}, Z1);
    const auto W2 = graph.tensor("W2", layer2.W, grads2.dW);
    const auto b2 = graph.tensor("b2", layer2.b, grads2.db);
    const auto Z2 = graph.tensor("z2", z2, dz2);
    graph.operation("z1·W2 + b2", {Z1, W2, b2}, Z2);
    const auto y = graph.tensor("y", data.y);
    const auto L = graph.tensor("L", Eigen::MatrixXd::Constant(1, 1, loss),
                                Eigen::MatrixXd::Ones(1, 1));  // ∂L/∂L = 1
    graph.operation("MSE", {Z2, y}, L);
    std::ofstream(path) << graph.dot();
    // [graph]
    std::ifstream written(path);
    const bool ok = written.good() && written.peek() == 'd';
    std::cout << (ok ? "wrote " : "COULD NOT WRITE ") << path.substr(path.find_last_of('/') + 1)
              << "\n";
    return ok ? 0 : 1;
}
