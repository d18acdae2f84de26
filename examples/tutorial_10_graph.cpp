// Tutorial page 10, The digits network, drawn: the 64 → 32 → 10 ReLU network of digits.cpp on a
// batch of four images, as a computational graph with each tensor's shape and its value and
// gradient after one forward and one backward pass, written as Graphviz DOT by
// backprop::ComputationalGraph; then the same step in double, each gradient against finite
// differences of the loss.
// Usage: tutorial_10_graph [GRAPH.dot]   (default digits_graph.dot; the site renders it with dot)
// Prints the gradient check that docs/10_digits.md shows; exits non-zero if the file cannot be
// written or a gradient fails its check.
#include <backprop/backprop.hpp>
#include <backprop/io/graphviz.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

namespace bp = backprop;

int main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "digits_graph.dot";
    auto data = bp::load_csv<float>(BACKPROP_DATA_DIR "/digits.csv");
    data.X /= 16.0f;

    // [graph]
    // digits.cpp's network, and one step of it on the first four images: forward, loss, backward.
    bp::Sequential<bp::Dense<float>, bp::ReLU<float>, bp::Dense<float>> net(
        bp::Dense<float>(64, 32, 1), bp::ReLU<float>(), bp::Dense<float>(32, 10, 2));
    bp::SoftmaxCrossEntropy<float> loss;
    const Eigen::MatrixXf x = data.X.topRows(4);
    const Eigen::VectorXi y = data.labels.head(4);
    const Eigen::MatrixXf logits = net.forward(x);
    const float L = loss.forward(logits, y);
    const Eigen::MatrixXf dlogits = loss.backward();
    net.backward(dlogits);

    // Layers count from 0: layer 0 is the first Dense, layer 1 the ReLU, layer 2 the second Dense.
    // Each value is read where the layer keeps it (z1 is recomputed with predict(), which keeps
    // nothing); each gradient is what the layer's last backward() left.
    const auto& dense1 = net.layer<0>();
    const auto& relu = net.layer<1>();
    const auto& dense2 = net.layer<2>();
    bp::ComputationalGraph graph;
    const auto X = graph.tensor("x", x);  // data: Sequential::backward skips layer 0's dX
    const auto W1 = graph.tensor("W1", dense1.W, net.gradients<0>().dW);
    const auto b1 = graph.tensor("b1", dense1.b, net.gradients<0>().db);
    const auto Z1 = graph.tensor("z1", dense1.predict(x), net.gradients<1>().dX);
    graph.operation("x·W1 + b1 (layer 0)", {X, W1, b1}, Z1);
    const auto H = graph.tensor("h", relu.output(), net.gradients<2>().dX);
    graph.operation("max(z1, 0) (layer 1)", {Z1}, H);
    const auto W2 = graph.tensor("W2", dense2.W, net.gradients<2>().dW);
    const auto b2 = graph.tensor("b2", dense2.b, net.gradients<2>().db);
    const auto Z2 = graph.tensor("logits", logits, dlogits);
    graph.operation("h·W2 + b2 (layer 2)", {H, W2, b2}, Z2);
    const auto Y = graph.tensor("labels", y.cast<float>());
    const auto L_node = graph.tensor("L", Eigen::MatrixXf::Constant(1, 1, L),
                                     Eigen::MatrixXf::Ones(1, 1));  // ∂L/∂L = 1
    graph.operation("softmax cross-entropy", {Z2, Y}, L_node);
    std::ofstream out(path);
    graph.write_dot(out);
    // [graph]
    out.close();
    if (!out) {
        std::cerr << "tutorial_10_graph: could not write " << path << "\n";
        return 1;
    }

    // [gradient check]
    // The same network in double, on the same four images: every gradient that one backward()
    // leaves, against central differences of the loss. Each difference moves one parameter
    // and evaluates the loss with predict(), which keeps nothing, so the gradients stay put.
    bp::Sequential<bp::Dense<double>, bp::ReLU<double>, bp::Dense<double>> net64(
        bp::Dense<double>(64, 32, 1), bp::ReLU<double>(), bp::Dense<double>(32, 10, 2));
    bp::SoftmaxCrossEntropy<double> loss64;
    const Eigen::MatrixXd x64 = x.cast<double>();
    loss64.forward(net64.forward(x64), y);
    net64.backward(loss64.backward());
    bool ok = true;
    auto check = [&](const char* name, auto& parameter, const Eigen::MatrixXd& analytic) {
        const Eigen::MatrixXd at = parameter;
        const bp::GradientError error = bp::check_gradient(
            [&](const Eigen::MatrixXd& value) {
                parameter = value;
                return loss64.value(net64.predict(x64), y);
            },
            at, analytic);
        parameter = at;
        std::printf("%s  relative error %.1e\n", name, error.max_relative_error);
        ok &= error.passes(1e-6);
    };
    check("dW1 (layer 0)", net64.layer<0>().W, net64.gradients<0>().dW);
    check("db1 (layer 0)", net64.layer<0>().b, net64.gradients<0>().db);
    check("dW2 (layer 2)", net64.layer<2>().W, net64.gradients<2>().dW);
    check("db2 (layer 2)", net64.layer<2>().b, net64.gradients<2>().db);
    // [gradient check]
    return ok ? 0 : 1;
}
