// The library's hand-written backward passes against PyTorch's autograd, as the tutorial pages
// show them: tests/reference/make_reference.py ran once with torch in float64 and stored the
// inputs, the parameters and every value and gradient autograd computed; this program feeds the
// same inputs to the library and prints the largest difference of each result.
// Usage: pytorch_agreement dense|mse|network
//   dense    one Dense layer's backward (Tutorial 2)
//   mse      MSE's value and gradient, on all four stored cases (Tutorial 3)
//   network  the notebook's two-layer network, every gradient (Tutorial 4)
// Exits non-zero if a difference exceeds 1e-12 relative to the largest value.
#include "../tests/reference/pytorch_reference.hpp"
#include "pytorch_compare.hpp"

#include <backprop/backprop.hpp>

#include <cstdio>
#include <string>

namespace bp = backprop;

namespace {

using example::compare;
using example::from_torch;

bool dense() {
    // [dense]
    // The second layer of the stored case with batch 7, hidden 6, out 3: its input Z1, its W2
    // and b2, and the dZ2 that autograd sent into it; autograd's dW2, db2 and dZ1 to compare.
    const reference::TwoLayerCase& c = reference::two_layer_cases[2];
    bp::Dense<double> layer(c.hidden, c.out);
    layer.W = from_torch(c.W2, c.hidden, c.out);
    layer.b = from_torch(c.b2, 1, c.out);
    layer.forward(from_torch(c.Z1, c.batch, c.hidden));
    const auto& grads = layer.backward(from_torch(c.dZ2, c.batch, c.out));
    // [dense]
    bool ok = compare("dW", grads.dW, from_torch(c.dW2, c.hidden, c.out));
    ok &= compare("db", grads.db, from_torch(c.db2, 1, c.out));
    ok &= compare("dX", grads.dX, from_torch(c.dZ1, c.batch, c.hidden));
    return ok;
}

bool mse() {
    bool ok = true;
    // [mse]
    // Every stored case: MSELoss()(Z2, Y) and the gradient autograd found for Z2.
    for (const reference::TwoLayerCase& c : reference::two_layer_cases) {
        bp::MSE<double> loss;
        const Eigen::MatrixXd Z2 = from_torch(c.Z2, c.batch, c.out);
        const double L = loss.forward(Z2, from_torch(c.Y, c.batch, c.out));
        const auto& dZ2 = loss.backward();
        // [mse]
        ok &= compare("L", example::scalar(L), example::scalar(c.loss));
        ok &= compare("dZ", dZ2, from_torch(c.dZ2, c.batch, c.out));
    }
    return ok;
}

bool network() {
    // [network]
    // The notebook's shapes (batch 10, 5 → 5 → 1), every gradient of the loss.
    const reference::TwoLayerCase& c = reference::two_layer_cases[0];
    bp::Dense<double> layer1(c.in, c.hidden), layer2(c.hidden, c.out);
    layer1.W = from_torch(c.W1, c.in, c.hidden);
    layer1.b = from_torch(c.b1, 1, c.hidden);
    layer2.W = from_torch(c.W2, c.hidden, c.out);
    layer2.b = from_torch(c.b2, 1, c.out);
    bp::MSE<double> loss;
    loss.forward(layer2.forward(layer1.forward(from_torch(c.X, c.batch, c.in))),
                 from_torch(c.Y, c.batch, c.out));
    const auto& g2 = layer2.backward(loss.backward());
    const auto& g1 = layer1.backward(g2.dX);
    // [network]
    bool ok = compare("dW2", g2.dW, from_torch(c.dW2, c.hidden, c.out));
    ok &= compare("db2", g2.db, from_torch(c.db2, 1, c.out));
    ok &= compare("dz1", g2.dX, from_torch(c.dZ1, c.batch, c.hidden));
    ok &= compare("dW1", g1.dW, from_torch(c.dW1, c.in, c.hidden));
    ok &= compare("db1", g1.db, from_torch(c.db1, 1, c.hidden));
    ok &= compare("dx", g1.dX, from_torch(c.dX, c.batch, c.in));
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string what = argc > 1 ? argv[1] : "";
    bool ok;
    if (what == "dense") {
        ok = dense();
    } else if (what == "mse") {
        ok = mse();
    } else if (what == "network") {
        ok = network();
    } else {
        std::fprintf(stderr, "usage: pytorch_agreement dense|mse|network\n");
        return 2;
    }
    std::printf(ok ? "agrees with PyTorch\n" : "DIFFERS FROM PYTORCH\n");
    return ok ? 0 : 1;
}
