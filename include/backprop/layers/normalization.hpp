#pragma once
/// \file
/// Normalisation layers: BatchNorm (per feature, or per channel of images) and LayerNorm (per
/// row), each with a learnt scale γ and shift β, and their hand-written backward passes.
///
/// Both normalise a group of M values x₁ … x_M to zero mean and unit variance, then scale and
/// shift them; only the group differs (BatchNorm: one feature or channel across the batch;
/// LayerNorm: one sample's features):
///
///     μ = (1/M)·Σᵢ xᵢ,   σ² = (1/M)·Σᵢ (xᵢ − μ)²   (biased),   x̂ᵢ = (xᵢ − μ)/√(σ² + ε),
///     yᵢ = γ·x̂ᵢ + β
///
/// The backward pass of that group, derived once (s = 1/√(σ² + ε), g = ∂L/∂x̂ = dY·γ):
///
///     ∂x̂ⱼ/∂xᵢ = s·([i = j] − 1/M) + (xⱼ − μ)·∂s/∂xᵢ
///     ∂s/∂xᵢ = −½·(σ² + ε)^(−3/2)·∂σ²/∂xᵢ,   ∂σ²/∂xᵢ = (2/M)·(xᵢ − μ)   (the Σ(xⱼ − μ) term is 0)
///            = −s³·(xᵢ − μ)/M = −s·x̂ᵢ/M
///     so ∂x̂ⱼ/∂xᵢ = s·([i = j] − 1/M − x̂ᵢ·x̂ⱼ/M), and
///     dxᵢ = Σⱼ gⱼ·∂x̂ⱼ/∂xᵢ = s·(gᵢ − (1/M)·Σⱼ gⱼ − x̂ᵢ·(1/M)·Σⱼ gⱼ·x̂ⱼ)
///         = (1/M)·s·(M·gᵢ − Σⱼ gⱼ − x̂ᵢ·Σⱼ gⱼ·x̂ⱼ)
///
/// the compact form: through μ every input gets back the mean of the gradients, through σ² the
/// part along x̂. The same result, term by term through the graph (as cs231n's
/// batchnorm_backward): dμ = −s·Σ gⱼ (the σ² path adds −2/M·Σ(xⱼ − μ)·dσ² = 0),
/// dσ² = Σ gⱼ·(xⱼ − μ)·(−½)·s³, dxᵢ = gᵢ·s + dσ²·2(xᵢ − μ)/M + dμ/M.

#include "../detail/shape.hpp"
#include "parameter.hpp"

#include <Eigen/Core>

#include <cmath>
#include <type_traits>

namespace backprop {

/// What BatchNorm and LayerNorm share: γ and β, their gradients and optimiser states, and the
/// parameter plumbing (for_each_parameter, clear_gradients…).
///
/// Shapes: γ, β, dγ, dβ are (1, G) with G the number of groups that have their own γ and β
/// (BatchNorm's features or channels, LayerNorm's features).
template <typename Scalar>
class NormParameters {
    static_assert(std::is_floating_point_v<Scalar>, "a normalisation needs a floating-point Scalar");

public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;  ///< X, Y, dY, dX
    using Row = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;                  ///< γ, β: (1, G)

    /// The gradients of the loss with respect to γ, β and the input.
    struct Gradients {
        Row dgamma;  ///< ∂L/∂γ: (1, G)
        Row dbeta;   ///< ∂L/∂β: (1, G)
        Matrix dX;   ///< ∂L/∂X: (batch, width)
    };

    Row gamma;  ///< The scale γ: (1, G), ones at first (as PyTorch).
    Row beta;   ///< The shift β: (1, G), zeros at first.

    /// The gradients of the last backward() (zero before the first).
    const Gradients& gradients() const { return grads_; }

    /// Whether dγ and dβ hold the gradients of a backward() since the last clear_gradients().
    bool has_gradients() const { return has_gradients_; }

    /// Sets dγ and dβ to zero and has_gradients() to false; the optimiser's state is kept.
    void clear_gradients() {
        grads_.dgamma.setZero();
        grads_.dbeta.setZero();
        has_gradients_ = false;
    }

    /// The gradients of an empty batch: dγ and dβ zero, and held (has_gradients() true), as
    /// Dense::zero_gradients(). The optimiser's state is kept.
    void zero_gradients() {
        clear_gradients();
        has_gradients_ = true;
    }

    /// f(Parameter) for γ ("gamma"), then β ("beta"), as torch's weight and bias.
    template <typename F>
    void for_each_parameter(F&& f) {
        f(Parameter<Row>{"gamma", gamma, grads_.dgamma, gamma_state_});
        f(Parameter<Row>{"beta", beta, grads_.dbeta, beta_state_});
    }

    /// f(ConstParameter) for γ, then β.
    template <typename F>
    void for_each_parameter(F&& f) const {
        f(ConstParameter<Row>{"gamma", gamma, grads_.dgamma, gamma_state_});
        f(ConstParameter<Row>{"beta", beta, grads_.dbeta, beta_state_});
    }

protected:
    /// γ = 1 and β = 0 for each of `groups` channels or features, as PyTorch starts them.
    explicit NormParameters(Eigen::Index groups)
        : gamma(Row::Ones(groups)), beta(Row::Zero(groups)) {
        grads_.dgamma.setZero(groups);
        grads_.dbeta.setZero(groups);
    }

    /// Starts this batch's dγ and dβ: set to zero for GradientMode::replace (or when there are
    /// none), kept for accumulate; the caller then adds to them.
    void start_gradients(GradientMode mode) {
        if (mode == GradientMode::replace || !has_gradients_) {
            grads_.dgamma.setZero();
            grads_.dbeta.setZero();
        }
        has_gradients_ = true;
    }

    /// Throws std::invalid_argument unless ε is finite and positive.
    static void check_eps(const char* kind, Scalar eps) {
        if (!(std::isfinite(eps) && eps > 0)) {
            detail::fail(kind, ": eps is ", eps, " but must be finite and > 0");
        }
    }

    Gradients grads_;                 ///< dγ, dβ (and dX) of the last backward().
    bool has_gradients_ = false;      ///< Whether dγ and dβ hold a backward's gradients.
    OptimizerState<Row> gamma_state_;  ///< What the optimiser keeps for γ.
    OptimizerState<Row> beta_state_;   ///< What the optimiser keeps for β.
};

/// Batch normalisation, as `torch.nn.BatchNorm1d(F)` on (batch, F) features and
/// `torch.nn.BatchNorm2d(C)` on (batch, C·H·W) images in NCHW order.
///
/// Each channel c (a feature is a channel of 1×1 images) is one group of M = batch·H·W values,
/// the columns c·H·W … (c + 1)·H·W − 1 of every row, with its own γ[c] and β[c]:
///
///   - in training (Mode::train, the default), forward() normalises with the batch's mean μ and
///     biased variance σ², and updates the running statistics with PyTorch's convention
///     r ← (1 − momentum)·r + momentum·b, using the unbiased variance σ²·M/(M − 1) for the
///     running variance; training needs M > 1 (as PyTorch: one value has no variance);
///   - in eval mode (set_mode(Mode::eval)), and always in predict(), it normalises with the
///     running mean and variance instead, and updates nothing.
///
/// The running statistics start at mean 0 and variance 1. They are not parameters (no gradient,
/// no optimiser state) but buffers, reached through for_each_buffer(): files save them after the
/// parameters. PyTorch's num_batches_tracked is not kept: it only matters for momentum = None
/// (a cumulative average), which this layer does not offer.
///
/// forward() caches x̂ and s = 1/√(σ² + ε) per channel, which is all backward() needs; and which
/// mode it ran in, so that backward() differentiates what forward() computed.
///
/// Derived, with its compact backward pass: \ref tutorial_batch_norm "Tutorial 13: Batch normalisation".
///
/// \tparam Scalar float or double.
template <typename Scalar>
class BatchNorm : public NormParameters<Scalar> {
    using Base = NormParameters<Scalar>;

public:
    using typename Base::Gradients;
    using typename Base::Matrix;
    using typename Base::Row;

    /// What files and error messages call this kind of layer.
    static constexpr const char* kind = "BatchNorm";

    Row running_mean;  ///< The running mean per channel: (1, C), zeros at first.
    Row running_var;   ///< The running (unbiased) variance per channel: (1, C), ones at first.

    /// BatchNorm(F) for (batch, F) features; BatchNorm(C, H, W) for (batch, C·H·W) images.
    /// PyTorch's defaults: eps 1e-5, momentum 0.1. Throws std::invalid_argument unless every
    /// size is positive, eps is finite and > 0, and momentum is in [0, 1].
    explicit BatchNorm(Eigen::Index channels, Eigen::Index height = 1, Eigen::Index width = 1,
                       Scalar eps = Scalar(1e-5), Scalar momentum = Scalar(0.1))
        : Base(checked_channels(channels, height, width)),
          running_mean(Row::Zero(channels)),
          running_var(Row::Ones(channels)),
          H_(height),
          W_(width),
          eps_(eps),
          momentum_(momentum) {
        Base::check_eps(kind, eps);
        if (!(momentum >= 0 && momentum <= 1)) {
            detail::fail("BatchNorm: momentum is ", momentum, " but must be in [0, 1]");
        }
    }

    Eigen::Index channels() const { return this->gamma.cols(); }  ///< C (or F).
    Eigen::Index height() const { return H_; }                     ///< H (1 for features).
    Eigen::Index width() const { return W_; }                      ///< W (1 for features).
    Eigen::Index in() const { return channels() * H_ * W_; }      ///< Width of X: C·H·W.
    Eigen::Index out() const { return in(); }                     ///< Width of Y: C·H·W.
    Scalar eps() const { return eps_; }                            ///< ε.
    Scalar momentum() const { return momentum_; }                  ///< The running update's rate.
    void set_mode(Mode mode) { mode_ = mode; }  ///< Mode::eval: normalise with running statistics.
    Mode mode() const { return mode_; }         ///< The mode set (Mode::train at first).

    /// f(name, value) for "channels", "height", "width", "eps", "momentum": files record them.
    template <typename F>
    void for_each_setting(F&& f) const {
        f("channels", static_cast<double>(channels()));
        f("height", static_cast<double>(H_));
        f("width", static_cast<double>(W_));
        f("eps", static_cast<double>(eps_));
        f("momentum", static_cast<double>(momentum_));
    }

    /// f(name, tensor) for "running_mean", then "running_var", each (1, C): the layer's state
    /// that is not trained by gradients. Files save them after the parameters.
    template <typename F>
    void for_each_buffer(F&& f) {
        f("running_mean", running_mean);
        f("running_var", running_var);
    }

    /// f(name, tensor) for the running statistics, read-only.
    template <typename F>
    void for_each_buffer(F&& f) const {
        f("running_mean", running_mean);
        f("running_var", running_var);
    }

    /// Y = γ·x̂ + β per channel, x̂ normalised with the batch's statistics (training; the running
    /// statistics are updated) or the running ones (eval mode).
    ///
    /// X is (batch, C·H·W) → Y is (batch, C·H·W). Keeps x̂ and s per channel for backward().
    /// Throws std::invalid_argument, changing nothing, if X is empty or not C·H·W wide, or in
    /// training if a channel has a single value (batch·H·W = 1).
    template <typename D>
    const Matrix& forward(const Eigen::MatrixBase<D>& X) {
        check_input("BatchNorm::forward", X);
        const Eigen::Index HW = H_ * W_;
        const Eigen::Index M = X.rows() * HW;
        if (mode_ == Mode::train && M < 2) {
            detail::fail("BatchNorm::forward: X is ", detail::dims(X), ", one value per channel",
                         ": training needs more than one to estimate a variance (use a larger",
                         " batch, or eval mode)");
        }
        xhat_.resize(X.rows(), in());
        Y_.resize(X.rows(), in());
        inv_std_.resize(channels());
        for (Eigen::Index c = 0; c < channels(); ++c) {
            const auto x = X.middleCols(c * HW, HW);
            auto xhat = xhat_.middleCols(c * HW, HW);
            Scalar mean, var;
            if (mode_ == Mode::train) {
                mean = x.mean();
                var = (x.array() - mean).square().mean();  // biased: normalises
                running_mean[c] = (1 - momentum_) * running_mean[c] + momentum_ * mean;
                running_var[c] = (1 - momentum_) * running_var[c] +
                                 momentum_ * var * Scalar(M) / Scalar(M - 1);  // unbiased
            } else {
                mean = running_mean[c];
                var = running_var[c];
            }
            inv_std_[c] = Scalar(1) / std::sqrt(var + eps_);
            xhat = (x.array() - mean) * inv_std_[c];
            Y_.middleCols(c * HW, HW) = (this->gamma[c] * xhat.array() + this->beta[c]).matrix();
        }
        forward_mode_ = mode_;
        return Y_;
    }

    /// Y as forward() computes it in eval mode, whatever the mode: the running statistics, nothing
    /// kept or updated (thread-safe on one layer).
    template <typename D>
    Matrix predict(const Eigen::MatrixBase<D>& X) const {
        Matrix Y;
        predict(X, Y);
        return Y;
    }

    /// Y into `Y`, resized only if its shape differs. Throws as forward() does.
    template <typename D>
    void predict(const Eigen::MatrixBase<D>& X, Matrix& Y) const {
        check_input("BatchNorm::predict", X);
        const Eigen::Index HW = H_ * W_;
        Y.resize(X.rows(), in());
        for (Eigen::Index c = 0; c < channels(); ++c) {
            const Scalar scale = this->gamma[c] / std::sqrt(running_var[c] + eps_);
            Y.middleCols(c * HW, HW) =
                ((X.middleCols(c * HW, HW).array() - running_mean[c]) * scale + this->beta[c])
                    .matrix();
        }
    }

    /// The gradients of L, given dY = ∂L/∂Y.
    ///
    /// dY is (batch, C·H·W) → dγ (1, C), dβ (1, C), dX (batch, C·H·W). Per channel c, with its M
    /// values, x̂ and s = 1/√(σ² + ε) of the last forward(): in the forward pass
    /// Y[n][i] = γ[c]·x̂[n][i] + β[c] for every column i of c, so
    ///
    ///     dγ[c] = Σ_{n, i ∈ c} dY[n][i]·x̂[n][i]        dβ[c] = Σ_{n, i ∈ c} dY[n][i]
    ///
    /// In training x̂ depends on every value of the channel through μ and σ² (the file comment
    /// derives it), and with g = γ[c]·dY:
    ///
    ///     dX = (1/M)·γ[c]·s·(M·dY − Σ dY − x̂·Σ(dY∘x̂))      (sums over the channel's values)
    ///
    /// In eval mode μ and σ² are constants (the running statistics), so dX = γ[c]·s·dY.
    ///
    /// With GradientMode::accumulate, dγ and dβ are added to those held. Throws
    /// std::logic_error before the first forward(), std::invalid_argument if dY is not the
    /// shape of the last Y; either way nothing changes.
    template <typename D>
    const Gradients& backward(const Eigen::MatrixBase<D>& dY,
                              GradientMode mode = GradientMode::replace) {
        check_backward("BatchNorm::backward", dY);
        backward_channels(dY, mode, true);
        return this->grads_;
    }

    /// dγ and dβ as backward() computes them, without dX (left empty, (0, C·H·W)): for a first
    /// layer, whose X is the data. Throws as backward() does.
    template <typename D>
    const Gradients& backward_parameters(const Eigen::MatrixBase<D>& dY,
                                         GradientMode mode = GradientMode::replace) {
        check_backward("BatchNorm::backward_parameters", dY);
        backward_channels(dY, mode, false);
        this->grads_.dX.resize(0, in());
        return this->grads_;
    }

    /// The same layer in another scalar type: γ, β, the running statistics, the settings and the
    /// mode cast; no gradients, no optimiser state, nothing cached.
    template <typename Other>
    BatchNorm<Other> cast() const {
        BatchNorm<Other> other(channels(), H_, W_, static_cast<Other>(eps_),
                               static_cast<Other>(momentum_));
        other.gamma = this->gamma.template cast<Other>();
        other.beta = this->beta.template cast<Other>();
        other.running_mean = running_mean.template cast<Other>();
        other.running_var = running_var.template cast<Other>();
        other.set_mode(mode_);
        return other;
    }

private:
    static Eigen::Index checked_channels(Eigen::Index channels, Eigen::Index height,
                                         Eigen::Index width) {
        if (channels <= 0 || height <= 0 || width <= 0) {
            detail::fail("BatchNorm: channels ", channels, ", height ", height, ", width ", width,
                         ": every size must be positive");
        }
        return channels;
    }

    template <typename D>
    void check_input(const char* call, const Eigen::MatrixBase<D>& X) const {
        if (X.rows() == 0 || X.cols() != in()) {
            detail::fail(call, ": X is ", detail::dims(X), " but must be a non-empty batch of ",
                         in(), " columns (", channels(), " channels of ", H_, "x", W_,
                         " (height x width))");
        }
    }

    template <typename D>
    void check_backward(const char* call, const Eigen::MatrixBase<D>& dY) const {
        detail::require_forward(Y_.size() != 0, call);
        detail::require_same_shape(call, "dY", dY, "Y of the last forward", Y_);
    }

    template <typename D>
    void backward_channels(const Eigen::MatrixBase<D>& dY, GradientMode mode, bool input) {
        this->start_gradients(mode);
        const Eigen::Index HW = H_ * W_;
        const Scalar M = Scalar(dY.rows() * HW);
        if (input) this->grads_.dX.resize(dY.rows(), in());
        for (Eigen::Index c = 0; c < channels(); ++c) {
            const auto dy = dY.middleCols(c * HW, HW);
            const auto xhat = xhat_.middleCols(c * HW, HW);
            const Scalar sum_dy = dy.sum();                                 // Σ dY
            const Scalar sum_dy_xhat = (dy.array() * xhat.array()).sum();   // Σ dY∘x̂
            this->grads_.dgamma[c] += sum_dy_xhat;
            this->grads_.dbeta[c] += sum_dy;
            if (!input) continue;
            auto dx = this->grads_.dX.middleCols(c * HW, HW);
            const Scalar gs = this->gamma[c] * inv_std_[c];
            if (forward_mode_ == Mode::train) {
                // dX = (1/M)·γ·s·(M·dY − Σ dY − x̂·Σ(dY∘x̂))
                dx = ((gs / M) * (M * dy.array() - sum_dy - xhat.array() * sum_dy_xhat)).matrix();
            } else {
                // μ, σ² constant: dX = γ·s·dY
                dx = gs * dy;
            }
        }
    }

    Eigen::Index H_, W_;
    Scalar eps_, momentum_;
    Mode mode_ = Mode::train;
    Mode forward_mode_ = Mode::train;  // the mode of the last forward(): what backward derives
    Matrix xhat_;                      // x̂ of the last forward(): (batch, C·H·W)
    Row inv_std_;                      // s = 1/√(σ² + ε) per channel of the last forward()
    Matrix Y_;
};

/// Layer normalisation over the last dimension, as `torch.nn.LayerNorm(F)`: each row (sample)
/// is one group of its F features, normalised with its own mean and biased variance, then
/// scaled and shifted per feature: Y[n][j] = γ[j]·x̂[n][j] + β[j]. The same in training and
/// inference (no running statistics, no mode).
///
/// forward() caches x̂ (batch, F) and s = 1/√(σ²ₙ + ε) per row, which is all backward() needs.
///
/// Derived: \ref tutorial_batch_norm "Tutorial 13: Batch normalisation".
///
/// \tparam Scalar float or double.
template <typename Scalar>
class LayerNorm : public NormParameters<Scalar> {
    using Base = NormParameters<Scalar>;

public:
    using typename Base::Gradients;
    using typename Base::Matrix;
    using typename Base::Row;
    using Column = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;  ///< One value per row: (batch, 1)

    /// What files and error messages call this kind of layer.
    static constexpr const char* kind = "LayerNorm";

    /// Normalises rows of `features` values. Throws std::invalid_argument unless features > 0
    /// and eps is finite and > 0.
    explicit LayerNorm(Eigen::Index features, Scalar eps = Scalar(1e-5))
        : Base(checked_features(features)), eps_(eps) {
        Base::check_eps(kind, eps);
    }

    Eigen::Index in() const { return this->gamma.cols(); }  ///< F.
    Eigen::Index out() const { return in(); }               ///< F.
    Scalar eps() const { return eps_; }                      ///< ε.

    /// f(name, value) for "features" and "eps": files record them.
    template <typename F>
    void for_each_setting(F&& f) const {
        f("features", static_cast<double>(in()));
        f("eps", static_cast<double>(eps_));
    }

    /// Y = γ∘x̂ + β, x̂ each row normalised with its own mean and biased variance.
    ///
    /// X is (batch, F) → Y is (batch, F). Keeps x̂ and s per row for backward(). Throws
    /// std::invalid_argument if X is empty or not F wide.
    template <typename D>
    const Matrix& forward(const Eigen::MatrixBase<D>& X) {
        detail::require_batch("LayerNorm::forward", X, in());
        normalize(X.derived(), xhat_, inv_std_);
        Y_ = (xhat_.array().rowwise() * this->gamma.array()).rowwise() + this->beta.array();
        return Y_;
    }

    /// Y as forward() computes it, keeping nothing (thread-safe on one layer). It needs x̂ per
    /// row, so it allocates its own row statistics.
    template <typename D>
    Matrix predict(const Eigen::MatrixBase<D>& X) const {
        Matrix Y;
        predict(X, Y);
        return Y;
    }

    /// Y into `Y`, resized only if its shape differs. Throws as forward() does.
    template <typename D>
    void predict(const Eigen::MatrixBase<D>& X, Matrix& Y) const {
        detail::require_batch("LayerNorm::predict", X, in());
        Column inv_std;
        normalize(X.derived(), Y, inv_std);
        Y = (Y.array().rowwise() * this->gamma.array()).rowwise() + this->beta.array();
    }

    /// The gradients of L, given dY = ∂L/∂Y.
    ///
    /// dY is (batch, F) → dγ (1, F), dβ (1, F), dX (batch, F). In the forward pass
    /// Y[n][j] = γ[j]·x̂[n][j] + β[j], so
    ///
    ///     dγ[j] = Σₙ dY[n][j]·x̂[n][j]      dβ[j] = Σₙ dY[n][j]      (dγ = Σ_rows dY∘x̂)
    ///
    /// and g = ∂L/∂x̂ = dY∘γ (γ broadcast down the rows). Each row is one group of M = F values
    /// (the file comment derives it), so per row n, with s = sₙ:
    ///
    ///     dX[n] = (1/F)·s·(F·g[n] − Σⱼ g[n][j] − x̂[n]·Σⱼ g[n][j]·x̂[n][j])
    ///
    /// γ sits inside the sums here (it varies along the row), unlike BatchNorm's, where it is
    /// one number per group and comes out. With GradientMode::accumulate, dγ and dβ are added to
    /// those held. Throws std::logic_error before the first forward(), std::invalid_argument if
    /// dY is not the shape of the last Y; either way nothing changes.
    template <typename D>
    const Gradients& backward(const Eigen::MatrixBase<D>& dY,
                              GradientMode mode = GradientMode::replace) {
        check_backward("LayerNorm::backward", dY);
        parameter_gradients(dY, mode);
        const Scalar F = Scalar(in());
        g_ = (dY.array().rowwise() * this->gamma.array()).matrix();
        sum_g_ = g_.rowwise().sum();                                        // Σⱼ g
        sum_g_xhat_ = (g_.array() * xhat_.array()).rowwise().sum().matrix();  // Σⱼ g∘x̂
        auto& dX = this->grads_.dX;
        dX = F * g_;
        dX.colwise() -= sum_g_;
        dX.array() -= xhat_.array().colwise() * sum_g_xhat_.array();
        dX.array().colwise() *= inv_std_.array();
        dX /= F;
        return this->grads_;
    }

    /// dγ and dβ as backward() computes them, without dX (left empty, (0, F)): for a first
    /// layer. Throws as backward() does.
    template <typename D>
    const Gradients& backward_parameters(const Eigen::MatrixBase<D>& dY,
                                         GradientMode mode = GradientMode::replace) {
        check_backward("LayerNorm::backward_parameters", dY);
        parameter_gradients(dY, mode);
        this->grads_.dX.resize(0, in());
        return this->grads_;
    }

    /// The same layer in another scalar type: γ, β and ε cast; nothing else.
    template <typename Other>
    LayerNorm<Other> cast() const {
        LayerNorm<Other> other(in(), static_cast<Other>(eps_));
        other.gamma = this->gamma.template cast<Other>();
        other.beta = this->beta.template cast<Other>();
        return other;
    }

private:
    static Eigen::Index checked_features(Eigen::Index features) {
        if (features <= 0) {
            detail::fail("LayerNorm: features is ", features, " but must be positive");
        }
        return features;
    }

    // xhat = (X − μ)·s per row, s = 1/√(σ² + ε) with the biased σ² of the row. inv_std holds μ
    // first: the mean is evaluated once, into storage that is reused.
    template <typename X>
    void normalize(const X& input, Matrix& xhat, Column& inv_std) const {
        inv_std = input.rowwise().mean();
        xhat = input.colwise() - inv_std;
        inv_std = (xhat.array().square().rowwise().mean() + eps_).rsqrt().matrix();
        xhat.array().colwise() *= inv_std.array();
    }

    template <typename D>
    void check_backward(const char* call, const Eigen::MatrixBase<D>& dY) const {
        detail::require_forward(Y_.size() != 0, call);
        detail::require_same_shape(call, "dY", dY, "Y of the last forward", Y_);
    }

    // dγ += Σ_rows dY∘x̂, dβ += Σ_rows dY (after start_gradients).
    template <typename D>
    void parameter_gradients(const Eigen::MatrixBase<D>& dY, GradientMode mode) {
        this->start_gradients(mode);
        this->grads_.dgamma += (dY.array() * xhat_.array()).colwise().sum().matrix();
        this->grads_.dbeta += dY.colwise().sum();
    }

    Scalar eps_;
    Matrix xhat_;     // x̂ of the last forward(): (batch, F)
    Column inv_std_;  // s per row of the last forward(): (batch, 1)
    Matrix Y_;
    Matrix g_;                       // backward's ∂L/∂x̂ = dY∘γ, a member to reuse its storage
    Column sum_g_, sum_g_xhat_;      // backward's row sums
};

}  // namespace backprop
