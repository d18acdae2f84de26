#pragma once
/// \file
/// Embeddings: Embedding (token ids → rows of a learnt table, and the same table as a tied output
/// head) and PositionalEmbedding (a learnt row added to each position of a sequence), with their
/// hand-written backward passes.
///
/// Dimensions: V the vocabulary, C the embedding width, n the number of ids, B sequences of T
/// positions, laid out as (B·T, C) matrices whose row b·T + t is position t of sequence b.
///
/// **The embedding's gradient is a scatter-add.** The table W is (V, C) and the ids are
/// i₀ … i_{n−1}; the forward pass copies a row per id, Y[r] = W[i_r]. Written as a product,
/// Y = O·W with O the (n, V) one-hot matrix of the ids (O[r][v] = [i_r = v]), so
///
///     Y[r][c] = Σ_v O[r][v]·W[v][c]
///     ∂L/∂W[v][c] = Σ_r dY[r][c]·O[r][v] = Σ_{r : i_r = v} dY[r][c]        dW = Oᵀ·dY
///
/// Row v of dW is the sum of the rows of dY whose id is v: zero for a token that does not occur,
/// one row of dY for a token that occurs once, and the sum of several when an id repeats. That
/// is the multivariable chain rule, not a convention: W[v] is used by every row r with i_r = v,
/// L depends on W[v] through each of those uses, and the total derivative adds the derivative
/// through each use. Overwriting instead of adding (dW[i_r] = dY[r]) would keep only the last
/// use and is the classic bug that the tests with repeated ids catch. The code never forms O:
/// it walks the ids once and adds each row of dY into its row of dW, n·C additions instead of a
/// (V, n)·(n, C) product. The ids are integers and have no gradient (PyTorch's neither).
///
/// **The positional gradient sums over sequences.** A table P is (context, C); position t of
/// every sequence gets the same row: Y[b·T + t] = X[b·T + t] + P[t]. Each output depends on its
/// own input with slope 1, so dX = dY; and P[t] is used once per sequence, so by the same rule
///
///     dP[t] = Σ_b dY[b·T + t]   for t < T,   dP[t] = 0 for t ≥ T (positions not used)
///
/// **Weight tying: the gradients of the two uses add.** GPT-2 reuses the token table as its
/// output head: logits = X·Wᵀ, (n, C)·(C, V) → (n, V), Z[r][v] = Σ_c X[r][c]·W[v][c]. Then
///
///     ∂L/∂W[v][c] = Σ_r dZ[r][v]·X[r][c]     dW = dZᵀ·X  (V, C)
///     ∂L/∂X[r][c] = Σ_v dZ[r][v]·W[v][c]     dX = dZ·W   (n, C)
///
/// (the only products of dZ, X and W whose shapes fit). The tied W is used twice, as the table
/// at the bottom of the model and as the head at the top, so L depends on it through both and
/// its gradient is the sum of the two: dW = dZᵀ·X + Oᵀ·dY. A tied model calls
/// unembed_backward(dZ, mode) first (the head comes first in the backward pass), then, once dY of
/// the embedding's output is known, backward(dY, GradientMode::accumulate), which adds the
/// scatter-add to the head's part.
///
/// Both layers keep what backward needs (the ids, the head's X, the sequence length) and reuse
/// their buffers: once the shapes stop changing, forward and backward allocate nothing.

#include "../detail/random.hpp"
#include "../detail/shape.hpp"
#include "init.hpp"
#include "parameter.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace backprop {

/// What Embedding::backward returns: the gradient of the table (the ids have none).
template <typename Scalar>
struct EmbeddingGradients {
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> dW;  ///< ∂L/∂W: (vocab, dim)
};

/// What PositionalEmbedding::backward returns: the gradients of the table and of the input.
template <typename Scalar>
struct PositionalEmbeddingGradients {
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> dW;  ///< ∂L/∂W: (context, dim)
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> dX;  ///< ∂L/∂X = dY: (B·T, dim)
};

/// What Embedding and PositionalEmbedding share: a table W of rows of width `dim`, drawn from
/// N(0, std²), its gradient dW and optimiser state, and the parameter plumbing
/// (for_each_parameter, clear_gradients…).
///
/// \tparam Scalar float or double.
/// \tparam Grads the layer's gradients: a struct with at least `dW`, the table's shape.
template <typename Scalar, typename Grads>
class EmbeddingTable {
    static_assert(std::is_floating_point_v<Scalar>, "an embedding needs a floating-point Scalar");

public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;  ///< W, dW, X, Y
    using Gradients = Grads;  ///< What backward() returns.

    Matrix W;  ///< The table: one row per token (or position), `dim` wide.

    Eigen::Index dim() const { return W.cols(); }  ///< The width of a row, C.

    /// The gradients of the last backward() (zero before the first).
    const Gradients& gradients() const { return grads_; }

    /// Whether dW holds the gradient of a backward() since construction or the last
    /// clear_gradients(): optimisers refuse to step a layer without it.
    bool has_gradients() const { return has_gradients_; }

    /// Sets dW to zero and has_gradients() to false: the next backward(), in either
    /// GradientMode, starts a new sum. The optimiser's state is kept.
    void clear_gradients() {
        grads_.dW.setZero();
        has_gradients_ = false;
    }

    /// The gradient of an empty batch: dW zero, and held (has_gradients() true), as
    /// Dense::zero_gradients(). The optimiser's state is kept.
    void zero_gradients() {
        clear_gradients();
        has_gradients_ = true;
    }

    /// f(Parameter) for W ("W"), with its gradient and optimiser state.
    template <typename F>
    void for_each_parameter(F&& f) {
        f(Parameter<Matrix>{"W", W, grads_.dW, W_state_});
    }

    /// f(ConstParameter) for W.
    template <typename F>
    void for_each_parameter(F&& f) const {
        f(ConstParameter<Matrix>{"W", W, grads_.dW, W_state_});
    }

protected:
    /// A table of `rows` rows `dim` wide, W ~ N(0, std²) drawn row by row with `seed`
    /// (detail::fill_normal: the same numbers in float and double, on every platform).
    /// Throws std::invalid_argument, naming `kind` and `rows_name`, unless both sizes are
    /// positive and std is finite and ≥ 0.
    EmbeddingTable(const char* kind, const char* rows_name, Eigen::Index rows, Eigen::Index dim,
                   std::uint64_t seed, double std) {
        if (rows <= 0 || dim <= 0) {
            detail::fail(kind, ": ", rows_name, " is ", rows, " and dim is ", dim,
                         " but both must be positive");
        }
        if (!(std::isfinite(std) && std >= 0)) {
            detail::fail(kind, ": std is ", std, " but must be finite and >= 0");
        }
        W.resize(rows, dim);
        detail::SplitMix64 rng(seed);
        detail::fill_normal(W, rng, std);
        grads_.dW.setZero(rows, dim);
    }

    /// Starts this batch's dW: zero for GradientMode::replace (or when none is held), kept for
    /// accumulate; the caller then adds to it.
    void start_gradients(GradientMode mode) {
        if (mode == GradientMode::replace || !has_gradients_) grads_.dW.setZero();
        has_gradients_ = true;
    }

    Gradients grads_;              ///< dW (and dX) of the last backward().
    bool has_gradients_ = false;   ///< Whether dW holds a backward's gradient.
    OptimizerState<Matrix> W_state_;  ///< What the optimiser keeps for W.
};

/// A token embedding, as `torch.nn.Embedding(vocab, dim)`: each id selects a row of the table W,
/// Y[r] = W[ids[r]]; and the same table as an output head for weight tying, logits = X·Wᵀ.
///
/// Shapes: W is (vocab, dim); ids are n integers in [0, vocab), any Eigen integer vector (a
/// column or a row); Y is (n, dim). As a head: X is (n, dim), logits (n, vocab).
///
/// forward() keeps the ids (backward() adds dY into their rows) and unembed() keeps X (the head's
/// dW = dLogitsᵀ·X). predict() and predict_unembed() keep nothing. The file comment derives the
/// scatter-add and why the gradients of the two uses of a tied table add.
///
/// \tparam Scalar float or double.
template <typename Scalar>
class Embedding : public EmbeddingTable<Scalar, EmbeddingGradients<Scalar>> {
    using Base = EmbeddingTable<Scalar, EmbeddingGradients<Scalar>>;

public:
    using typename Base::Gradients;
    using typename Base::Matrix;

    /// What files and error messages call this kind of layer.
    static constexpr const char* kind = "Embedding";

    /// A table of `vocab` rows `dim` wide, W ~ N(0, std²) from `seed` (torch.nn.Embedding draws
    /// N(0, 1); GPT-2 uses std 0.02). Throws std::invalid_argument unless vocab and dim are
    /// positive and std is finite and ≥ 0.
    Embedding(Eigen::Index vocab, Eigen::Index dim, std::uint64_t seed = 0, double std = 1.0)
        : Base(kind, "vocab", vocab, dim, seed, std) {}

    Eigen::Index vocab() const { return this->W.rows(); }  ///< The number of tokens, V.

    /// f(name, value) for "vocab" and "dim": files record them.
    template <typename F>
    void for_each_setting(F&& f) const {
        f("vocab", static_cast<double>(vocab()));
        f("dim", static_cast<double>(this->dim()));
    }

    /// Y[r] = W[ids[r]]: the row of each id.
    ///
    /// ids (n) → Y (n, dim). Keeps the ids for backward(). Throws std::invalid_argument, changing
    /// nothing, if ids is empty or not a vector, or an id is outside [0, vocab) (the message
    /// names the index, the id and the vocabulary size).
    template <typename L>
    const Matrix& forward(const Eigen::MatrixBase<L>& ids) {
        check_ids("Embedding::forward", ids);
        ids_.resize(ids.size());
        for (Eigen::Index r = 0; r < ids.size(); ++r) ids_[r] = static_cast<Eigen::Index>(ids(r));
        gather(ids_, Y_);
        return Y_;
    }

    /// Y[r] = W[ids[r]] into `Y`, resized only if its shape differs; keeps nothing (thread-safe
    /// on one layer). ids (n) → Y (n, dim). Throws as forward() does, before writing Y.
    template <typename L>
    void predict(const Eigen::MatrixBase<L>& ids, Matrix& Y) const {
        check_ids("Embedding::predict", ids);
        gather(ids, Y);
    }

    /// Y[r] = W[ids[r]], a new matrix. ids (n) → Y (n, dim). Throws as forward() does.
    template <typename L>
    Matrix predict(const Eigen::MatrixBase<L>& ids) const {
        Matrix Y;
        predict(ids, Y);
        return Y;
    }

    /// The gradient of the table, given dY = ∂L/∂Y: a scatter-add.
    ///
    /// dY is (n, dim) of the last forward() → dW (vocab, dim). In the forward pass
    /// Y[r][c] = W[ids[r]][c], so ∂L/∂W[v][c] = Σ_{r : ids[r] = v} dY[r][c] (dW = Oᵀ·dY with O
    /// the one-hot matrix of the ids): dW = 0, then dW[ids[r]] += dY[r] for every row r, and a
    /// repeated id adds up the rows of each of its uses. Allocates nothing.
    ///
    /// With GradientMode::accumulate the rows are added to the dW held (a tied model's head
    /// gradient from unembed_backward(), or earlier micro-batches); with replace, dW starts from
    /// zero. Throws std::logic_error before the first forward(), std::invalid_argument if dY is
    /// not (n, dim) of the last forward(); either way nothing changes.
    template <typename D>
    const Gradients& backward(const Eigen::MatrixBase<D>& dY,
                              GradientMode mode = GradientMode::replace) {
        detail::require_forward(ids_.size() != 0, "Embedding::backward");
        detail::require_same_shape("Embedding::backward", "dY", dY, "Y of the last forward", Y_);
        this->start_gradients(mode);
        auto& dW = this->grads_.dW;
        // Column by column: column c of dW and of dY are contiguous (column-major storage).
        for (Eigen::Index c = 0; c < dW.cols(); ++c) {
            for (Eigen::Index r = 0; r < ids_.size(); ++r) dW(ids_[r], c) += dY(r, c);
        }
        return this->grads_;
    }

    /// The tied output head: logits = X·Wᵀ, no bias.
    ///
    /// X (n, dim) → logits (n, vocab); logits[r][v] = Σ_c X[r][c]·W[v][c], the dot product of
    /// row r with token v's embedding. Keeps X for unembed_backward(). Throws
    /// std::invalid_argument, changing nothing, if X is empty or not dim wide.
    template <typename D>
    const Matrix& unembed(const Eigen::MatrixBase<D>& X) {
        detail::require_batch("Embedding::unembed", X, this->dim());
        X_ = X;
        logits_.noalias() = X_ * this->W.transpose();
        return logits_;
    }

    /// logits = X·Wᵀ into `logits`, resized only if its shape differs; keeps nothing
    /// (thread-safe on one layer). X (n, dim) → logits (n, vocab); logits must not be X.
    /// Throws as unembed() does, before writing logits.
    template <typename D>
    void predict_unembed(const Eigen::MatrixBase<D>& X, Matrix& logits) const {
        detail::require_batch("Embedding::predict_unembed", X, this->dim());
        logits.noalias() = X * this->W.transpose();
    }

    /// The head's gradients, given dLogits = ∂L/∂logits; returns dX.
    ///
    /// dLogits (n, vocab) of the last unembed() → dW (vocab, dim), dX (n, dim). In the forward
    /// pass logits[r][v] = Σ_c X[r][c]·W[v][c], so
    ///
    ///     dW = dLogitsᵀ·X     ∂L/∂W[v][c] = Σ_r dLogits[r][v]·X[r][c]
    ///     dX = dLogits·W      ∂L/∂X[r][c] = Σ_v dLogits[r][v]·W[v][c]
    ///
    /// dW replaces the one held (GradientMode::replace) or is added to it (accumulate). A tied
    /// model calls this first, then backward(dY, GradientMode::accumulate): the gradients of
    /// both uses of W add (the file comment derives why). dX is in a buffer of the layer, valid
    /// until the next call. Throws std::logic_error before the first unembed(),
    /// std::invalid_argument if dLogits is not (n, vocab) of the last unembed(); either way
    /// nothing changes.
    template <typename D>
    const Matrix& unembed_backward(const Eigen::MatrixBase<D>& dLogits,
                                   GradientMode mode = GradientMode::replace) {
        if (X_.size() == 0) {
            throw std::logic_error("Embedding::unembed_backward: called before unembed()");
        }
        detail::require_same_shape("Embedding::unembed_backward", "dLogits", dLogits,
                                   "the logits of the last unembed", logits_);
        auto& dW = this->grads_.dW;
        if (mode == GradientMode::accumulate && this->has_gradients_) {
            dW.noalias() += dLogits.transpose() * X_;
        } else {
            dW.noalias() = dLogits.transpose() * X_;
        }
        this->has_gradients_ = true;
        dX_.noalias() = dLogits * this->W;
        return dX_;
    }

    /// The same layer in another scalar type (W cast; no gradients, no optimiser state, nothing
    /// cached).
    template <typename Other>
    Embedding<Other> cast() const {
        Embedding<Other> other(vocab(), this->dim(), 0, 0.0);
        other.W = this->W.template cast<Other>();
        return other;
    }

private:
    // Throws unless `ids` is a non-empty vector of ids in [0, vocab).
    template <typename L>
    void check_ids(const char* call, const Eigen::MatrixBase<L>& ids) const {
        static_assert(std::is_integral_v<typename L::Scalar>, "token ids must be integers");
        if (ids.size() == 0 || (ids.rows() != 1 && ids.cols() != 1)) {
            detail::fail(call, ": ids is ", detail::dims(ids), " but must be a non-empty vector");
        }
        for (Eigen::Index r = 0; r < ids.size(); ++r) {
            // An unsigned id too large for an Index turns negative here, and is refused too.
            const auto id = static_cast<Eigen::Index>(ids(r));
            if (id < 0 || id >= vocab()) {
                detail::fail(call, ": ids[", r, "] is ", +ids(r), " but the vocabulary has ",
                             vocab(), " tokens (ids 0 to ", vocab() - 1, ")");
            }
        }
    }

    // Y[r] = W[ids[r]], column by column (contiguous in Y and in W's columns).
    template <typename Ids>
    void gather(const Ids& ids, Matrix& Y) const {
        Y.resize(ids.size(), this->dim());
        for (Eigen::Index c = 0; c < Y.cols(); ++c) {
            for (Eigen::Index r = 0; r < Y.rows(); ++r) {
                Y(r, c) = this->W(static_cast<Eigen::Index>(ids(r)), c);
            }
        }
    }

    Eigen::Matrix<Eigen::Index, Eigen::Dynamic, 1> ids_;  // the ids of the last forward()
    Matrix Y_;
    Matrix X_;       // the X of the last unembed(): the head's dW = dLogitsᵀ·X
    Matrix logits_;  // its output
    Matrix dX_;      // the head's dX = dLogits·W
};

/// A learnt positional embedding, as GPT-2's `wpe`: position t of every sequence gets the row
/// W[start + t] added, Y[b·T + t] = X[b·T + t] + W[start + t].
///
/// Shapes: W is (context, dim); X, Y, dY, dX are (B·T, dim), B sequences of T positions, row
/// b·T + t is position t of sequence b. forward() (training) starts every sequence at position
/// 0; predict() takes a `start`, so that generation can add the positions of the next tokens
/// only. forward() keeps T (and Y's shape), all backward() needs; predict() keeps nothing.
///
/// \tparam Scalar float or double.
template <typename Scalar>
class PositionalEmbedding : public EmbeddingTable<Scalar, PositionalEmbeddingGradients<Scalar>> {
    using Base = EmbeddingTable<Scalar, PositionalEmbeddingGradients<Scalar>>;

public:
    using typename Base::Gradients;
    using typename Base::Matrix;

    /// What files and error messages call this kind of layer.
    static constexpr const char* kind = "PositionalEmbedding";

    /// A table of `context` positions `dim` wide, W ~ N(0, std²) from `seed` (GPT-2 uses std
    /// 0.01). Throws std::invalid_argument unless context and dim are positive and std is finite
    /// and ≥ 0.
    PositionalEmbedding(Eigen::Index context, Eigen::Index dim, std::uint64_t seed = 0,
                        double std = 1.0)
        : Base(kind, "context", context, dim, seed, std) {}

    Eigen::Index context() const { return this->W.rows(); }  ///< The longest sequence.

    /// f(name, value) for "context" and "dim": files record them.
    template <typename F>
    void for_each_setting(F&& f) const {
        f("context", static_cast<double>(context()));
        f("dim", static_cast<double>(this->dim()));
    }

    /// Y[b·T + t] = X[b·T + t] + W[t], for every sequence b and position t < T.
    ///
    /// X (B·T, dim) → Y (B·T, dim). Keeps T for backward(). Throws std::invalid_argument,
    /// changing nothing, if X is empty or not dim wide, T < 1, X's rows are not a multiple of
    /// T, or T > context() (a sequence longer than the context).
    template <typename D>
    const Matrix& forward(const Eigen::MatrixBase<D>& X, Eigen::Index T) {
        check_input("PositionalEmbedding::forward", X, T, 0);
        Y_ = X;
        add_positions(Y_, T, 0);
        T_ = T;
        return Y_;
    }

    /// Y[b·T + t] = X[b·T + t] + W[start + t] into `Y`, resized only if its shape differs; keeps
    /// nothing (thread-safe on one layer). Y may be X (the rows are added in place).
    ///
    /// X (B·T, dim) → Y (B·T, dim). Throws as forward() does, also if start < 0 or
    /// start + T > context(), before writing Y.
    template <typename D>
    void predict(const Eigen::MatrixBase<D>& X, Eigen::Index T, Eigen::Index start,
                 Matrix& Y) const {
        check_input("PositionalEmbedding::predict", X, T, start);
        Y = X;
        add_positions(Y, T, start);
    }

    /// Y[b·T + t] = X[b·T + t] + W[start + t], a new matrix. Throws as predict(X, T, start, Y).
    template <typename D>
    Matrix predict(const Eigen::MatrixBase<D>& X, Eigen::Index T, Eigen::Index start = 0) const {
        Matrix Y;
        predict(X, T, start, Y);
        return Y;
    }

    /// The gradients of L, given dY = ∂L/∂Y.
    ///
    /// dY (B·T, dim) of the last forward() → dW (context, dim), dX (B·T, dim). In the forward
    /// pass Y[b·T + t][c] = X[b·T + t][c] + W[t][c], so
    ///
    ///     dX = dY                   (slope 1 from each input to its own output)
    ///     dW[t] = Σ_b dY[b·T + t]   for t < T; rows t ≥ T are 0 (not used)
    ///
    /// W[t] is used once per sequence, and the gradients of the uses add (the file comment).
    /// With GradientMode::accumulate, dW is added to the one held; dX is always this batch's.
    /// Allocates nothing once dX has its size. Throws std::logic_error before the first
    /// forward(), std::invalid_argument if dY is not the shape of the last Y; either way nothing
    /// changes.
    template <typename D>
    const Gradients& backward(const Eigen::MatrixBase<D>& dY,
                              GradientMode mode = GradientMode::replace) {
        detail::require_forward(T_ != 0, "PositionalEmbedding::backward");
        detail::require_same_shape("PositionalEmbedding::backward", "dY", dY,
                                   "Y of the last forward", Y_);
        this->start_gradients(mode);
        auto& dW = this->grads_.dW;
        for (Eigen::Index b = 0; b < dY.rows() / T_; ++b) {
            dW.topRows(T_) += dY.middleRows(b * T_, T_);
        }
        this->grads_.dX = dY;
        return this->grads_;
    }

    /// The same layer in another scalar type (W cast; no gradients, no optimiser state, nothing
    /// cached).
    template <typename Other>
    PositionalEmbedding<Other> cast() const {
        PositionalEmbedding<Other> other(context(), this->dim(), 0, 0.0);
        other.W = this->W.template cast<Other>();
        return other;
    }

private:
    // Throws unless X holds whole sequences of T positions, start to start + T − 1, all within
    // the context.
    template <typename D>
    void check_input(const char* call, const Eigen::MatrixBase<D>& X, Eigen::Index T,
                     Eigen::Index start) const {
        detail::require_batch(call, X, this->dim());
        if (T < 1 || X.rows() % T != 0) {
            detail::fail(call, ": X is ", detail::dims(X), " but must hold whole sequences of T = ",
                         T, " positions (T >= 1, rows a multiple of T)");
        }
        if (start < 0) detail::fail(call, ": start is ", start, " but must be >= 0");
        if (start + T > context()) {
            detail::fail(call, ": positions ", start, " to ", start + T - 1,
                         " but the context has ", context(), " (0 to ", context() - 1,
                         "): a sequence longer than the context");
        }
    }

    // Y[b·T + t] += W[start + t] for every sequence b.
    void add_positions(Matrix& Y, Eigen::Index T, Eigen::Index start) const {
        for (Eigen::Index b = 0; b < Y.rows() / T; ++b) {
            Y.middleRows(b * T, T) += this->W.middleRows(start, T);
        }
    }

    Eigen::Index T_ = 0;  // the sequence length of the last forward(): backward sums by it
    Matrix Y_;
};

}  // namespace backprop
