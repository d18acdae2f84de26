// Tutorial page 6, Using backprop in your own project: the program a project of your own would
// start from. It trains the notebook's network with run-time sizes and with sizes fixed at
// compile time, and reports how the build was configured and how long a training step takes.
// Usage: tutorial_6_project [STEPS [LABEL]]   (default 2000 steps; LABEL names the build)
// Exits non-zero if either network fails to learn.
#include <backprop/backprop.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

namespace bp = backprop;

namespace {

// Trains a fresh copy of the network for `steps` steps; returns the best of three timings, in
// microseconds per step, and the final loss.
template <typename Layer1, typename Layer2, typename Loss>
std::pair<double, double> time_training(const bp::Dataset<double>& data, int steps) {
    double best = 1e300;
    double loss = 0;
    for (int repeat = 0; repeat < 3; ++repeat) {
        Layer1 layer1(5, 5, /*seed=*/1);
        Layer2 layer2(5, 1, /*seed=*/2);
        Loss mse;
        const bp::SGD<double> sgd{0.1};
        const auto start = std::chrono::steady_clock::now();
        for (int step = 0; step < steps; ++step) {
            loss = mse.forward(layer2.forward(layer1.forward(data.X)), data.y);
            const auto& grads2 = layer2.backward(mse.backward());
            layer1.backward(grads2.dX);
            sgd.step(layer2);
            sgd.step(layer1);
        }
        const std::chrono::duration<double, std::micro> took =
            std::chrono::steady_clock::now() - start;
        best = std::min(best, took.count() / steps);
    }
    return {best, loss};
}

}  // namespace

int main(int argc, char** argv) {
    const int steps = argc > 1 ? std::max(1, std::stoi(argv[1])) : 2000;
    const std::string label = argc > 2 ? argv[2] : "this build";
    const auto data = bp::make_notebook_dataset<double>();

    // [fixed sizes]
    using Dynamic = bp::Dense<double>;           // sizes chosen at run time
    using Hidden = bp::Dense<double, 5, 5>;      // sizes fixed at compile time
    using Output = bp::Dense<double, 5, 1>;
    const auto dynamic = time_training<Dynamic, Dynamic, bp::MSE<double>>(data, steps);
    const auto fixed = time_training<Hidden, Output, bp::MSE<double, 1>>(data, steps);
    // [fixed sizes]

#ifdef NDEBUG
    const char* asserts = "off";
#else
    const char* asserts = "on";
#endif
    // One row: the build, its assertions, µs per step with run-time and fixed sizes, Eigen's SIMD.
    std::printf("%-28s %-8s %9.2f %9.2f   %s\n", label.c_str(), asserts, dynamic.first,
                fixed.first, Eigen::SimdInstructionSetsInUse());
    const bool ok = steps < 1000 || (dynamic.second < 1e-3 && fixed.second < 1e-3);
    return ok ? 0 : 1;
}
