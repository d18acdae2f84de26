// Tutorial page 4, Two layers and the chain rule: the seed notebook's network end to end, every
// gradient named after what it differentiates and checked against finite differences of the
// whole network's loss; then the update, and the check that catches the notebook's
// `b2 = b1 - lr*dldb1`.
// Prints what docs/4_two_layers.md shows; exits non-zero if a check does not do its job.
#include <backprop/backprop.hpp>

#include <iostream>
#include <stdexcept>

namespace bp = backprop;

// [network]
// The notebook's network: z1 = x·W1 + b1, z2 = z1·W2 + b2, L = MSE(z2, y).
struct Network {
    bp::Dense<double> layer1{5, 5, /*seed=*/1, bp::Init::unit_uniform};
    bp::Dense<double> layer2{5, 1, /*seed=*/2, bp::Init::unit_uniform};
    bp::MSE<double> mse;

    double loss(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) {
        return mse.forward(layer2.forward(layer1.forward(x)), y);
    }
};
// [network]

// The parameters the notebook updates, by value: what an update did is after − before.
struct Parameters {
    Eigen::MatrixXd W1, b1, W2, b2;
};

// [step check]
// After a step of gradient descent every parameter p must have its old shape and have moved by
// exactly −lr·dp, dp its own gradient. Returns what is wrong, or "" if nothing is.
std::string check_step(const Parameters& before, const Parameters& after, const Parameters& d,
                       double lr) {
    auto moved_right = [&](const char* name, const Eigen::MatrixXd& p0, const Eigen::MatrixXd& p1,
                           const Eigen::MatrixXd& dp) -> std::string {
        if (p1.rows() != p0.rows() || p1.cols() != p0.cols()) {
            return std::string(name) + " is " + std::to_string(p1.rows()) + "x" +
                   std::to_string(p1.cols()) + " after the step but was " +
                   std::to_string(p0.rows()) + "x" + std::to_string(p0.cols());
        }
        if (!(p1 - (p0 - lr * dp)).isZero(1e-12)) {
            return std::string(name) + " did not move by -lr times its own gradient";
        }
        return "";
    };
    std::string problems;
    for (const std::string& problem : {moved_right("W1", before.W1, after.W1, d.W1),
                                       moved_right("b1", before.b1, after.b1, d.b1),
                                       moved_right("W2", before.W2, after.W2, d.W2),
                                       moved_right("b2", before.b2, after.b2, d.b2)}) {
        if (!problem.empty()) {
            problems += (problems.empty() ? "" : "; ") + problem;
        }
    }
    return problems;
}
// [step check]

int main() {
    const auto data = bp::make_notebook_dataset<double>();
    const Eigen::MatrixXd& x = data.X;
    const Eigen::MatrixXd& y = data.y;
    Network net;
    bool ok = true;

    // [backward]
    const double loss = net.loss(x, y);
    const Eigen::MatrixXd dz2 = net.mse.backward();     // ∂L/∂z2 = 2(z2 − y)/N     (10, 1)
    const auto grads2 = net.layer2.backward(dz2);       // layer 2: z2 = z1·W2 + b2
    const Eigen::MatrixXd& dW2 = grads2.dW;             // ∂L/∂W2 = z1ᵀ·dz2         (5, 1)
    const Eigen::MatrixXd& db2 = grads2.db;             // ∂L/∂b2 = Σ_rows dz2      (1, 1)
    const Eigen::MatrixXd& dz1 = grads2.dX;             // ∂L/∂z1 = dz2·W2ᵀ         (10, 5)
    const auto grads1 = net.layer1.backward(dz1);       // layer 1: z1 = x·W1 + b1
    const Eigen::MatrixXd& dW1 = grads1.dW;             // ∂L/∂W1 = xᵀ·dz1          (5, 5)
    const Eigen::MatrixXd& db1 = grads1.db;             // ∂L/∂b1 = Σ_rows dz1      (1, 5)
    const Eigen::MatrixXd& dx = grads1.dX;              // ∂L/∂x  = dz1·W1ᵀ         (10, 5)
    // [backward]
    std::cout << "loss " << loss << "\n\n";

    // [check]
    // Each gradient against finite differences of the whole network's loss: move one element
    // of one parameter (or of x), run the network forward again, and see how L changes.
    auto check = [](const char* name, auto loss_at, const Eigen::MatrixXd& at,
                    const Eigen::MatrixXd& analytic) {
        const bp::GradientError error = bp::check_gradient(loss_at, at, analytic);
        std::cout << name << "  relative error " << error.max_relative_error << "\n";
        return error.passes(1e-6);
    };
    using M = Eigen::MatrixXd;
    ok &= check("dW2", [&](const M& v) { Network n = net; n.layer2.W = v; return n.loss(x, y); },
                net.layer2.W, dW2);
    ok &= check("db2", [&](const M& v) { Network n = net; n.layer2.b = v; return n.loss(x, y); },
                net.layer2.b, db2);
    ok &= check("dW1", [&](const M& v) { Network n = net; n.layer1.W = v; return n.loss(x, y); },
                net.layer1.W, dW1);
    ok &= check("db1", [&](const M& v) { Network n = net; n.layer1.b = v; return n.loss(x, y); },
                net.layer1.b, db1);
    ok &= check("dx ", [&](const M& v) { Network n = net; return n.loss(v, y); }, x, dx);
    // [check]

    const double lr = 0.1;
    const Parameters before{net.layer1.W, net.layer1.b, net.layer2.W, net.layer2.b};
    const Parameters d{dW1, db1, dW2, db2};

    // [notebook update]
    // The notebook's update, line by line, on copies of the parameters.
    Parameters notebook = before;
    notebook.W2 = notebook.W2 - lr * dW2;
    notebook.b2 = notebook.b2 - lr * db2;
    notebook.W1 = notebook.W1 - lr * dW1;
    notebook.b2 = notebook.b1 - lr * db1;  // the slip: b2 where b1 was meant
    // [notebook update]
    const std::string caught = check_step(before, notebook, d, lr);
    std::cout << "\nthe notebook's update: " << (caught.empty() ? "passes" : caught) << "\n";
    ok &= !caught.empty();

    // [sgd]
    // With the library, each layer holds the gradients its own backward() computed, and a step
    // takes only the layer: W and b can only move by their own dW and db.
    const bp::SGD<double> sgd{lr};
    sgd.step(net.layer2);  // W2 -= lr·dW2, b2 -= lr·db2
    sgd.step(net.layer1);  // W1 -= lr·dW1, b1 -= lr·db1
    // [sgd]
    const Parameters after{net.layer1.W, net.layer1.b, net.layer2.W, net.layer2.b};
    const std::string problem = check_step(before, after, d, lr);
    std::cout << "the library's update: " << (problem.empty() ? "passes" : problem) << "\n";
    ok &= problem.empty();

    std::cout << (ok ? "every check did its job\n" : "A CHECK DID NOT DO ITS JOB\n");
    return ok ? 0 : 1;
}
