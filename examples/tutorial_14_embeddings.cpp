// Tutorial page 14, Embeddings and the scatter-add: a one-hot row times a table is a row lookup,
// and the table's gradient Oᵀ·dY is a scatter-add, worked by hand with a repeated id; the
// positional table, whose gradient sums over the sequences; and weight tying, where the table's
// two uses (the embedding at the bottom, the output head at the top) add their gradients. Then
// the gradient checks, one of them of a scatter that overwrites instead of adding, and every case
// of tests/reference/pytorch_reference_embedding.hpp against PyTorch's numbers.
// Prints what docs/14_embeddings.md shows; exits non-zero if a check fails or a number differs
// from PyTorch's by more than 1e-12 relative to the largest.
#include "../tests/reference/pytorch_reference_embedding.hpp"
#include "pytorch_compare.hpp"
#include "tutorial_parts.hpp"

#include <backprop/backprop.hpp>

#include <cstdio>

namespace bp = backprop;
using example::compare;     // pytorch_compare.hpp: one line per comparison with PyTorch
using example::from_torch;  // pytorch_compare.hpp: PyTorch's row-by-row numbers as a matrix
using Matrix = Eigen::MatrixXd;

namespace {

void print_matrix(const char* name, const Matrix& m) {
    std::printf("%s =\n", name);
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        for (Eigen::Index j = 0; j < m.cols(); ++j) std::printf("%7g", m(i, j) + 0.0);  // no "-0"
        std::printf("\n");
    }
}

// The (n, vocab) one-hot matrix of the ids: O[r][v] = [ids[r] = v]. Only to show the product;
// the layer never forms it.
Matrix one_hot(const Eigen::VectorXi& ids, Eigen::Index vocab) {
    Matrix O = Matrix::Zero(ids.size(), vocab);
    for (Eigen::Index r = 0; r < ids.size(); ++r) O(r, ids(r)) = 1;
    return O;
}

}  // namespace

// The worked examples: what the page shows beside its derivation.
bool worked_example() {
    bool ok = true;

    // [by hand]
    // A vocabulary of 4 tokens, each a row of 2 numbers; the ids 2, 0, 2 (token 2 twice).
    bp::Embedding<double> embedding(4, 2);
    embedding.W << 0, 1,
                   2, 3,
                   4, 5,
                   6, 7;
    Eigen::VectorXi ids(3);
    ids << 2, 0, 2;
    const Matrix O = one_hot(ids, 4);            // (3, 4)
    const Matrix Y = embedding.forward(ids);     // rows 2, 0, 2 of W: the same as O·W
    Matrix dY(3, 2);
    dY << 1, 2,
          3, 4,
          5, 6;
    const Matrix dW = embedding.backward(dY).dW;  // rows 0 and 2 of dY added into row 2
    // [by hand]
    print_matrix("O", O);
    print_matrix("Y = W[ids]", Y);
    print_matrix("O W", O * embedding.W);
    print_matrix("dW (scatter-add)", dW);
    print_matrix("O^T dY", O.transpose() * dY);
    ok &= (Y - O * embedding.W).isZero(0) && (dW - O.transpose() * dY).isZero(0);

    // [positions]
    // B = 2 sequences of T = 2 positions, a table of context 3: rows b·T + t of X get row t.
    bp::PositionalEmbedding<double> positions(3, 2);
    positions.W << 10, 20,
                   30, 40,
                   50, 60;
    positions.forward(Matrix::Zero(4, 2), /*T=*/2);  // Y = the rows 0, 1, 0, 1 of the table
    Matrix dYp(4, 2);
    dYp << 1, 2,    // sequence 0, position 0
           3, 4,    // sequence 0, position 1
           5, 6,    // sequence 1, position 0
           7, 8;    // sequence 1, position 1
    const auto& dp = positions.backward(dYp);  // dW[t] = Σ_b dY[b·T + t]; dX = dY
    // [positions]
    print_matrix("positional dW", dp.dW);
    print_matrix("positional dX", dp.dX);
    ok &= dp.dW.row(0) == Eigen::RowVector2d(6, 8) && dp.dW.row(2).isZero(0) && dp.dX == dYp;

    // [tied]
    // The same table as the output head: logits = Y·Wᵀ (3, 4), with a dLogits from above.
    Matrix dLogits(3, 4);
    dLogits << 1, 0, 0, -1,
               0, 1, 0, 0,
               0, 0, -1, 0;
    const Matrix logits = embedding.unembed(embedding.forward(ids));
    const Matrix dX0 = embedding.unembed_backward(dLogits);  // dW = dLogitsᵀ·Y, dX0 = dLogits·W
    const Matrix head_dW = embedding.gradients().dW;
    embedding.backward(dX0, bp::GradientMode::accumulate);    // dW += Oᵀ·dX0
    const Matrix tied_dW = embedding.gradients().dW;
    // [tied]
    print_matrix("logits = Y W^T", logits);
    print_matrix("head's dW = dLogits^T Y", head_dW);
    print_matrix("dX0 = dLogits W", dX0);
    print_matrix("embedding's dW = O^T dX0", O.transpose() * dX0);
    print_matrix("tied dW, the sum", tied_dW);
    ok &= (tied_dW - head_dW - O.transpose() * dX0).isZero(0);
    return ok;
}

// The gradient checks and PyTorch's numbers: what the page shows after the code.
bool checks() {
    bool ok = true;

    // [check]
    // Embedding(7, 5) on 10 ids where 3 comes four times, 1 twice and 4 never. L = Σ G∘Y.
    bp::Embedding<double> embedding(7, 5, /*seed=*/1);
    Eigen::VectorXi ids(10);
    ids << 3, 1, 3, 0, 6, 3, 1, 2, 5, 3;
    const Matrix G = Matrix::Random(10, 5);
    embedding.forward(ids);
    const Matrix dW = embedding.backward(G).dW;
    auto loss = [&](const Matrix& W) {
        bp::Embedding<double> moved = embedding;
        moved.W = W;
        return (G.array() * moved.predict(ids).array()).sum();
    };
    const bp::GradientError error = bp::check_gradient(loss, embedding.W, dW);

    // The classic bug: dW[ids[r]] = dY[r], which keeps only the last use of a repeated id.
    Matrix overwritten = Matrix::Zero(7, 5);
    for (Eigen::Index r = 0; r < ids.size(); ++r) overwritten.row(ids(r)) = G.row(r);
    const bp::GradientError bug = bp::check_gradient(loss, embedding.W, overwritten);
    // [check]
    std::printf("Embedding(7, 5), ids 3 1 3 0 6 3 1 2 5 3\n");
    std::printf("dW, scatter-add   relative error %.1e\n", error.max_relative_error);
    std::printf("dW, overwritten   relative error %.1e (worst in row %ld)\n",
                bug.max_relative_error, long(bug.row));
    ok &= error.passes(1e-7) && !bug.passes(1e-2);

    // [tied check]
    // A tied model at its smallest: logits = W[ids]·Wᵀ (10, 7), L = Σ H∘logits. W enters twice.
    const Matrix H = Matrix::Random(10, 7);
    bp::Embedding<double> tied = embedding;
    tied.unembed(tied.forward(ids));
    tied.backward(tied.unembed_backward(H), bp::GradientMode::accumulate);
    auto tied_loss = [&](const Matrix& W) {
        bp::Embedding<double> moved = embedding;
        moved.W = W;
        return (H.array() * (moved.predict(ids) * W.transpose()).array()).sum();
    };
    const bp::GradientError tied_error =
        bp::check_gradient(tied_loss, embedding.W, tied.gradients().dW);

    // The positional table: context 6, 3 sequences of T = 4; L = Σ G∘Y, checked in W and in X.
    bp::PositionalEmbedding<double> positions(6, 5, /*seed=*/2);
    const Matrix X = Matrix::Random(12, 5);
    const Matrix Gp = Matrix::Random(12, 5);
    positions.forward(X, 4);
    const auto& dp = positions.backward(Gp);
    auto positional_loss = [&](const Matrix& W, const Matrix& x) {
        bp::PositionalEmbedding<double> moved = positions;
        moved.W = W;
        return (Gp.array() * moved.predict(x, 4).array()).sum();
    };
    const Matrix Wp = positions.W;
    const bp::GradientError positional_dW =
        bp::check_gradient([&](const Matrix& W) { return positional_loss(W, X); }, Wp, dp.dW);
    const bp::GradientError positional_dX =
        bp::check_gradient([&](const Matrix& x) { return positional_loss(Wp, x); }, X, dp.dX);
    // [tied check]
    std::printf("dW, tied: the two uses added  relative error %.1e\n",
                tied_error.max_relative_error);
    std::printf("PositionalEmbedding(6, 5), 3 sequences of 4\n");
    std::printf("dW  relative error %.1e (its rows 4 and 5: %g)\n",
                positional_dW.max_relative_error, dp.dW.bottomRows(2).cwiseAbs().maxCoeff());
    std::printf("dX  relative error %.1e\n\n", positional_dX.max_relative_error);
    ok &= tied_error.passes(1e-7) && positional_dW.passes(1e-7) && positional_dX.passes(1e-7);

    // [pytorch]
    // make_reference_embedding.py: torch.nn.Embedding(7, 5) on the ids above, its weight copied
    // in; the head alone, logits = X·Wᵀ; the tied model W[ids]·Wᵀ; and a positional table.
    const reference::EmbeddingCase& e = reference::embedding_case;
    const Eigen::VectorXi torch_ids =
        Eigen::Map<const Eigen::VectorXi>(e.ids.data(), Eigen::Index(e.ids.size()));
    const Eigen::Index n = torch_ids.size();
    bp::Embedding<double> table(7, 5);
    table.W = from_torch(e.W, 7, 5);
    std::printf("Embedding(7, 5), ids with repeats\n");
    ok &= compare("Y", table.forward(torch_ids), from_torch(e.Y, n, 5));
    ok &= compare("dW", table.backward(from_torch(e.G, n, 5)).dW, from_torch(e.dW, 7, 5));

    const reference::HeadCase& h = reference::head_case;
    std::printf("the head alone, logits = X W^T\n");
    ok &= compare("Z", table.unembed(from_torch(h.X, 4, 5)), from_torch(h.logits, 4, 7));
    ok &= compare("dX", table.unembed_backward(from_torch(h.G, 4, 7)), from_torch(h.dX, 4, 5));
    ok &= compare("dW", table.gradients().dW, from_torch(h.dW, 7, 5));

    const reference::TiedCase& t = reference::tied_case;
    std::printf("tied, logits = W[ids] W^T\n");
    ok &= compare("Z", table.unembed(table.forward(torch_ids)), from_torch(t.logits, n, 7));
    table.backward(table.unembed_backward(from_torch(t.G, n, 7)), bp::GradientMode::accumulate);
    ok &= compare("dW", table.gradients().dW, from_torch(t.dW, 7, 5));

    const reference::PositionalCase& p = reference::positional_case;
    bp::PositionalEmbedding<double> torch_positions(6, 5);
    torch_positions.W = from_torch(p.W, 6, 5);
    std::printf("PositionalEmbedding(6, 5), 3 sequences of 4\n");
    ok &= compare("Y", torch_positions.forward(from_torch(p.X, 12, 5), 4), from_torch(p.Y, 12, 5));
    const auto& dtorch = torch_positions.backward(from_torch(p.G, 12, 5));
    ok &= compare("dX", dtorch.dX, from_torch(p.dX, 12, 5));
    ok &= compare("dW", dtorch.dW, from_torch(p.dW, 6, 5));
    // [pytorch]
    std::printf("\n");

    std::printf(ok ? "every gradient is right and agrees with PyTorch\n"
                   : "A GRADIENT IS WRONG OR DIFFERS FROM PYTORCH\n");
    return ok;
}

// "example" runs the worked example alone, "checks" the checks alone; no argument, both.
int main(int argc, char** argv) { return example::run_parts(argc, argv, worked_example, checks); }
