// Tutorial page 17, Attention: one head over three positions worked by hand (Q, K, V, the scaled
// scores, the causal mask, the row softmax, O = P·V, then the backward pass in reverse) and the
// same numbers from backprop::CausalSelfAttention; the gradient check of the layer with four
// heads against finite differences; the mask at work; and the key/value cache of generation,
// which gives the outputs of the whole sequence one position at a time.
// Prints what docs/17_attention.md shows; exits non-zero if a check fails.
#include "tutorial_parts.hpp"

#include <backprop/backprop.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>

namespace bp = backprop;
using M = Eigen::MatrixXd;

namespace {

void print_matrix(const char* name, const M& m) {
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        std::printf("%-8s", i == 0 ? name : "");
        for (Eigen::Index j = 0; j < m.cols(); ++j) std::printf("%9.4f", m(i, j));
        std::printf("\n");
    }
}

double max_difference(const M& a, const M& b) { return (a - b).cwiseAbs().maxCoeff(); }

}  // namespace

// The worked example: what the page shows beside its derivation.
bool worked_example() {
    // [by hand forward]
    // T = 3 positions of width C = 2, one head of size hs = 2. The projections, side by side in
    // the layer's one qkv matrix (2, 6), are Wq, Wk, Wv here.
    M X(3, 2), Wq(2, 2), Wk(2, 2), Wv(2, 2);
    X << 1, 0,
         0, 1,
         1, 1;
    Wq << 1, 0,
          0, 1;
    Wk << 1, 0,
          0, 2;
    Wv << 2, 0,
          0, -1;
    const M Q = X * Wq, K = X * Wk, V = X * Wv;   // (T, hs) each
    const double c = 1 / std::sqrt(2.0);          // 1/√hs
    const M S = c * Q * K.transpose();            // (T, T): S[i][j] = c·(query i)·(key j)
    // The causal mask and the softmax of each row: row i over the keys j ≤ i, zero beyond.
    M P = M::Zero(3, 3);
    for (Eigen::Index i = 0; i < 3; ++i) {
        const Eigen::RowVectorXd s = S.row(i).head(i + 1);
        const Eigen::RowVectorXd e = (s.array() - s.maxCoeff()).exp().matrix();
        P.row(i).head(i + 1) = e / e.sum();
    }
    const M O = P * V;                            // (T, hs): each row a mean of values
    // [by hand forward]
    std::printf("Forward, by hand\n");
    print_matrix("Q", Q);
    print_matrix("K", K);
    print_matrix("V", V);
    print_matrix("S", S);
    print_matrix("P", P);
    print_matrix("O", O);

    // [by hand backward]
    // L = Σ dO∘O for a chosen dO: the backward pass in reverse.
    M dO(3, 2);
    dO << 1, 0,
          0, 1,
          1, -1;
    const M dV = P.transpose() * dO;              // O = P·V
    const M dP = dO * V.transpose();
    // The softmax of each row, backward without its Jacobian: dS = P∘(dP − rowsum(dP∘P)).
    const Eigen::VectorXd rowsum = (dP.array() * P.array()).rowwise().sum();
    const M dS = (P.array() * (dP.colwise() - rowsum).array()).matrix();
    const M dQ = c * dS * K;                      // S = c·Q·Kᵀ
    const M dK = c * dS.transpose() * Q;
    const M dX = dQ * Wq.transpose() + dK * Wk.transpose() + dV * Wv.transpose();
    // [by hand backward]
    std::printf("\nBackward, by hand\n");
    print_matrix("dO", dO);
    print_matrix("dV", dV);
    print_matrix("dP", dP);
    print_matrix("dS", dS);
    print_matrix("dQ", dQ);
    print_matrix("dK", dK);
    print_matrix("dX", dX);

    // [the layer]
    // The same head in the library's layer: qkv holds [Wq Wk Wv], and proj is the identity, so
    // that Y = O and dO = dY.
    bp::CausalSelfAttention<double> attention(/*embed=*/2, /*heads=*/1);
    attention.qkv.W << Wq, Wk, Wv;
    attention.qkv.b.setZero();
    attention.proj.W.setIdentity();
    attention.proj.b.setZero();
    const M Y = attention.forward(X, /*T=*/3);
    const M dX_layer = attention.backward(dO).dX;
    M dQKV(3, 6);
    dQKV << dQ, dK, dV;
    const M dW_qkv = X.transpose() * dQKV;       // the qkv layer's dW, from the hand's dQ, dK, dV
    // [the layer]
    const double differences[] = {max_difference(Y, O), max_difference(dX_layer, dX),
                                  max_difference(attention.qkv.gradients().dW, dW_qkv)};
    std::printf("\nCausalSelfAttention(2, 1) against the hand: largest difference of\n"
                "Y and O %.1e, of dX %.1e, of qkv's dW and X^T [dQ dK dV] %.1e\n",
                differences[0], differences[1], differences[2]);
    return *std::max_element(std::begin(differences), std::end(differences)) < 1e-14;
}

// The gradient check, the mask and the cache: what the page shows after the derivation.
bool checks() {
    bool ok = true;

    // [check]
    // B = 2 sequences of T = 5 positions, C = 8 columns in H = 4 heads of 2. L = Σ G∘Y, so
    // dY = G. The loss runs predict() on the layer or on a copy with one tensor moved.
    using Attention = bp::CausalSelfAttention<double>;
    const Eigen::Index B = 2, T = 5, C = 8;
    Attention layer(C, /*heads=*/4, /*seed=*/7);
    layer.qkv.W *= 4;  // larger scores than at the start, so that no row of P is near uniform
    const M X = M::Random(B * T, C), G = M::Random(B * T, C);
    auto loss = [&](const Attention& a, const M& x) {
        M Y;
        a.predict(x, T, Y);
        return (G.array() * Y.array()).sum();
    };
    layer.forward(X, T);
    const M dX = layer.backward(G).dX;
    // The bias of qkv in three parts, for Q, K and V: columns [0, C), [C, 2C), [2C, 3C).
    const auto& db_qkv = layer.qkv.gradients().db;
    auto bias = [&](Eigen::Index first) {
        return [&, first](const M& v) {
            Attention a = layer;
            a.qkv.b.middleCols(first, C) = v;
            return loss(a, X);
        };
    };
    const bp::GradientError errors[] = {
        bp::check_gradient([&](const M& x) { return loss(layer, x); }, X, dX),
        bp::check_gradient(
            [&](const M& v) { Attention a = layer; a.qkv.W = v; return loss(a, X); },
            layer.qkv.W, layer.qkv.gradients().dW),
        bp::check_gradient(bias(0), layer.qkv.b.leftCols(C), db_qkv.leftCols(C)),
        bp::check_gradient(bias(2 * C), layer.qkv.b.rightCols(C), db_qkv.rightCols(C)),
        bp::check_gradient(
            [&](const M& v) { Attention a = layer; a.proj.W = v; return loss(a, X); },
            layer.proj.W, layer.proj.gradients().dW),
        bp::check_gradient(
            [&](const M& v) { Attention a = layer; a.proj.b = v; return loss(a, X); },
            layer.proj.b, layer.proj.gradients().db)};
    // The keys' bias: both gradients are zero but for rounding (the page says why).
    const bp::GradientError key_bias =
        bp::check_gradient(bias(C), layer.qkv.b.middleCols(C, C), db_qkv.middleCols(C, C));
    // [check]
    const char* names[] = {"dX", "qkv dW", "db of Q", "db of V", "proj dW", "proj db"};
    std::printf("CausalSelfAttention(8, 4 heads), B = 2 sequences of T = 5\n");
    for (int i = 0; i < 6; ++i) {
        std::printf("%-8s relative error %.1e\n", names[i], errors[i].max_relative_error);
        ok &= errors[i].passes(1e-7);
    }
    std::printf("db of K  largest |analytic| %.1e, largest |numeric| %.1e: zero\n",
                key_bias.max_abs_analytic, key_bias.max_abs_numeric);
    ok &= key_bias.max_abs_analytic < 1e-14 && key_bias.max_abs_numeric < 1e-9;

    // [mask]
    // Change position 2 of sequence 0 alone: no earlier position, and no other sequence, sees it.
    M moved = X;
    moved.row(2).setConstant(3);
    M before, after;
    layer.predict(X, T, before);
    layer.predict(moved, T, after);
    // [mask]
    std::printf("\nlargest change of Y when position 2 of sequence 0 changes\n");
    for (Eigen::Index b = 0; b < B; ++b) {
        std::printf("sequence %ld:", long(b));
        for (Eigen::Index t = 0; t < T; ++t) {
            const double change = max_difference(after.row(b * T + t), before.row(b * T + t));
            std::printf("  t=%ld %.2g", long(t), change);
            ok &= (change == 0) == (b == 1 || t < 2);
        }
        std::printf("\n");
    }

    // [cache]
    // One sequence generated position by position: each step projects its one new row, adds its
    // key and value to the cache, and attends to every cached position up to itself.
    const M sequence = X.topRows(T);
    M whole;
    layer.predict(sequence, T, whole);              // all T positions at once
    Attention::Cache cache = layer.make_cache(/*context=*/T);
    M stepwise(T, C), row;
    for (Eigen::Index t = 0; t < T; ++t) {
        layer.predict(sequence.row(t), cache, row);  // (1, C): position t
        stepwise.row(t) = row;
    }
    // [cache]
    const double cache_difference = max_difference(stepwise, whole);
    std::printf("\nthe cache after %ld steps holds %ld positions; largest difference from the "
                "whole sequence's Y: %.1e\n",
                long(T), long(cache.length), cache_difference);
    ok &= cache.length == T && cache_difference < 1e-14;

    std::printf(ok ? "\nevery gradient is right, the mask and the cache hold\n"
                   : "\nA GRADIENT IS WRONG, OR THE MASK OR THE CACHE FAILS\n");
    return ok;
}

// "example" runs the worked example alone, "checks" the checks alone (the page shows each where
// it explains it); with no argument, both.
int main(int argc, char** argv) {
    return example::run_parts(argc, argv, worked_example, checks);
}
