// Tutorial page 13, Batch normalisation: one feature's four values normalised by hand, the
// running statistics after one step (PyTorch's momentum, unbiased variance) and eval mode; the
// gradient check of dX, dγ and dβ in training mode for BatchNorm over image channels and for
// LayerNorm; every case of tests/reference/pytorch_reference_norm.hpp for BatchNorm (three
// training steps and one in eval mode, with the running statistics after each) and LayerNorm
// against PyTorch's numbers; and Dropout's mask in training and identity in eval mode.
// Prints what docs/13_batch_norm.md shows; exits non-zero if a check fails or a number differs
// from PyTorch's by more than 1e-12 relative to the largest.
#include "../tests/reference/pytorch_reference_norm.hpp"
#include "pytorch_compare.hpp"
#include "tutorial_parts.hpp"

#include <backprop/backprop.hpp>

#include <cstdio>

namespace bp = backprop;
using example::compare;     // pytorch_compare.hpp: one line per comparison with PyTorch
using example::from_torch;  // pytorch_compare.hpp: PyTorch's row-by-row numbers as a matrix

namespace {

void print_row(const char* name, const Eigen::MatrixXd& m) {
    std::printf("%-34s", name);
    for (double v : m.reshaped()) std::printf("%9.4f", v);
    std::printf("\n");
}

}  // namespace

// The worked example: what the page shows beside its derivation.
bool worked_example() {
    bool ok = true;

    // [by hand]
    // One feature (BatchNorm(1)), a batch of four: μ = 3, σ² = (4 + 1 + 0 + 9)/4 = 3.5.
    Eigen::MatrixXd x(4, 1);
    x << 1, 2, 3, 6;
    bp::BatchNorm<double> bn(1);  // γ = 1, β = 0, ε = 1e-5, momentum 0.1, as PyTorch
    const Eigen::MatrixXd y_train = bn.forward(x);  // training: the batch's μ and σ²
    bn.set_mode(bp::Mode::eval);
    const Eigen::MatrixXd y_eval = bn.forward(x);   // eval: the running statistics
    // [by hand]
    print_row("x", x);
    print_row("training: (x - 3)/sqrt(3.5 + eps)", y_train);
    print_row("running mean 0.9*0 + 0.1*3", bn.running_mean);
    print_row("running var 0.9*1 + 0.1*3.5*4/3", bn.running_var);
    print_row("eval: (x - 0.3)/sqrt(1.3667 + eps)", y_eval);

    return ok;
}

// The gradient checks and PyTorch's numbers: what the page shows after the code.
bool checks() {
    bool ok = true;

    // [check]
    // BatchNorm over 3 channels of 2×3 images, batch 4, in training mode: each channel is one
    // group of M = 4·6 values. L = Σ G∘Y, so dY = G. The loss runs forward() on a copy (which
    // moves only the copy's running statistics).
    bp::BatchNorm<double> layer(3, 2, 3);
    layer.gamma << 1.5, 0.5, -0.8;
    layer.beta << 0.1, -0.2, 0.3;
    const Eigen::MatrixXd X = Eigen::MatrixXd::Random(4, layer.in()) * 2;
    const Eigen::MatrixXd G = Eigen::MatrixXd::Random(4, layer.in());
    using M = Eigen::MatrixXd;
    auto loss = [&](const M& gamma, const M& beta, const M& x) {
        bp::BatchNorm<double> moved = layer;
        moved.gamma = gamma;
        moved.beta = beta;
        return (G.array() * moved.forward(x).array()).sum();
    };
    bp::BatchNorm<double> trained = layer;
    trained.forward(X);
    const auto& g = trained.backward(G);
    const M gamma = layer.gamma, beta = layer.beta;
    const bp::GradientError errors[] = {
        bp::check_gradient([&](const M& x) { return loss(gamma, beta, x); }, X, g.dX),
        bp::check_gradient([&](const M& v) { return loss(v, beta, X); }, gamma, M(g.dgamma)),
        bp::check_gradient([&](const M& v) { return loss(gamma, v, X); }, beta, M(g.dbeta))};
    // [check]
    const char* names[] = {"dX", "dgamma", "dbeta"};
    std::printf("BatchNorm, 3 channels of 2x3, batch 4, training mode\n");
    for (int i = 0; i < 3; ++i) {
        std::printf("%-6s relative error %.1e\n", names[i], errors[i].max_relative_error);
        ok &= errors[i].passes(1e-7);
    }

    // [layer norm check]
    // LayerNorm: the same derivation, each row one group of its 6 features.
    bp::LayerNorm<double> row_norm(6);
    row_norm.gamma << 1.2, 0.9, -0.5, 1.1, 0.7, 1.4;
    const M Xr = Eigen::MatrixXd::Random(3, 6) * 2;
    const M Gr = Eigen::MatrixXd::Random(3, 6);
    row_norm.forward(Xr);
    const M dXr = row_norm.backward(Gr).dX;
    const bp::GradientError row_error = bp::check_gradient(
        [&](const M& x) { return (Gr.array() * row_norm.predict(x).array()).sum(); }, Xr, dXr);
    // [layer norm check]
    std::printf("LayerNorm(6), batch 3: dX relative error %.1e\n\n", row_error.max_relative_error);
    ok &= row_error.passes(1e-7);

    // [pytorch]
    // make_reference_norm.py: BatchNorm1d(4) and BatchNorm2d(3) on 4×5 images, each with γ and β
    // copied in, three steps in training and a fourth in eval mode, on new X and G each step.
    for (const reference::BatchNormCase& t : reference::batch_norm_cases) {
        // A channel is t.spatial = H·W values of a row: BatchNorm(C, H·W, 1) has the same groups.
        bp::BatchNorm<double> torch_bn(t.channels, t.spatial, 1, t.eps, t.momentum);
        torch_bn.gamma = from_torch(t.gamma, 1, t.channels);
        torch_bn.beta = from_torch(t.beta, 1, t.channels);
        const Eigen::Index width = torch_bn.in();
        for (std::size_t step = 0; step < t.steps.size(); ++step) {
            const reference::BatchNormStep& s = t.steps[step];
            torch_bn.set_mode(step < 3 ? bp::Mode::train : bp::Mode::eval);
            std::printf("%s, step %zu (%s)\n", t.name, step, step < 3 ? "training" : "eval");
            ok &= compare("Y", torch_bn.forward(from_torch(s.X, t.batch, width)),
                          from_torch(s.Y, t.batch, width));
            const auto& d = torch_bn.backward(from_torch(s.G, t.batch, width));
            ok &= compare("dX", d.dX, from_torch(s.dX, t.batch, width));
            ok &= compare("dgamma", d.dgamma, from_torch(s.dgamma, 1, t.channels));
            ok &= compare("dbeta", d.dbeta, from_torch(s.dbeta, 1, t.channels));
            ok &= compare("mean", torch_bn.running_mean, from_torch(s.running_mean, 1, t.channels));
            ok &= compare("var", torch_bn.running_var, from_torch(s.running_var, 1, t.channels));
        }
    }
    const reference::LayerNormCase& t = reference::layer_norm_case;
    bp::LayerNorm<double> torch_ln(6);
    torch_ln.gamma = from_torch(t.gamma, 1, 6);
    torch_ln.beta = from_torch(t.beta, 1, 6);
    std::printf("LayerNorm(6), batch 4\n");
    ok &= compare("Y", torch_ln.forward(from_torch(t.X, 4, 6)), from_torch(t.Y, 4, 6));
    const auto& d = torch_ln.backward(from_torch(t.G, 4, 6));
    ok &= compare("dX", d.dX, from_torch(t.dX, 4, 6));
    ok &= compare("dgamma", d.dgamma, from_torch(t.dgamma, 1, 6));
    ok &= compare("dbeta", d.dbeta, from_torch(t.dbeta, 1, 6));
    // [pytorch]
    std::printf("\n");

    // [dropout]
    // Dropout(0.5): in training about half the elements are zeroed and the rest doubled, so the
    // mean is kept; backward() routes dY through the same mask. In eval mode it is the identity.
    bp::Dropout<double> dropout(0.5, /*seed=*/3);
    const Eigen::MatrixXd ones = Eigen::MatrixXd::Ones(1, 10);
    const Eigen::MatrixXd dropped = dropout.forward(ones);
    const Eigen::MatrixXd routed = dropout.backward(ones).dX;
    dropout.set_mode(bp::Mode::eval);
    const Eigen::MatrixXd identity = dropout.forward(ones);
    // [dropout]
    print_row("Dropout(0.5), training: Y", dropped);
    print_row("Dropout(0.5), training: dX", routed);
    print_row("Dropout(0.5), eval: Y", identity);
    ok &= (routed - dropped).norm() == 0 && (identity - ones).norm() == 0;
    std::printf("\n");

    std::printf(ok ? "every gradient is right and agrees with PyTorch\n"
                   : "A GRADIENT IS WRONG OR DIFFERS FROM PYTORCH\n");
    return ok;
}

// "example" runs the worked example alone, "checks" the checks alone; no argument, both.
int main(int argc, char** argv) { return example::run_parts(argc, argv, worked_example, checks); }
