// Tutorial page 16, Softmax's backward without the Jacobian: the Jacobian diag(p) − p·pᵀ of one
// row's softmax beside the Jacobian-vector product dS = p∘(dP − dP·p) that never forms it, worked
// by hand on one row and on a causal 3 × 3 block whose masked entries get p = 0 and so dS = 0;
// then, on a causal 6 × 6 block, the product checked against the explicit Jacobian and against
// finite differences, and the unmasked softmax checked against page 8's SoftmaxCrossEntropy (its
// probabilities, and its gradient p − onehot(y) as one case of the product).
// Prints what docs/16_softmax_backward.md shows; exits non-zero if a check fails.
#include "tutorial_parts.hpp"

#include <backprop/backprop.hpp>

#include <cmath>
#include <cstdio>

namespace bp = backprop;
using Matrix = Eigen::MatrixXd;

namespace {

void print_matrix(const char* name, const Matrix& m) {
    std::printf("%s =\n", name);
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        // + 0.0 turns the −0 of 0·(negative) into 0.
        for (Eigen::Index j = 0; j < m.cols(); ++j) std::printf("%9.4f", m(i, j) + 0.0);
        std::printf("\n");
    }
}

}  // namespace

// [softmax]
// P = softmax of each row of S (T, T); with `causal`, row i sees the keys j ≤ i only: its softmax
// is over those, and P[i][j] = 0 for j > i, as if S[i][j] were −∞. Shifted by the row's largest
// visible score, as on page 8, so that no exponent is positive.
Matrix row_softmax(const Matrix& S, bool causal) {
    Matrix P = Matrix::Zero(S.rows(), S.cols());
    for (Eigen::Index i = 0; i < S.rows(); ++i) {
        const Eigen::Index seen = causal ? i + 1 : S.cols();  // the visible keys 0 … seen − 1
        auto s = S.row(i).head(seen).array();
        auto p = P.row(i).head(seen).array();
        p = (s - s.maxCoeff()).exp();
        p /= p.sum();
    }
    return P;
}
// [softmax]

// [jvp]
// dS from dP without any Jacobian: per row, dS = p∘(dP − dP·p), i.e. P∘(dP − rowsum(dP∘P)) for
// the whole block. 3 multiplications and additions per entry: T² per (T, T) block. A masked
// entry has p = 0, so its dS is 0 whatever dP holds there.
Matrix softmax_backward(const Matrix& P, const Matrix& dP) {
    const Eigen::VectorXd dot = (dP.array() * P.array()).rowwise().sum();  // dP·p per row
    return (P.array() * (dP.colwise() - dot).array()).matrix();
}
// [jvp]

// [jacobian]
// The same through the Jacobian of each row, J = diag(p) − p·pᵀ (T, T), J[j][k] = ∂pⱼ/∂sₖ:
// ds = Jᵀ·dp (J is symmetric). T² to form J and T² to multiply, per row: T³ per block.
Matrix softmax_jacobian(const Eigen::RowVectorXd& p) {
    Matrix J = -p.transpose() * p;
    J.diagonal() += p.transpose();
    return J;
}

Matrix softmax_backward_by_jacobian(const Matrix& P, const Matrix& dP) {
    Matrix dS(P.rows(), P.cols());
    for (Eigen::Index i = 0; i < P.rows(); ++i) {
        dS.row(i) = (softmax_jacobian(P.row(i)).transpose() * dP.row(i).transpose()).transpose();
    }
    return dS;
}
// [jacobian]

// The worked examples: what the page shows beside its derivation.
bool worked_example() {
    // [by hand]
    // One row of three scores: e^s = 1, 1, 2, so p = 1/4, 1/4, 1/2 (page 8's first row).
    Matrix s(1, 3);
    s << 0, 0, std::log(2.0);
    Matrix dp(1, 3);
    dp << 4, 0, 2;                                     // dp·p = 1 + 0 + 1 = 2
    const Matrix p = row_softmax(s, false);
    const Matrix J = softmax_jacobian(p.row(0));       // diag(p) − p·pᵀ
    const Matrix ds = softmax_backward(p, dp);         // p∘(dp − 2) = (0.5, −0.5, 0)
    const Matrix ds_by_J = (J.transpose() * dp.transpose()).transpose();

    // A causal block, T = 3: row 0 sees key 0, row 1 keys 0 and 1, row 2 all three. The scores
    // and the dP above the diagonal are there, but the mask must make them irrelevant.
    Matrix S(3, 3), dP(3, 3);
    S << 0.5, 7, -2,
         0, std::log(3.0), 5,
         0, 0, std::log(2.0);
    dP << 7, 5, -3,
          4, 0, 9,
          4, 0, 2;
    const Matrix P = row_softmax(S, true);  // (1, 0, 0), (1/4, 3/4, 0), (1/4, 1/4, 1/2)
    const Matrix dS = softmax_backward(P, dP);
    // [by hand]
    print_matrix("p", p);
    print_matrix("J = diag(p) - p p^T", J);
    print_matrix("16 J", 16 * J);
    std::printf("row sums of J: %g %g %g\n", J.row(0).sum(), J.row(1).sum(), J.row(2).sum());
    print_matrix("ds = p o (dp - dp.p)", ds);
    print_matrix("ds = J^T dp", ds_by_J);
    std::printf("\ncausal block, T = 3\n");
    print_matrix("P", P);
    print_matrix("dS = P o (dP - rowsum(dP o P))", dS);
    return (ds - ds_by_J).cwiseAbs().maxCoeff() < 1e-15 && dS.row(0).isZero(0) &&
           dS(1, 2) == 0;
}

// The checks: what the page shows after the code.
bool checks() {
    bool ok = true;

    // [check]
    // A causal block of T = 6 queries and keys, random scores and a random dP everywhere (above
    // the diagonal too). L = Σ dP∘P, so ∂L/∂P = dP; finite differences move every score, the
    // masked ones included, whose numeric gradient is exactly 0.
    const Eigen::Index T = 6;
    const Matrix S = Matrix::Random(T, T) * 2;
    const Matrix dP = Matrix::Random(T, T);
    const Matrix P = row_softmax(S, true);
    const Matrix dS = softmax_backward(P, dP);
    const Matrix dS_by_J = softmax_backward_by_jacobian(P, dP);
    auto weighted_sum = [&](const Matrix& scores) {
        return (dP.array() * row_softmax(scores, true).array()).sum();
    };
    const bp::GradientError error = bp::check_gradient(weighted_sum, S, dS);
    // [check]
    const Matrix upper = dS.triangularView<Eigen::StrictlyUpper>();
    std::printf("causal block, T = %ld, random S and dP\n", long(T));
    std::printf("max |JVP - Jacobian product|     %.1e\n", (dS - dS_by_J).cwiseAbs().maxCoeff());
    std::printf("relative error against finite differences  %.1e\n", error.max_relative_error);
    std::printf("largest |dS| above the diagonal  %g\n", upper.cwiseAbs().maxCoeff());
    std::printf("largest |row sum of dS|          %.1e\n\n",
                dS.rowwise().sum().cwiseAbs().maxCoeff());
    ok &= (dS - dS_by_J).cwiseAbs().maxCoeff() < 1e-14 && error.passes(1e-7) && upper.isZero(0);

    // [cross-entropy]
    // Page 8's loss is softmax followed by L = (1/B)·Σᵢ −log pᵢ,yᵢ, so dP = −onehot(y)/(B·p) and
    // the product gives p∘(dP − dP·p) = (p − onehot(y))/B: SoftmaxCrossEntropy's gradient.
    const Matrix logits = Matrix::Random(4, 5) * 3;
    Eigen::VectorXi labels(4);
    labels << 1, 4, 0, 1;
    bp::SoftmaxCrossEntropy<double> loss;
    loss.forward(logits, labels);
    const Matrix p = row_softmax(logits, false);
    Matrix dp = Matrix::Zero(4, 5);
    for (Eigen::Index i = 0; i < 4; ++i) dp(i, labels(i)) = -1 / (4 * p(i, labels(i)));
    const Matrix dz = softmax_backward(p, dp);
    // [cross-entropy]
    const double p_diff = (p - loss.probabilities()).cwiseAbs().maxCoeff();
    const double dz_diff = (dz - loss.backward()).cwiseAbs().maxCoeff();
    std::printf("softmax against SoftmaxCrossEntropy::probabilities  max |diff| %.1e\n", p_diff);
    std::printf("JVP of -log p_y against SoftmaxCrossEntropy::backward  max |diff| %.1e\n\n",
                dz_diff);
    ok &= p_diff < 1e-15 && dz_diff < 1e-15;

    std::printf(ok ? "the product agrees with the Jacobian, finite differences and page 8\n"
                   : "THE PRODUCT DISAGREES\n");
    return ok;
}

// "example" runs the worked example alone, "checks" the checks alone; no argument, both.
int main(int argc, char** argv) { return example::run_parts(argc, argv, worked_example, checks); }
