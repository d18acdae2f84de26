#pragma once
/// \file
/// Causal multi-head self-attention, GPT's mixing of positions, and its hand-written backward
/// pass.
///
/// **Layout.** A batch is B sequences of T positions, each position a row of C numbers (the
/// embedding width): X is (B·T, C), and row b·T + t is position t of sequence b. Every layer
/// that treats rows independently (Dense, LayerNorm, GELU) then runs on all B·T rows at once.
/// With H heads of hs = C/H columns each:
///
///     QKV = X·W_qkv + b_qkv            (B·T, 3C), one GEMM: the qkv Dense layer
///     Q = QKV[:, 0 … C),  K = QKV[:, C … 2C),  V = QKV[:, 2C … 3C)
///     Q_bh = rows b·T … b·T + T − 1, columns h·hs … h·hs + hs − 1 of Q     (T, hs)
///
/// and likewise K_bh and V_bh. These are views into QKV (Eigen blocks), never copies: a block of
/// a column-major matrix is a matrix with a larger stride between columns, which Eigen's GEMM
/// takes as it is. So every product below is a GEMM on views, and the output of head h of
/// sequence b is written straight into the same block of O (B·T, C), which is PyTorch's
/// `y.transpose(1, 2).contiguous().view(B, T, C)` without the copy. The output projection
/// Y = O·W_proj + b_proj is again one GEMM over all B·T rows.
///
/// **Forward**, per sequence b and head h (the indices bh dropped), with c = 1/√hs:
///
///     S = c·Q·Kᵀ                         (T, T)   S[i][j] = c·(query i)·(key j)
///     S[i][j] = −∞ for j > i              the causal mask: position i sees positions ≤ i
///     P[i] = softmax(S[i])               (T, T)   each row a distribution over keys j ≤ i
///     O = P·V                             (T, hs)  each row a weighted mean of values
///
/// The scale c: if the hs components of a query and of a key are independent with variance 1,
/// their dot product has variance hs; multiplying by 1/√hs brings S back to variance 1, so the
/// softmax does not saturate into a one-hot row (whose gradient vanishes) as hs grows.
///
/// The mask is applied by computing each row's softmax over j ≤ i only and writing P[i][j] = 0
/// for j > i: exactly what e^−∞ = 0 gives, without an infinity in the arithmetic.
///
/// **Backward.** O = P·V is a product like Dense's Z = X·W, so by the same dimension analysis
///
///     dP = dO·Vᵀ       (T, T)          dV = Pᵀ·dO      (T, hs)
///
/// The softmax of one row p = softmax(s), pⱼ = e^{sⱼ}/Σₖ e^{sₖ}, has the derivative
///
///     ∂pⱼ/∂sᵢ = pⱼ·([i = j] − pᵢ),   the Jacobian J = diag(p) − p·pᵀ   (symmetric)
///
/// so ds = Jᵀ·dp = p∘dp − p·(pᵀ·dp), that is dsᵢ = pᵢ·(dpᵢ − Σⱼ dpⱼ·pⱼ). For every row of P:
///
///     dS = P∘(dP − rowsum(dP∘P))          (rowsum broadcast along each row)
///
/// J is never formed: it would be T × T per row, T³ numbers per head, where this is two passes
/// over the row. The masked entries have P[i][j] = 0, so their dS[i][j] = 0 whatever dP[i][j]
/// is: no gradient reaches the scores of future positions, and dP needs no mask of its own (the
/// GEMM computes dP there too; the product with P discards it). Finally S = c·Q·Kᵀ gives
///
///     dQ = c·dS·K      (T, hs)            dK = c·dSᵀ·Q      (T, hs)
///
/// written into the blocks of dQKV (B·T, 3C) where Q, K and V were read, and the qkv layer's
/// backward turns dQKV into dW_qkv, db_qkv and dX.
///
/// Each row of dS sums to 0 (Σᵢ pᵢ·(dpᵢ − p·dp) = p·dp − p·dp), so the keys' bias gets no
/// gradient: db_qkv of the K columns is Σ_rows dK = c·Σᵢ qᵢ·Σⱼ dS[i][j] = 0 (to rounding). A bias
/// added to every key adds qᵢ·b to the whole row i of S, and a softmax ignores a shift of its row.
///
/// **Storage.** P of each (b, h) is kept transposed, A = Pᵀ: column i of A is row i of P, the
/// attention of query i over the keys, contiguous in memory, so the softmax and its backward run
/// down contiguous columns (vectorised) rather than across strided rows. Aᵀ·V is the same GEMM
/// as P·V with a transposed operand.

#include "../detail/shape.hpp"
#include "dense.hpp"
#include "parameter.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace backprop {

/// Causal multi-head self-attention, as GPT-2's `CausalSelfAttention` (one Linear for Q, K and
/// V, then the output projection; no dropout).
///
/// Shapes: X and Y are (B·T, C), rows b·T + t (the file comment gives the layout and the
/// derivation). qkv is a Dense (C → 3C) whose output columns are Q, K, V in that order, head h
/// at columns h·hs … of each; proj is a Dense (C → C).
///
/// forward() keeps Q, K, V (the qkv output) and the attention P of every sequence and head:
/// with what qkv and proj keep (their inputs X and O), exactly what backward() needs. Its
/// buffers, and backward()'s, are reused once (B, T) stops changing: no allocation in a training step.
/// predict() keeps nothing and is safe to call from several threads at once.
///
/// For generation, a Cache keeps the keys and values of the positions seen so far, so that each
/// new position costs one row of projections and one row of attention.
///
/// \tparam Scalar float or double.
template <typename Scalar>
class CausalSelfAttention {
    static_assert(std::is_floating_point_v<Scalar>,
                  "CausalSelfAttention needs a floating-point Scalar");

public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;  ///< X, Y, dY, dX

    /// What file formats and error messages call this kind of layer.
    static constexpr const char* kind = "CausalSelfAttention";

    /// The gradient of the loss with respect to the input; qkv and proj hold their own dW, db.
    struct Gradients {
        Matrix dX;  ///< ∂L/∂X: (B·T, C)
    };

    /// The keys and values of the positions of one sequence seen so far, for generation.
    struct Cache {
        Matrix K;                 ///< Keys: (context, C), rows 0 … length − 1 in use.
        Matrix V;                 ///< Values: (context, C), rows 0 … length − 1 in use.
        Eigen::Index length = 0;  ///< How many positions the cache holds.
    };

    Dense<Scalar> qkv;   ///< (C → 3C): columns [0, C) Q, [C, 2C) K, [2C, 3C) V.
    Dense<Scalar> proj;  ///< (C → C): the output projection.

    /// Attention over `embed` columns split into `heads` heads of embed/heads columns. qkv is
    /// initialised as torch.nn.Linear with `seed`, proj with seed + 1. Throws
    /// std::invalid_argument unless embed and heads are positive and heads divides embed.
    CausalSelfAttention(Eigen::Index embed, Eigen::Index heads, std::uint64_t seed = 0)
        : qkv(checked_embed(embed, heads), 3 * embed, seed),
          proj(embed, embed, seed + 1),
          heads_(heads) {}

    Eigen::Index embed() const { return proj.in(); }              ///< C.
    Eigen::Index heads() const { return heads_; }                 ///< H.
    Eigen::Index head_size() const { return embed() / heads_; }  ///< hs = C/H.

    /// Y = proj(O), O the causal attention of every head of every sequence (file comment).
    ///
    /// X is (B·T, C) → Y is (B·T, C), rows b·T + t. Keeps Q, K, V and P of every (b, h) for
    /// backward() (qkv keeps X, proj keeps O). Throws std::invalid_argument, changing nothing,
    /// if X is empty or not C wide, T < 1, or the rows of X are not a whole number of sequences of T.
    template <typename D>
    const Matrix& forward(const Eigen::MatrixBase<D>& X, Eigen::Index T) {
        check_sequences("CausalSelfAttention::forward", X, T);
        const Eigen::Index B = X.rows() / T;
        QKV_ = qkv.forward(X);
        A_.resize(T, B * heads_ * T);
        O_.resize(X.rows(), embed());
        for (Eigen::Index b = 0; b < B; ++b) {
            for (Eigen::Index h = 0; h < heads_; ++h) {
                attend_head(QKV_, b * T, T, h, A_.middleCols((b * heads_ + h) * T, T), O_);
            }
        }
        T_ = T;
        return proj.forward(O_);
    }

    /// Y as forward() computes it, keeping nothing: thread-safe on one layer, and a validation
    /// pass between forward() and backward() changes no gradient. It allocates its own buffers.
    ///
    /// X is (B·T, C) → Y (B·T, C), resized only if its shape differs; Y may be X (X is read in
    /// full before Y is written). Throws as forward() does, before writing Y.
    template <typename D>
    void predict(const Eigen::MatrixBase<D>& X, Eigen::Index T, Matrix& Y) const {
        check_sequences("CausalSelfAttention::predict", X, T);
        const Matrix QKV = qkv.predict(X);
        Matrix A(T, T);
        Matrix O(X.rows(), embed());
        for (Eigen::Index b = 0; b < X.rows() / T; ++b) {
            for (Eigen::Index h = 0; h < heads_; ++h) {
                attend_head(QKV, b * T, T, h, A, O);
            }
        }
        proj.predict(O, Y);
    }

    /// The gradient of L, given dY = ∂L/∂Y; the gradients of qkv and proj go into those layers.
    ///
    /// dY is (B·T, C) → dX (B·T, C). In order (file comment), per sequence b and head h:
    ///
    ///     dO = proj.backward(dY).dX                           (B·T, C)
    ///     dV = Pᵀ·dO,  dP = dO·Vᵀ                              (T, hs), (T, T)
    ///     dS = P∘(dP − rowsum(dP∘P))                          (T, T), zero where masked
    ///     dQ = dS·K/√hs,  dK = dSᵀ·Q/√hs                      (T, hs) each
    ///     dX = qkv.backward(dQKV).dX                          (B·T, C)
    ///
    /// With GradientMode::accumulate, the dW and db of qkv and proj are added to those held;
    /// dX is always this batch's. Throws std::logic_error before the first forward(),
    /// std::invalid_argument if dY is not the shape of the last Y; either way nothing changes.
    template <typename D>
    const Gradients& backward(const Eigen::MatrixBase<D>& dY,
                              GradientMode mode = GradientMode::replace) {
        constexpr const char* call = "CausalSelfAttention::backward";
        detail::require_forward(T_ != 0, call);
        // O_ has the shape of Y (B·T, C); Y itself is proj's.
        detail::require_same_shape(call, "dY", dY, "Y of the last forward", O_);
        const Matrix& dO = proj.backward(dY, mode).dX;
        const Eigen::Index T = T_, C = embed(), hs = head_size();
        const Scalar c = scale();
        dQKV_.resize(QKV_.rows(), QKV_.cols());
        dA_.resize(T, T);
        rowsum_.resize(T);
        for (Eigen::Index b = 0; b < QKV_.rows() / T; ++b) {
            for (Eigen::Index h = 0; h < heads_; ++h) {
                const auto A = A_.middleCols((b * heads_ + h) * T, T);  // Pᵀ
                const auto dOh = dO.block(b * T, h * hs, T, hs);
                const auto Q = QKV_.block(b * T, h * hs, T, hs);
                const auto K = QKV_.block(b * T, C + h * hs, T, hs);
                const auto V = QKV_.block(b * T, 2 * C + h * hs, T, hs);
                // O = P·V: dV = Pᵀ·dO, and dPᵀ = (dO·Vᵀ)ᵀ = V·dOᵀ.
                dQKV_.block(b * T, 2 * C + h * hs, T, hs).noalias() = A * dOh;
                dA_.noalias() = V * dOh.transpose();
                // dS = P∘(dP − rowsum(dP∘P)), here on the transposes: rows of P are columns of
                // A, so the row sums are column sums.
                rowsum_ = (dA_.array() * A.array()).colwise().sum().matrix();
                dA_.array() = A.array() * (dA_.array().rowwise() - rowsum_.array());
                // S = c·Q·Kᵀ: dQ = c·dS·K = c·dSᵀᵀ·K, dK = c·dSᵀ·Q.
                dQKV_.block(b * T, h * hs, T, hs).noalias() = c * (dA_.transpose() * K);
                dQKV_.block(b * T, C + h * hs, T, hs).noalias() = c * (dA_ * Q);
            }
        }
        grads_.dX = qkv.backward(dQKV_, mode).dX;
        return grads_;
    }

    /// dX of the last backward() (empty before the first).
    const Gradients& gradients() const { return grads_; }

    /// Whether qkv and proj both hold the gradients of a backward() since construction or the
    /// last clear_gradients(): optimisers refuse to step a layer without them.
    bool has_gradients() const { return qkv.has_gradients() && proj.has_gradients(); }

    /// Sets the gradients of qkv and proj to zero and not held (Dense::clear_gradients()).
    void clear_gradients() {
        qkv.clear_gradients();
        proj.clear_gradients();
    }

    /// The gradients of an empty batch, zero and held (Dense::zero_gradients()).
    void zero_gradients() {
        qkv.zero_gradients();
        proj.zero_gradients();
    }

    /// An empty cache for one sequence of up to `context` positions: K and V (context, C),
    /// length 0. Throws std::invalid_argument unless context > 0.
    Cache make_cache(Eigen::Index context) const {
        if (context <= 0) {
            detail::fail("CausalSelfAttention::make_cache: context is ", context,
                         " but must be positive");
        }
        Cache cache;
        cache.K.setZero(context, embed());
        cache.V.setZero(context, embed());
        return cache;
    }

    /// Y for the next n positions of the one sequence whose earlier keys and values `cache`
    /// holds: appends the new positions' K and V to it, and attends each new position
    /// L + i (L = cache.length) to the cached positions 0 … L + i. Y equals the rows L … L + n − 1
    /// of predict() on the whole sequence, without recomputing the earlier positions.
    ///
    /// X is (n, C) → Y (n, C), resized only if its shape differs; the cache grows by n rows.
    /// Allocates its own buffers, as predict(); Y may be X. Throws std::invalid_argument,
    /// changing neither the cache nor Y, if X is empty or not C wide, if the cache is not one of
    /// this layer's width, or if L + n exceeds the cache's context.
    template <typename D>
    void predict(const Eigen::MatrixBase<D>& X, Cache& cache, Matrix& Y) const {
        constexpr const char* call = "CausalSelfAttention::predict";
        detail::require_batch(call, X, embed());
        const Eigen::Index C = embed(), L = cache.length, n = X.rows();
        if (cache.K.cols() != C || cache.V.rows() != cache.K.rows() || cache.V.cols() != C ||
            L < 0 || L > cache.K.rows()) {
            detail::fail(call, ": the cache (K ", detail::dims(cache.K), ", V ",
                         detail::dims(cache.V), ", length ", L, ") is not one of width ", C,
                         " from make_cache()");
        }
        if (L + n > cache.K.rows()) {
            detail::fail(call, ": X has ", n, " rows but the cache holds ", L, " of its context ",
                         "of ", cache.K.rows(), " positions: a sequence longer than the context");
        }
        Matrix QKV = qkv.predict(X);
        cache.K.middleRows(L, n) = QKV.middleCols(C, C);
        cache.V.middleRows(L, n) = QKV.middleCols(2 * C, C);
        cache.length = L + n;
        const Eigen::Index hs = head_size();
        Matrix A(L + n, n);
        Matrix O(n, C);
        for (Eigen::Index h = 0; h < heads_; ++h) {
            attend(QKV.middleCols(h * hs, hs), cache.K.block(0, h * hs, L + n, hs),
                   cache.V.block(0, h * hs, L + n, hs), L, A, O.middleCols(h * hs, hs));
        }
        proj.predict(O, Y);
    }

    /// f(Parameter) for qkv's W and b ("qkv.W", "qkv.b"), then proj's ("proj.W", "proj.b"):
    /// each with its gradient and optimiser state. The order is the order of model files.
    template <typename F>
    void for_each_parameter(F&& f) {
        visit(qkv, "qkv.W", "qkv.b", f);
        visit(proj, "proj.W", "proj.b", f);
    }

    /// f(ConstParameter) for "qkv.W", "qkv.b", "proj.W", "proj.b".
    template <typename F>
    void for_each_parameter(F&& f) const {
        visit(qkv, "qkv.W", "qkv.b", f);
        visit(proj, "proj.W", "proj.b", f);
    }

    /// f(name, value) for "embed" and "heads": files record them.
    template <typename F>
    void for_each_setting(F&& f) const {
        f("embed", static_cast<double>(embed()));
        f("heads", static_cast<double>(heads_));
    }

    /// The same layer in another scalar type (qkv and proj cast; no gradients, no optimiser
    /// state, nothing cached).
    template <typename Other>
    CausalSelfAttention<Other> cast() const {
        CausalSelfAttention<Other> other(embed(), heads_);
        other.qkv = qkv.template cast<Other>();
        other.proj = proj.template cast<Other>();
        return other;
    }

private:
    using Ref = Eigen::Ref<Matrix>;
    using ConstRef = Eigen::Ref<const Matrix>;

    static Eigen::Index checked_embed(Eigen::Index embed, Eigen::Index heads) {
        if (embed <= 0 || heads <= 0 || embed % heads != 0) {
            detail::fail("CausalSelfAttention: embed is ", embed, " and heads is ", heads,
                         ": both must be positive, and heads must divide embed");
        }
        return embed;
    }

    template <typename D>
    void check_sequences(const char* call, const Eigen::MatrixBase<D>& X, Eigen::Index T) const {
        detail::require_batch(call, X, embed());
        if (T < 1) {
            detail::fail(call, ": T is ", T, " but must be at least 1");
        }
        if (X.rows() % T != 0) {
            detail::fail(call, ": X is ", detail::dims(X), " but its rows must be B sequences of",
                         " T = ", T, " positions, a multiple of ", T);
        }
    }

    // 1/√hs.
    Scalar scale() const { return Scalar(1) / std::sqrt(Scalar(head_size())); }

    // Head h of the sequence at rows first … first + T − 1 of QKV (B·T, 3C): its output into the
    // same rows and head columns of O (B·T, C), its Pᵀ into A (T, T).
    void attend_head(const Matrix& QKV, Eigen::Index first, Eigen::Index T, Eigen::Index h, Ref A,
                     Matrix& O) const {
        const Eigen::Index C = embed(), hs = head_size();
        attend(QKV.block(first, h * hs, T, hs), QKV.block(first, C + h * hs, T, hs),
               QKV.block(first, 2 * C + h * hs, T, hs), 0, A, O.block(first, h * hs, T, hs));
    }

    // One head: n queries Q (n, hs) at positions offset … offset + n − 1 attend to the keys K and
    // values V (k, hs) of positions 0 … k − 1 (k = offset + n). A (k, n) receives Pᵀ: column i,
    // the attention of query i, is the softmax of c·Kᵀ·qᵢ over the keys j ≤ offset + i and 0 below
    // them (the mask). O (n, hs) receives P·V = Aᵀ·V.
    void attend(ConstRef Q, ConstRef K, ConstRef V, Eigen::Index offset, Ref A, Ref O) const {
        A.noalias() = scale() * (K * Q.transpose());  // Sᵀ = c·K·Qᵀ
        for (Eigen::Index i = 0; i < Q.rows(); ++i) {
            const Eigen::Index seen = offset + i + 1;  // keys 0 … offset + i
            auto s = A.col(i).head(seen);
            s.array() = (s.array() - s.maxCoeff()).exp();  // e^(s − max): no overflow
            s /= s.sum();
            A.col(i).tail(K.rows() - seen).setZero();
        }
        O.noalias() = A.transpose() * V;
    }

    // f(Parameter) for layer's W and b under the names w and b.
    template <typename Layer, typename F>
    static void visit(Layer& layer, const char* w, const char* b, F& f) {
        layer.for_each_parameter([&](auto parameter) {
            parameter.name = std::strcmp(parameter.name, "W") == 0 ? w : b;
            f(parameter);
        });
    }

    Eigen::Index heads_;
    Eigen::Index T_ = 0;  // the T of the last forward(), 0 before the first
    Matrix QKV_;          // forward's Q, K, V: (B·T, 3C)
    Matrix A_;            // forward's Pᵀ of each (b, h): (T, B·H·T), (b, h) at column (b·H + h)·T
    Matrix O_;            // forward's heads' output: (B·T, C)
    Matrix dQKV_;         // backward's dQ, dK, dV: (B·T, 3C)
    Matrix dA_;           // backward's dPᵀ, then dSᵀ, of one (b, h): (T, T)
    Eigen::Matrix<Scalar, 1, Eigen::Dynamic> rowsum_;  // backward's rowsum(dP∘P): (1, T)
    Gradients grads_;
};

}  // namespace backprop
