#pragma once
/// \file
/// Inverted dropout, as `torch.nn.Dropout(p)`, with a seeded, reproducible mask.

#include "../detail/random.hpp"
#include "../detail/shape.hpp"
#include "parameter.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace backprop {

/// Inverted dropout: in training each element is zeroed with probability p and the survivors
/// are scaled by 1/(1 − p), so that E[Y] = X and nothing needs rescaling at inference; in eval
/// mode (set_mode(Mode::eval)) and in predict() it is the identity.
///
///     Y = X ∘ M,   M[n][j] = 0 with probability p, else 1/(1 − p)
///
/// Shapes: X, Y, dY, dX are (batch, cols), any width. forward() draws a new mask M from the
/// layer's own SplitMix64 generator, seeded at construction: the masks of a run depend only on
/// the seed and the order of the forward() calls, on every compiler. forward() keeps M, which is
/// all backward() needs. The mask of PyTorch's generator cannot be reproduced; the tests check
/// the behaviour instead (mean preserved, routing through the mask, identity in eval).
///
/// A copy copies the generator's state: the copy draws the same masks as the original would.
///
/// Why the survivors are scaled: \ref tutorial_dropout "Tutorial 13: Dropout".
///
/// \tparam Scalar float or double.
template <typename Scalar>
class Dropout {
    static_assert(std::is_floating_point_v<Scalar>, "Dropout needs a floating-point Scalar");

public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;  ///< X, Y, dY, dX

    /// What files and error messages call this kind of layer.
    static constexpr const char* kind = "Dropout";

    /// What backward() returns: the gradient of the input (no parameters).
    struct Gradients {
        Matrix dX;  ///< ∂L/∂X: (batch, cols)
    };

    /// Drops with probability p (PyTorch's default 0.5), masks drawn from `seed`. Throws
    /// std::invalid_argument unless 0 ≤ p < 1 (p = 1 would scale by 1/0).
    explicit Dropout(Scalar p = Scalar(0.5), std::uint64_t seed = 0) : p_(p), rng_(seed) {
        if (!(p >= 0 && p < 1)) {
            detail::fail("Dropout: p is ", p, " but must be in [0, 1)");
        }
    }

    Scalar p() const { return p_; }             ///< The probability of dropping an element.
    void set_mode(Mode mode) { mode_ = mode; }  ///< Mode::eval makes forward() the identity.
    Mode mode() const { return mode_; }         ///< The mode set (Mode::train at first).

    /// f("p", p): files record it.
    template <typename F>
    void for_each_setting(F&& f) const {
        f("p", static_cast<double>(p_));
    }

    /// Y = X ∘ M with a new mask in training; Y = X in eval mode (M = 1, no number drawn).
    ///
    /// X is (batch, cols) → Y is (batch, cols). Keeps M for backward(). Throws
    /// std::invalid_argument if X is empty.
    template <typename D>
    const Matrix& forward(const Eigen::MatrixBase<D>& X) {
        detail::require_batch("Dropout::forward", X, -1);
        mask_.resize(X.rows(), X.cols());
        if (mode_ == Mode::train) {
            const Scalar keep = Scalar(1) / (Scalar(1) - p_);
            for (Eigen::Index j = 0; j < mask_.cols(); ++j) {
                for (Eigen::Index n = 0; n < mask_.rows(); ++n) {
                    mask_(n, j) = rng_.template uniform01<Scalar>() < p_ ? Scalar(0) : keep;
                }
            }
        } else {
            mask_.setOnes();
        }
        Y_ = X.cwiseProduct(mask_);
        return Y_;
    }

    /// Y = X, whatever the mode: inference keeps every element. Keeps nothing, draws nothing.
    template <typename D>
    Matrix predict(const Eigen::MatrixBase<D>& X) const {
        Matrix Y;
        predict(X, Y);
        return Y;
    }

    /// Y = X into `Y`, resized only if its shape differs. Throws as forward() does.
    template <typename D>
    void predict(const Eigen::MatrixBase<D>& X, Matrix& Y) const {
        detail::require_batch("Dropout::predict", X, -1);
        Y = X;
    }

    /// dX = dY ∘ M. In the forward pass Y[n][j] = X[n][j]·M[n][j], one term per element, so
    /// ∂L/∂X[n][j] = dY[n][j]·M[n][j]: the gradient flows only through the kept elements, scaled
    /// as they were.
    ///
    /// dY is (batch, cols) of the last forward() → dX (batch, cols). Throws std::logic_error
    /// before the first forward(), std::invalid_argument if dY has another shape.
    template <typename D>
    const Gradients& backward(const Eigen::MatrixBase<D>& dY) {
        detail::require_forward(mask_.size() != 0, "Dropout::backward");
        detail::require_same_shape("Dropout::backward", "dY", dY, "Y of the last forward", Y_);
        grads_.dX = dY.cwiseProduct(mask_);
        return grads_;
    }

    /// What the last backward() returned.
    const Gradients& gradients() const { return grads_; }

    /// The mask M of the last forward(): 0 or 1/(1 − p) per element (all 1 in eval mode).
    const Matrix& mask() const { return mask_; }

    /// The same layer in another scalar type: p cast, the generator's state and the mode kept
    /// (so it draws the same masks), nothing cached.
    template <typename Other>
    Dropout<Other> cast() const {
        Dropout<Other> other(static_cast<Other>(p_));
        other.rng_ = rng_;
        other.set_mode(mode_);
        return other;
    }

private:
    template <typename>
    friend class Dropout;

    Scalar p_;
    detail::SplitMix64 rng_;
    Mode mode_ = Mode::train;
    Matrix mask_;  // M of the last forward(): backward needs it
    Matrix Y_;
    Gradients grads_;
};

}  // namespace backprop
