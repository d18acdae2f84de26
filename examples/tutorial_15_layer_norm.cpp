// Tutorial page 15, LayerNorm's backward: the backward pass written node by node through the
// graph μ → d = x − μ → σ² → s → x̂ → y, worked by hand on one row of eight values (with the
// gradient of the first output alone, so that every number is a fraction of 64), beside
// backprop::LayerNorm's compact form; then both checked against finite differences on a batch of
// rows as wide as a small transformer's, and against PyTorch's LayerNorm(6)
// (tests/reference/pytorch_reference_norm.hpp).
// Prints what docs/15_layer_norm.md shows; exits non-zero if a check fails or a number differs
// from PyTorch's by more than 1e-12 relative to the largest.
#include "../tests/reference/pytorch_reference_norm.hpp"
#include "pytorch_compare.hpp"
#include "tutorial_parts.hpp"

#include <backprop/backprop.hpp>

#include <cstdio>

namespace bp = backprop;
using example::compare;     // pytorch_compare.hpp: one line per comparison with PyTorch
using example::from_torch;  // pytorch_compare.hpp: PyTorch's row-by-row numbers as a matrix
using Matrix = Eigen::MatrixXd;
using Column = Eigen::VectorXd;

namespace {

void print_row(const char* name, const Eigen::MatrixXd& m) {
    std::printf("%-22s", name);
    for (double v : m.reshaped<Eigen::RowMajor>()) std::printf("%10.6f", v + 0.0);  // no "-0"
    std::printf("\n");
}

}  // namespace

// [term by term]
// LayerNorm's backward pass, one node of the graph at a time, each row of X (n, F) on its own.
// The forward pass again, keeping every node:
//   μ = mean(x)   d = x − μ   v = mean(d²)   s = (v + ε)^(−1/2)   x̂ = d·s   y = γ∘x̂ + β
// then back from dY, each line the derivative of the forward line named beside it.
struct TermByTerm {
    Matrix dX, dxhat, dd;  // (n, F)
    Column ds, dv, dmu;    // (n): one per row
};

TermByTerm layer_norm_backward_term_by_term(const Matrix& X, const Eigen::RowVectorXd& gamma,
                                            const Matrix& dY, double eps) {
    const double F = double(X.cols());
    const Column mu = X.rowwise().mean();
    const Matrix d = X.colwise() - mu;
    const Column v = d.array().square().rowwise().mean();
    const Column s = (v.array() + eps).rsqrt();
    TermByTerm g;
    g.dxhat = dY.array().rowwise() * gamma.array();          // y = γ∘x̂ + β
    g.ds = (g.dxhat.array() * d.array()).rowwise().sum();    // x̂ = d·s: s is in every x̂ⱼ
    g.dv = -0.5 * s.array().cube() * g.ds.array();           // s = (v + ε)^(−1/2)
    g.dd = g.dxhat.array().colwise() * s.array()             // x̂ = d·s: the direct road
           + d.array().colwise() * (2 / F * g.dv.array());  // v = mean(d²)
    g.dmu = -g.dd.rowwise().sum();                           // d = x − μ: μ is in every dⱼ
    g.dX = g.dd.colwise() + g.dmu / F;                       // d = x − μ and μ = mean(x)
    return g;
}
// [term by term]

// The worked example: what the page shows beside its derivation.
bool worked_example() {
    // [by hand]
    // One row of F = 8 values: μ = 5, d = (−3, −1, −1, −1, 0, 0, 2, 4), σ² = 32/8 = 4, s = 1/2,
    // x̂ = d/2. γ = 1, β = 0, and dY = (1, 0, …, 0): L = y₁, the first output alone. ε = 1e-12
    // instead of the default 1e-5 (which moves the sixth digit), so that s prints as 1/2.
    Matrix x(1, 8);
    x << 2, 4, 4, 4, 5, 5, 7, 9;
    Matrix dy = Matrix::Zero(1, 8);
    dy(0, 0) = 1;
    bp::LayerNorm<double> norm(8, 1e-12);  // γ = 1, β = 0
    const Matrix y = norm.forward(x);
    const Matrix dx = norm.backward(dy).dX;  // the compact form
    const TermByTerm t = layer_norm_backward_term_by_term(x, norm.gamma, dy, norm.eps());
    // [by hand]
    print_row("x", x);
    print_row("y = x_hat", y);
    print_row("ds = sum_j g_j d_j", t.ds);
    print_row("dv = -s^3 ds / 2", t.dv);
    print_row("dd", t.dd);
    print_row("dmu = -sum_j dd_j", t.dmu);
    print_row("dx, term by term", t.dX);
    print_row("dx, compact", dx);
    print_row("64 dx", 64 * dx);
    print_row("sum of dx", Matrix::Constant(1, 1, dx.sum()));
    return (dx - t.dX).cwiseAbs().maxCoeff() < 1e-15;
}

// The checks and PyTorch's numbers: what the page shows after the code.
bool checks() {
    bool ok = true;

    // [check]
    // 5 rows of F = 16 (a small transformer's width), γ and β away from 1 and 0. L = Σ G∘Y, so
    // dY = G; both backward passes against finite differences of L with respect to X and γ.
    const Eigen::Index F = 16;
    bp::LayerNorm<double> norm(F);
    norm.gamma = Eigen::RowVectorXd::Random(F) + Eigen::RowVectorXd::Constant(F, 1);
    norm.beta = Eigen::RowVectorXd::Random(F) * 0.5;
    const Matrix X = Matrix::Random(5, F) * 3;
    const Matrix G = Matrix::Random(5, F);
    norm.forward(X);
    const bp::LayerNorm<double>::Gradients grads = norm.backward(G);  // the compact form
    const Matrix dX_term = layer_norm_backward_term_by_term(X, norm.gamma, G, norm.eps()).dX;
    auto loss = [&](const Matrix& x, const Matrix& gamma) {
        bp::LayerNorm<double> moved = norm;
        moved.gamma = gamma;
        return (G.array() * moved.predict(x).array()).sum();
    };
    const Matrix gamma = norm.gamma;
    const bp::GradientError dX_error =
        bp::check_gradient([&](const Matrix& x) { return loss(x, gamma); }, X, grads.dX);
    const bp::GradientError dX_term_error =
        bp::check_gradient([&](const Matrix& x) { return loss(x, gamma); }, X, dX_term);
    const bp::GradientError dgamma_error = bp::check_gradient(
        [&](const Matrix& g) { return loss(X, g); }, gamma, Matrix(grads.dgamma));
    // [check]
    std::printf("LayerNorm(%ld), 5 rows\n", long(F));
    std::printf("dX compact       relative error %.1e\n", dX_error.max_relative_error);
    std::printf("dX term by term  relative error %.1e\n", dX_term_error.max_relative_error);
    std::printf("dgamma           relative error %.1e\n", dgamma_error.max_relative_error);
    std::printf("max |compact - term by term| = %.1e\n\n",
                (grads.dX - dX_term).cwiseAbs().maxCoeff());
    ok &= dX_error.passes(1e-7) && dX_term_error.passes(1e-7) && dgamma_error.passes(1e-7);

    // [pytorch]
    // make_reference_norm.py: torch.nn.LayerNorm(6) with γ and β set, on X (4, 6), and the
    // gradients of Σ G∘Y. Both backward passes against autograd's.
    std::printf("LayerNorm(6) against PyTorch, 4 rows; backprop::LayerNorm:\n");
    const reference::LayerNormCase& c = reference::layer_norm_case;
    bp::LayerNorm<double> torch_ln(6);
    torch_ln.gamma = from_torch(c.gamma, 1, 6);
    torch_ln.beta = from_torch(c.beta, 1, 6);
    const Matrix Xt = from_torch(c.X, 4, 6), Gt = from_torch(c.G, 4, 6);
    ok &= compare("Y", torch_ln.forward(Xt), from_torch(c.Y, 4, 6));
    ok &= compare("dX", torch_ln.backward(Gt).dX, from_torch(c.dX, 4, 6));
    const TermByTerm t = layer_norm_backward_term_by_term(Xt, torch_ln.gamma, Gt, torch_ln.eps());
    // [pytorch]
    std::printf("term by term:\n");
    ok &= compare("dX", t.dX, from_torch(c.dX, 4, 6));
    std::printf("\n");

    std::printf(ok ? "both backward passes are right and agree with PyTorch\n"
                   : "A BACKWARD PASS IS WRONG OR DIFFERS FROM PYTORCH\n");
    return ok;
}

// "example" runs the worked example alone, "checks" the checks alone; no argument, both.
int main(int argc, char** argv) { return example::run_parts(argc, argv, worked_example, checks); }
