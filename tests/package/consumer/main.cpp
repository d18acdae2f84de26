// Trains the seed notebook's two-layer network; exits 0 when the loss has fallen below 1e-3.
#include <backprop/backprop.hpp>

#include <iostream>

int main() {
    namespace bp = backprop;
    const auto data = bp::make_notebook_dataset<double>();
    bp::Dense<double> layer1(5, 5, 1);
    bp::Dense<double> layer2(5, 1, 2);
    bp::MSE<double> mse;
    const bp::SGD<double> sgd{0.1};

    double loss = 0;
    for (int step = 0; step < 2000; ++step) {
        loss = mse.forward(layer2.forward(layer1.forward(data.X)), data.y);
        const auto& grads2 = layer2.backward(mse.backward());
        layer1.backward(grads2.dX);
        sgd.step(layer2);
        sgd.step(layer1);
    }
    std::cout << "loss after 2000 steps: " << loss << "\n";
    return loss < 1e-3 ? 0 : 1;
}
