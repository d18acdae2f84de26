// The seed notebook, step by step, with backprop: derivatives, a Jacobian, the synthetic
// dataset, a two-layer linear network, its loss, every gradient by hand, an SGD update, a short
// training run and a gradient check. Each step prints what the notebook shows.
#include <backprop/backprop.hpp>

#include <iostream>

namespace bp = backprop;

int main() {
    // Print matrices the way numpy does: one bracketed row a line.
    const Eigen::IOFormat numpy(6, 0, ", ", ",\n ", "[", "]", "[", "]");
    auto print = [&](const char* name, const auto& m) {
        std::cout << name << " (" << m.rows() << "x" << m.cols() << ") =\n"
                  << m.format(numpy) << "\n\n";
    };

    std::cout << "== 1. Derivatives\n\n";
    auto f = [](double x) { return 3 * x; };
    std::cout << "f(x) = 3x, f(4) = " << f(4) << "\n"
              << "forward difference (f(4+h) - f(4))/h, h = 0.001: "
              << bp::numeric_derivative(f, 4.0, 0.001, bp::Difference::forward) << "\n"
              << "central difference (f(4+h) - f(4-h))/2h:        "
              << bp::numeric_derivative(f, 4.0) << "\n\n";

    Eigen::VectorXd x(5);
    x << 0.32150969, 0.87640208, 0.15695178, 0.26655405, 0.9600369;  // the notebook's X
    auto square = [](const Eigen::VectorXd& v) { return Eigen::VectorXd(v.array().square()); };
    print("x", x.transpose());
    print("f(x) = x*x", square(x).transpose());
    print("Jacobian of f at x (diag(2x))", bp::numeric_jacobian(square, x));

    std::cout << "== 2. The dataset: y = x·[0.8, 0.3, 0.75, 0.5, 0.2]ᵀ + 0.43\n\n";
    const auto data = bp::make_notebook_dataset<double>(10, 0);
    print("x", data.X);
    print("y", data.y);

    std::cout << "== 3. Parameters, drawn uniform in [0, 1) as np.random.rand\n\n";
    bp::Dense<double> layer1(5, 5, 1, bp::Init::unit_uniform);
    bp::Dense<double> layer2(5, 1, 2, bp::Init::unit_uniform);
    print("w1", layer1.W);
    print("b1", layer1.b);
    print("w2", layer2.W);
    print("b2", layer2.b);

    std::cout << "== 4. Forward pass\n\n";
    const Eigen::MatrixXd z1 = layer1.forward(data.X);  // z1 = x·w1 + b1
    const Eigen::MatrixXd z2 = layer2.forward(z1);      // z2 = z1·w2 + b2
    std::cout << "z1.shape = (" << z1.rows() << ", " << z1.cols() << ")\n"
              << "z2.shape = (" << z2.rows() << ", " << z2.cols() << ")\n\n";

    std::cout << "== 5. Loss: mean of (z2 - y)², as torch.nn.MSELoss()\n\n";
    bp::MSE<double> mse;
    std::cout << "loss = " << mse.forward(z2, data.y) << "\n"
              << "(the notebook's sum/(2n) would be half of it, and its 2/n gradient would not "
                 "be that loss's gradient)\n\n";

    std::cout << "== 6. Backward pass, every gradient by hand\n\n";
    const auto& dz2 = mse.backward();              // dz2 = 2(z2 - y)/n
    print("dz2 = 2(z2 - y)/n", dz2);
    const auto& grads2 = layer2.backward(dz2);     // dw2 = z1ᵀ·dz2, db2 = Σ dz2, dz1 = dz2·w2ᵀ
    print("dw2 = z1ᵀ·dz2", grads2.dW);
    print("db2 = sum of dz2 over the batch", grads2.db);
    print("dz1 = dz2·w2ᵀ", grads2.dX);
    const auto& grads1 = layer1.backward(grads2.dX);  // dw1 = xᵀ·dz1, db1 = Σ dz1, dx = dz1·w1ᵀ
    print("dw1 = xᵀ·dz1", grads1.dW);
    print("db1 = sum of dz1 over the batch", grads1.db);
    print("dx = dz1·w1ᵀ", grads1.dX);

    std::cout << "== 7. Gradient descent update, lr = 0.1 (each parameter from its own gradient)\n\n";
    const bp::SGD<double> sgd{0.1};
    sgd.step(layer2);  // w2 -= lr·dw2, b2 -= lr·db2
    sgd.step(layer1);  // w1 -= lr·dw1, b1 -= lr·db1 (the notebook wrote b2 = b1 - …)
    print("w2", layer2.W);
    print("b2", layer2.b);

    std::cout << "== 8. Training: 200 steps of the same forward, backward and update\n"
              << "(weights drawn in [0, 1) make the first steps overshoot; then the loss falls)\n\n";
    for (int step = 1; step <= 200; ++step) {
        const double loss = mse.forward(layer2.forward(layer1.forward(data.X)), data.y);
        const auto& g2 = layer2.backward(mse.backward());
        layer1.backward(g2.dX);
        sgd.step(layer2);
        sgd.step(layer1);
        if (step == 1 || step % 40 == 0) {
            std::cout << "step " << step << "  loss " << loss << "\n";
        }
    }

    std::cout << "\n== 9. Gradient check: hand-written backward vs central differences\n\n";
    const auto dense_error = bp::gradient_check(layer1, data.X);
    const auto mse_error = bp::gradient_check(mse, layer2.forward(layer1.forward(data.X)), data.y);
    std::cout << "Dense: largest relative error " << dense_error.max_relative_error() << "\n"
              << "MSE:   largest relative error " << mse_error.max_relative_error << "\n";
    const bool ok = dense_error.passes(1e-6) && mse_error.passes(1e-6);
    std::cout << (ok ? "gradients OK\n" : "GRADIENTS WRONG\n");
    return ok ? 0 : 1;
}
