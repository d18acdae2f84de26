#pragma once
/// \file
/// A GPT: GPT-2's decoder-only transformer, at the level of characters, written in the
/// library's own layers, every gradient by hand. It reads top to bottom as the seed notebook
/// does: the forward pass, then the backward pass in reverse, every line with its shapes.
///
/// Shapes: B sequences of T characters (1 ≤ T ≤ context), vocabulary V, embedding width C,
/// H heads, L blocks. Every activation is a (B·T, C) matrix whose row b·T + t is position t of
/// sequence b (layers/attention.hpp shows why: every projection is then one GEMM over all B·T
/// rows); ids and targets are vectors of B·T ids in the same order.
///
///     X₀ = tok(ids) + pos(T)                          (B·T, C)   token rows plus position rows
///     for l = 0 … L−1 (TransformerBlock, pre-LayerNorm):
///         A  = X + attn(ln1(X))                        (B·T, C)
///         X' = A + proj(gelu(fc(ln2(A))))              (B·T, C)   fc: C → 4C, proj: 4C → C
///     logits = ln_f(X_L)·Wₜₒₖᵀ   (tied)                (B·T, V)
///            = head(ln_f(X_L))    (untied: a Dense C → V)
///     loss   = the mean over the B·T rows of the cross-entropy (SoftmaxCrossEntropy)
///
/// The backward pass visits the same lines in reverse. Two rules carry all of it beyond the
/// layers' own backward passes:
///   - a residual Y = X + f(X) passes the gradient along both paths, and they add:
///     dX = dY + f′(X)ᵀ·dY (the identity's Jacobian is I);
///   - a tensor used twice gets the sum of both uses' gradients: with a tied head, Wₜₒₖ is the
///     embedding table and the output projection, so dWₜₒₖ = dlogitsᵀ·ln_f(X_L) (the head) plus
///     the scatter-add of dX₀'s rows (the embedding).
///
/// Derived step by step: \ref tutorial_gpt "Tutorial 18: A GPT, every gradient".

#include "../layers/activations.hpp"
#include "../layers/attention.hpp"
#include "../layers/dense.hpp"
#include "../layers/embedding.hpp"
#include "../layers/init.hpp"
#include "../layers/normalization.hpp"
#include "../layers/parameter.hpp"
#include "../detail/random.hpp"
#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace backprop {

/// The sizes of a GPT. The defaults are the nanoGPT-sized character model of examples/gpt.cpp
/// (with V = 100, 814,336 parameters).
struct GPTConfig {
    Eigen::Index vocab = 0;     ///< V: the number of distinct characters.
    Eigen::Index context = 64;  ///< The longest sequence: positions 0 … context − 1.
    Eigen::Index embed = 128;   ///< C: the width of every activation; a multiple of heads.
    Eigen::Index heads = 4;     ///< H: attention heads, each of width C/H.
    Eigen::Index layers = 4;    ///< L: transformer blocks.
    bool tied = true;           ///< Whether the output head reuses the token embedding's table.
};

/// One pre-LayerNorm transformer block, as GPT-2's: attention, then a two-layer perceptron,
/// each reading a normalised copy of the residual stream and adding its result back to it.
///
///     A = X + attn(ln1(X)),   Y = A + proj(gelu(fc(ln2(A))))        X, A, Y: (B·T, C)
///
/// \tparam Scalar float or double.
template <typename Scalar>
class TransformerBlock {
public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;  ///< (B·T, C)

    LayerNorm<Scalar> ln1;             ///< Normalises the attention's input.
    CausalSelfAttention<Scalar> attn;  ///< Each position reads the positions up to itself.
    LayerNorm<Scalar> ln2;             ///< Normalises the perceptron's input.
    Dense<Scalar> fc;                  ///< C → 4C.
    GELU<Scalar> gelu;                 ///< GPT-2's tanh approximation.
    Dense<Scalar> proj;                ///< 4C → C, back into the residual stream.

    /// A block of width `embed` with `heads` heads; the layers' seeds are drawn from `seed`
    /// (GPT re-draws the weights as GPT-2 starts them).
    TransformerBlock(Eigen::Index embed, Eigen::Index heads, std::uint64_t seed)
        : ln1(embed),
          attn(embed, heads, seed),
          ln2(embed),
          fc(embed, 4 * embed, seed + 2),
          gelu(GeluApproximation::tanh),
          proj(4 * embed, embed, seed + 3) {}

    /// f(layer) for ln1, attn, ln2, fc, gelu, proj: the order of the forward pass.
    template <typename F>
    void for_each_layer(F&& f) {
        visit_layers(*this, f);
    }

    /// f(layer) for every layer, read-only.
    template <typename F>
    void for_each_layer(F&& f) const {
        visit_layers(*this, f);
    }

    /// Y = A + proj(gelu(fc(ln2(A)))) with A = X + attn(ln1(X)).
    ///
    /// X is (B·T, C), B sequences of T positions → Y is (B·T, C). Every layer keeps what its
    /// backward() needs. The caller (GPT::forward) has checked the shapes.
    const Matrix& forward(const Matrix& X, Eigen::Index T) {
        A_ = X + attn.forward(ln1.forward(X), T);                            // (B·T, C)
        Y_ = A_ + proj.forward(gelu.forward(fc.forward(ln2.forward(A_))));   // (B·T, C)
        return Y_;
    }

    /// Y as forward() computes it, keeping nothing, with `attend(Z, out)` computing the
    /// attention of Z = ln1(X) into `out` (over whole sequences, or through a key/value cache).
    template <typename Attend>
    Matrix predict(const Matrix& X, Attend&& attend) const {
        Matrix attended;
        attend(ln1.predict(X), attended);                                       // (n, C)
        const Matrix A = X + attended;                                          // (n, C)
        return A + proj.predict(gelu.predict(fc.predict(ln2.predict(A))));     // (n, C)
    }

    /// dX given dY = ∂L/∂Y; every layer keeps its parameters' gradients.
    ///
    /// dY is (B·T, C) → dX is (B·T, C):
    ///
    ///     dA = dY + ln2ᵀ(fcᵀ(geluᵀ(projᵀ(dY))))     the residual: both paths add
    ///     dX = dA + ln1ᵀ(attnᵀ(dA))
    ///
    /// where fᵀ(d) is layer f's backward() of d. With GradientMode::accumulate every layer adds
    /// to the gradients it holds.
    const Matrix& backward(const Matrix& dY, GradientMode mode) {
        const Matrix& dH = gelu.backward(proj.backward(dY, mode).dX).dX;   // (B·T, 4C)
        dA_ = dY + ln2.backward(fc.backward(dH, mode).dX, mode).dX;        // (B·T, C)
        dX_ = dA_ + ln1.backward(attn.backward(dA_, mode).dX, mode).dX;    // (B·T, C)
        return dX_;
    }

private:
    template <typename Self, typename F>
    static void visit_layers(Self& self, F& f) {
        f(self.ln1);
        f(self.attn);
        f(self.ln2);
        f(self.fc);
        f(self.gelu);
        f(self.proj);
    }

    Matrix A_, Y_;    // forward: the residual stream after the attention, and the output
    Matrix dA_, dX_;  // backward: the gradients of A and of X
};

/// How generate() reads the context at each step.
enum class Decoding {
    cached,    ///< Keys and values of earlier positions are kept: one new row per step.
    recompute  ///< The whole window is run again at every step (the reference for the cache).
};

/// A character-level GPT (module comment above): token and position embeddings, L transformer
/// blocks, a final LayerNorm and an output head, tied to the token embedding or not.
///
/// It is a container of layers (for_each_layer), so optimisers, gradient clipping and
/// checkpoints (io/serialize.hpp) take it as they take a Sequential.
///
/// \tparam Scalar float or double.
template <typename Scalar>
class GPT {
    static_assert(std::is_floating_point_v<Scalar>, "a GPT needs a floating-point Scalar");

public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;  ///< activations, logits

    Embedding<Scalar> tok;                        ///< Token embedding: (V, C).
    PositionalEmbedding<Scalar> pos;              ///< Position embedding: (context, C).
    std::vector<TransformerBlock<Scalar>> blocks;  ///< The L blocks, first to last.
    LayerNorm<Scalar> ln_f;                       ///< The final LayerNorm.
    std::optional<Dense<Scalar>> head;            ///< The output head C → V, when not tied.

    /// A model of `config`'s sizes, started as GPT-2 starts one: every weight and embedding
    /// N(0, 0.02²), every bias 0, LayerNorm's γ = 1 and β = 0, and the two projections that
    /// write into the residual stream (attn.proj, proj) N(0, (0.02/√(2L))²), so that the
    /// stream's variance does not grow with the depth. The same seed gives the same model.
    /// Throws std::invalid_argument unless every size is positive and embed % heads == 0.
    explicit GPT(const GPTConfig& config, std::uint64_t seed = 0)
        : tok(checked(config).vocab, config.embed, seed, 0.02),
          pos(config.context, config.embed, seed + 1, 0.02),
          ln_f(config.embed),
          config_(config) {
        detail::SplitMix64 rng(seed + 2);
        const double residual_std = 0.02 / std::sqrt(2.0 * double(config.layers));
        for (Eigen::Index l = 0; l < config.layers; ++l) {
            auto& block = blocks.emplace_back(config.embed, config.heads, seed + 10 * (l + 1));
            start_normal(block.attn.qkv, rng, 0.02);
            start_normal(block.attn.proj, rng, residual_std);
            start_normal(block.fc, rng, 0.02);
            start_normal(block.proj, rng, residual_std);
        }
        if (!config.tied) {
            head.emplace(config.embed, config.vocab, seed + 3);
            start_normal(*head, rng, 0.02);
        }
    }

    const GPTConfig& config() const { return config_; }  ///< The sizes it was built with.

    /// f(layer) for tok, pos, every block's layers (ln1, attn, ln2, fc, gelu, proj), ln_f, and
    /// head when there is one: the order of the forward pass, and of files.
    template <typename F>
    void for_each_layer(F&& f) {
        visit_layers(*this, f);
    }

    /// f(layer) for every layer, read-only.
    template <typename F>
    void for_each_layer(F&& f) const {
        visit_layers(*this, f);
    }

    /// The logits of the next character at every position of every sequence.
    ///
    /// ids holds B·T ids (sequence b's position t at b·T + t) → logits (B·T, V); row b·T + t
    /// scores the character after position t, having seen positions 0 … t only. Every layer
    /// keeps what backward() needs. Throws std::invalid_argument, changing nothing, unless
    /// 1 ≤ T ≤ context, the ids are a non-empty multiple of T, and each is in [0, V).
    template <typename Ids>
    const Matrix& forward(const Eigen::MatrixBase<Ids>& ids, Eigen::Index T) {
        check_ids("GPT::forward", ids, T, 0);
        const Matrix* X = &pos.forward(tok.forward(ids), T);  // (B·T, C)
        for (auto& block : blocks) {
            X = &block.forward(*X, T);                         // (B·T, C)
        }
        const Matrix& H = ln_f.forward(*X);                    // (B·T, C)
        return head ? head->forward(H) : tok.unembed(H);       // (B·T, V)
    }

    /// Every parameter's gradient, given dlogits = ∂L/∂logits of the last forward().
    ///
    /// dlogits is (B·T, V) → the gradients are kept by the layers. The forward pass in reverse:
    ///
    ///     dH  = dlogits·Wₜₒₖ (tied; and dWₜₒₖ = dlogitsᵀ·H)   or   headᵀ(dlogits)  (B·T, C)
    ///     dX  = ln_fᵀ(dH)                                                      (B·T, C)
    ///     dX  = blockᵀ(dX) for the blocks from last to first                   (B·T, C)
    ///     dWₚₒₛ[t] = Σ_b dX[b·T + t],   dWₜₒₖ[ids[i]] += dX[i]                 (scatter-add)
    ///
    /// With a tied head the embedding's scatter-add is added to the head's gradient. With
    /// GradientMode::accumulate every gradient is added to those held. Throws std::logic_error
    /// before the first forward(), std::invalid_argument if dlogits is not (B·T, V) of the last
    /// forward(); either way nothing changes.
    template <typename D>
    void backward(const Eigen::MatrixBase<D>& dlogits, GradientMode mode = GradientMode::replace) {
        const Matrix& dH = head ? head->backward(dlogits, mode).dX         // (B·T, C)
                                : tok.unembed_backward(dlogits, mode);
        const Matrix* dX = &ln_f.backward(dH, mode).dX;                    // (B·T, C)
        for (auto block = blocks.rbegin(); block != blocks.rend(); ++block) {
            dX = &block->backward(*dX, mode);                              // (B·T, C)
        }
        tok.backward(pos.backward(*dX, mode).dX, head ? mode : GradientMode::accumulate);
    }

    /// The logits of B whole sequences, as forward() computes them, keeping nothing.
    ///
    /// ids holds B·T ids → logits (B·T, V), a new matrix. Throws as forward() does.
    template <typename Ids>
    Matrix predict(const Eigen::MatrixBase<Ids>& ids, Eigen::Index T) const {
        check_ids("GPT::predict", ids, T, 0);
        Matrix X;
        pos.predict(tok.predict(ids), T, 0, X);  // (B·T, C)
        for (const auto& block : blocks) {
            X = block.predict(X, [&](const Matrix& Z, Matrix& out) {
                block.attn.predict(Z, T, out);
            });
        }
        return logits_of(X);
    }

    /// What generation keeps of one sequence: every block's keys and values so far.
    struct Cache {
        std::vector<typename CausalSelfAttention<Scalar>::Cache> blocks;  ///< one per block
        /// The positions cached so far.
        Eigen::Index length() const { return blocks.empty() ? 0 : blocks.front().length; }
    };

    /// An empty cache for one sequence of up to context positions.
    Cache make_cache() const {
        Cache cache;
        for (const auto& block : blocks) {
            cache.blocks.push_back(block.attn.make_cache(config_.context));
        }
        return cache;
    }

    /// The logits of the next n characters of one sequence whose earlier characters are in
    /// `cache`: each new position attends to the cached ones and to the new ones up to itself,
    /// and their keys and values are added to the cache. Equal to predict() on the whole
    /// sequence (its last n rows), without recomputing the earlier positions.
    ///
    /// ids holds n ≥ 1 ids → logits (n, V), a new matrix. Throws std::invalid_argument,
    /// changing nothing, if an id is outside [0, V) or cache.length() + n > context.
    template <typename Ids>
    Matrix predict(const Eigen::MatrixBase<Ids>& ids, Cache& cache) const {
        check_ids("GPT::predict (cached)", ids, ids.size(), cache.length());
        Matrix X;
        pos.predict(tok.predict(ids), ids.size(), cache.length(), X);  // (n, C)
        for (std::size_t l = 0; l < blocks.size(); ++l) {
            X = blocks[l].predict(X, [&](const Matrix& Z, Matrix& out) {
                blocks[l].attn.predict(Z, cache.blocks[l], out);
            });
        }
        return logits_of(X);
    }

    /// Whether every layer with parameters holds gradients.
    bool has_gradients() const {
        bool all = true;
        for_each_parameter_layer([&all](const auto& layer) { all = all && layer.has_gradients(); });
        return all;
    }

    /// clear_gradients() of every layer: the next backward() starts new sums.
    void clear_gradients() {
        for_each_parameter_layer([](auto& layer) { layer.clear_gradients(); });
    }

    /// zero_gradients() of every layer: the gradients of an empty batch, zero and held.
    void zero_gradients() {
        for_each_parameter_layer([](auto& layer) { layer.zero_gradients(); });
    }

private:
    static const GPTConfig& checked(const GPTConfig& config) {
        if (config.vocab <= 0 || config.context <= 0 || config.embed <= 0 || config.heads <= 0 ||
            config.layers <= 0) {
            detail::fail("GPT: vocab ", config.vocab, ", context ", config.context, ", embed ",
                         config.embed, ", heads ", config.heads, ", layers ", config.layers,
                         ": every size must be positive");
        }
        if (config.embed % config.heads != 0) {
            detail::fail("GPT: embed ", config.embed, " is not a multiple of heads ",
                         config.heads);
        }
        return config;
    }

    // W ~ N(0, std²) drawn from rng, b = 0.
    static void start_normal(Dense<Scalar>& layer, detail::SplitMix64& rng, double std) {
        detail::fill_normal(layer.W, rng, std);
        layer.b.setZero();
    }

    template <typename Self, typename F>
    static void visit_layers(Self& self, F& f) {
        f(self.tok);
        f(self.pos);
        for (auto& block : self.blocks) {
            block.for_each_layer(f);
        }
        f(self.ln_f);
        if (self.head) {
            f(*self.head);
        }
    }

    template <typename F>
    void for_each_parameter_layer(F&& f) const {
        visit_layers(*this, [&f](const auto& layer) {
            if constexpr (has_parameters_v<decltype(layer)>) f(layer);
        });
    }

    template <typename F>
    void for_each_parameter_layer(F&& f) {
        visit_layers(*this, [&f](auto& layer) {
            if constexpr (has_parameters_v<decltype(layer)>) f(layer);
        });
    }

    // logits = ln_f(X)·Wₜₒₖᵀ or head(ln_f(X)): (n, C) → (n, V).
    Matrix logits_of(const Matrix& X) const {
        const Matrix H = ln_f.predict(X);
        if (head) {
            return head->predict(H);
        }
        Matrix logits;
        tok.predict_unembed(H, logits);
        return logits;
    }

    // Throws unless ids holds a non-empty multiple of T ids, each in [0, V), and positions
    // start … start + T − 1 exist (1 ≤ T, start + T ≤ context).
    template <typename Ids>
    void check_ids(const char* call, const Eigen::MatrixBase<Ids>& ids, Eigen::Index T,
                   Eigen::Index start) const {
        if (T < 1 || start + T > config_.context) {
            detail::fail(call, ": a sequence of ", start + T, " positions (T = ", T,
                         start > 0 ? " after the cached ones" : "",
                         ") is longer than the context, ", config_.context);
        }
        if (ids.size() == 0 || ids.size() % T != 0) {
            detail::fail(call, ": ", ids.size(), " ids are not a non-empty multiple of T = ", T);
        }
        for (Eigen::Index i = 0; i < ids.size(); ++i) {
            if (ids(i) < 0 || ids(i) >= config_.vocab) {
                detail::fail(call, ": ids[", i, "] is ", ids(i),
                             " but the vocabulary has ", config_.vocab, " ids: 0 … ",
                             config_.vocab - 1);
            }
        }
    }

    GPTConfig config_;
};

/// Continues `prompt` by `count` characters, each drawn from the model's softmax at
/// temperature τ: p = softmax(logits/τ), with a SplitMix64 generator seeded by `seed` (the same
/// seed gives the same text). τ < 1 sharpens the distribution, τ > 1 flattens it.
///
/// The model sees at most its last `context` characters: when the window is full, it restarts
/// from the last max(1, context/2) characters (refilling the cache once, rather than at every
/// step).
/// Decoding::cached keeps every block's keys and values and runs one new row per character;
/// Decoding::recompute runs the whole window at every step. Both give the same characters.
///
/// prompt holds ≥ 1 ids → the prompt followed by `count` new ids. Throws std::invalid_argument
/// if the prompt is empty or has an id outside [0, V), if count < 0, or unless τ > 0 and finite.
template <typename Scalar>
Eigen::VectorXi generate(const GPT<Scalar>& model, const Eigen::VectorXi& prompt,
                         Eigen::Index count, double temperature, std::uint64_t seed,
                         Decoding decoding = Decoding::cached) {
    if (prompt.size() == 0 || count < 0 || !(std::isfinite(temperature) && temperature > 0)) {
        detail::fail("generate: the prompt has ", prompt.size(), " ids, count is ", count,
                     ", temperature ", temperature,
                     ": need a non-empty prompt, count >= 0 and a finite temperature > 0");
    }
    const Eigen::Index context = model.config().context;
    Eigen::VectorXi ids(prompt.size() + count);
    ids.head(prompt.size()) = prompt;
    Eigen::Index n = prompt.size();                  // ids so far
    Eigen::Index start = std::max<Eigen::Index>(0, n - context);  // the window: ids[start, n)
    auto cache = model.make_cache();
    auto window = [&] { return ids.segment(start, n - start); };
    // The logits of the whole window, and (cached) its keys and values.
    auto run_window = [&] {
        if (decoding == Decoding::recompute) {
            return model.predict(window(), n - start);
        }
        cache = model.make_cache();
        return model.predict(window(), cache);
    };
    typename GPT<Scalar>::Matrix logits = run_window();
    detail::SplitMix64 rng(seed);
    for (Eigen::Index k = 0; k < count; ++k) {
        // p = softmax(logits/τ) of the last row, in double; draw the next id by inversion.
        const Eigen::VectorXd z =
            logits.row(logits.rows() - 1).transpose().template cast<double>() / temperature;
        const Eigen::VectorXd p = (z.array() - z.maxCoeff()).exp();
        double u = rng.uniform01<double>() * p.sum();
        Eigen::Index next = 0;
        while (next + 1 < p.size() && u >= p[next]) {
            u -= p[next++];
        }
        ids[n++] = static_cast<int>(next);
        if (k + 1 == count) {
            break;
        }
        if (n - start > context) {  // the window is full: keep its last half (at least 1)
            start = n - std::max<Eigen::Index>(1, context / 2);
            logits = run_window();
        } else if (decoding == Decoding::recompute) {
            logits = run_window();
        } else {
            logits = model.predict(ids.segment(n - 1, 1), cache);
        }
    }
    return ids;
}

}  // namespace backprop
