// Tutorial page 5, Training: what sets how fast the loss falls at the end. Trains page 5's
// network from the same draws, with the learning rate and the scale of the initial parameters
// changed one at a time, and prints the factor by which the loss shrinks per step over the last
// 1000 of 3000 steps. Prints what docs/5_training.md shows; exits non-zero if a run diverges.
#include <backprop/backprop.hpp>

#include <cmath>
#include <cstdio>
#include <utility>

namespace bp = backprop;

namespace {

// [rate]
// The loss factor per step over steps 2000 to 3000: (L₃₀₀₀ / L₂₀₀₀)^(1/1000).
double rate(double lr, double scale) {
    const auto data = bp::make_notebook_dataset<double>();
    bp::Dense<double> layer1(5, 5, /*seed=*/1), layer2(5, 1, /*seed=*/2);  // page 5's draws
    for (auto* layer : {&layer1, &layer2}) {
        layer->W *= scale;
        layer->b *= scale;
    }
    bp::MSE<double> mse;
    double at_2000 = 0, loss = 0;
    for (int step = 0; step <= 3000; ++step) {
        loss = mse.forward(layer2.forward(layer1.forward(data.X)), data.y);
        const auto& grads2 = layer2.backward(mse.backward());
        const auto& grads1 = layer1.backward(grads2.dX);
        layer2.W -= lr * grads2.dW;  // the SGD step, written out
        layer2.b -= lr * grads2.db;
        layer1.W -= lr * grads1.dW;
        layer1.b -= lr * grads1.db;
        at_2000 = step == 2000 ? loss : at_2000;
    }
    return std::pow(loss / at_2000, 1.0 / 1000);
}
// [rate]

}  // namespace

int main() {
    bool ok = true;
    std::printf("learning rate  initial scale  loss factor per step\n");
    for (const auto& [lr, scale] : {std::pair{0.1, 1.0}, std::pair{0.05, 1.0},
                                   std::pair{0.1, 0.5}, std::pair{0.1, 2.0}}) {
        const double factor = rate(lr, scale);
        std::printf("%13.2f  %13.1f  %20.5f\n", lr, scale, factor);
        ok &= std::isfinite(factor) && factor < 1;
    }
    return ok ? 0 : 1;
}
