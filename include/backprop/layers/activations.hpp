#pragma once
/// \file
/// Elementwise activations: ReLU, LeakyReLU, Sigmoid and Tanh, each with its hand-written
/// backward pass.
///
/// An activation applies a function f of one number to every element: Y = f(X), Y[n][j] =
/// f(X[n][j]). Each output depends only on the input at the same place, so the chain rule has a
/// single term per element:
///
///     dX[n][j] = dY[n][j] · f'(X[n][j])        (dX = dY ∘ f'(X), an elementwise product)
///
/// For the four functions here f' can be written with the output y = f(x) alone, so forward()
/// keeps Y, which it returns anyway, and nothing else.

#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <cmath>
#include <string>
#include <type_traits>

namespace backprop {

/// What the four activations share: the shape checks, the two owned buffers, and inference.
///
/// Shapes: X, Y, dY and dX are all (batch, cols). `Derived` provides `kind` (its name),
/// `apply(X)` (the expression for Y) and `derivative(Y)` (the expression for f'(X), written with
/// Y). Returned matrices are owned buffers, valid until the next call of the same function.
///
/// \tparam Scalar float or double.
/// \tparam Cols number of columns, or Eigen::Dynamic; fix it to match a fixed-size Dense layer's
///         `Out` so that the whole network has fixed-width types.
template <typename Derived, typename Scalar, int Cols>
class Activation {
    static_assert(std::is_floating_point_v<Scalar>, "an activation needs a floating-point Scalar");

public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Cols>;  ///< X, Y, dY, dX: (batch, cols)

    /// What backward() returns: the gradient of the input, the one gradient a layer without
    /// parameters has (the same kind of result as Dense::Gradients).
    struct Gradients {
        Matrix dX;  ///< ∂L/∂X: (batch, cols)
    };

    /// Y = f(X), elementwise.
    ///
    /// X is (batch, cols) → Y is (batch, cols). Keeps Y for backward().
    /// Throws std::invalid_argument if X is empty or its width differs from a fixed Cols.
    template <typename D>
    const Matrix& forward(const Eigen::MatrixBase<D>& X) {
        check_input("::forward", X);
        Y_ = self().apply(X.derived());
        return Y_;
    }

    /// Y = f(X) as forward() computes it, keeping nothing (thread-safe on one activation).
    ///
    /// X is (batch, cols) → Y is (batch, cols), a new matrix. Throws as forward() does.
    template <typename D>
    Matrix predict(const Eigen::MatrixBase<D>& X) const {
        Matrix Y;
        predict(X, Y);
        return Y;
    }

    /// Y = f(X) into `Y`, resized only if its shape differs. Throws as forward() does.
    template <typename D>
    void predict(const Eigen::MatrixBase<D>& X, Matrix& Y) const {
        check_input("::predict", X);
        Y = self().apply(X.derived());
    }

    /// dX = dY ∘ f'(X), elementwise, with f'(X) computed from the Y of the last forward().
    ///
    /// dY is (batch, cols) of the last forward() → dX is (batch, cols). Throws std::logic_error
    /// before the first forward(), std::invalid_argument if dY is not Y's shape.
    template <typename D>
    const Gradients& backward(const Eigen::MatrixBase<D>& dY) {
        detail::require_forward(Y_.size() != 0, Derived::kind, "::backward");
        if (dY.rows() != Y_.rows() || dY.cols() != Y_.cols()) {
            detail::fail(Derived::kind, "::backward", ": dY is ", detail::dims(dY), " but Y of the last forward is ",
                         detail::dims(Y_));
        }
        grads_.dX = dY.array() * self().derivative(Y_);
        return grads_;
    }

    /// What the last backward() returned.
    const Gradients& gradients() const { return grads_; }

    /// The output of the last forward(), (batch, cols); empty before the first.
    const Matrix& output() const { return Y_; }

private:
    const Derived& self() const { return static_cast<const Derived&>(*this); }

    template <typename D>
    void check_input(const char* call, const Eigen::MatrixBase<D>& X) const {
        if (X.size() == 0 || (Cols != Eigen::Dynamic && X.cols() != Cols)) {
            detail::fail(Derived::kind, call, ": X is ", detail::dims(X),
                         " but must be a non-empty batch",
                         Cols == Eigen::Dynamic ? "" : " of width ",
                         Cols == Eigen::Dynamic ? "" : std::to_string(Cols));
        }
    }

    Matrix Y_;  // f(X) of the last forward(): each derivative below is written with it
    Gradients grads_;
};

/// The rectified linear unit, as `torch.nn.ReLU`: y = max(x, 0).
///
/// ReLU'(x) = [x > 0] (1 for x > 0, else 0; PyTorch also takes 0 at x = 0). Since y > 0 exactly
/// when x > 0, the derivative is [y > 0], read from the cached output.
///
/// Derived, with its backward pass: \ref tutorial_activations "Tutorial 7: Activations".
template <typename Scalar, int Cols = Eigen::Dynamic>
class ReLU : public Activation<ReLU<Scalar, Cols>, Scalar, Cols> {
public:
    static constexpr const char* kind = "ReLU";  ///< What files and error messages call it.

    /// y = max(x, 0).
    template <typename D>
    auto apply(const Eigen::MatrixBase<D>& X) const {
        return X.cwiseMax(Scalar(0));
    }

    /// ReLU'(x) = [x > 0] = [y > 0].
    template <typename D>
    auto derivative(const Eigen::MatrixBase<D>& Y) const {
        return (Y.array() > Scalar(0)).template cast<Scalar>();
    }

    /// The same activation in another scalar type (nothing cached).
    template <typename Other>
    ReLU<Other, Cols> cast() const {
        return {};
    }
};

/// The leaky rectified linear unit, as `torch.nn.LeakyReLU(slope)`: y = x for x > 0, else
/// slope·x.
///
/// LeakyReLU'(x) = 1 for x > 0, else slope (PyTorch takes slope at x = 0). With slope ≥ 0, y > 0
/// exactly when x > 0, so the derivative is read from the cached output: 1 where y > 0, else
/// slope.
///
/// Derived, with its backward pass: \ref tutorial_activations "Tutorial 7: Activations".
template <typename Scalar, int Cols = Eigen::Dynamic>
class LeakyReLU : public Activation<LeakyReLU<Scalar, Cols>, Scalar, Cols> {
public:
    static constexpr const char* kind = "LeakyReLU";  ///< What files and error messages call it.

    /// Throws std::invalid_argument unless slope is finite and ≥ 0 (PyTorch's default is 0.01).
    explicit LeakyReLU(Scalar slope = Scalar(0.01)) : slope_(slope) {
        if (!std::isfinite(slope) || slope < 0) {
            detail::fail("LeakyReLU: the slope is ", slope, " but must be finite and >= 0");
        }
    }

    Scalar slope() const { return slope_; }  ///< The slope for x ≤ 0.

    /// f("slope", slope): files record it, so a file loads only into the same activation.
    template <typename F>
    void for_each_setting(F&& f) const {
        f("slope", static_cast<double>(slope_));
    }

    /// y = x for x > 0, else slope·x.
    template <typename D>
    auto apply(const Eigen::MatrixBase<D>& X) const {
        return (X.array() > Scalar(0)).select(X.array(), slope_ * X.array());
    }

    /// LeakyReLU'(x) = 1 where y > 0, else slope.
    template <typename D>
    auto derivative(const Eigen::MatrixBase<D>& Y) const {
        return (Y.array() > Scalar(0)).select(Scalar(1), Y.array().Constant(Y.rows(), Y.cols(), slope_));
    }

    /// The same activation in another scalar type (its slope cast; nothing cached).
    template <typename Other>
    LeakyReLU<Other, Cols> cast() const {
        return LeakyReLU<Other, Cols>(static_cast<Other>(slope_));
    }

private:
    Scalar slope_;
};

/// The logistic sigmoid, as `torch.nn.Sigmoid`: y = σ(x) = 1 / (1 + e⁻ˣ).
///
/// σ'(x) = e⁻ˣ / (1 + e⁻ˣ)² = σ(x)·(1 − σ(x)) = y·(1 − y), from the cached output. For very
/// negative x, e⁻ˣ overflows to +∞ and y = 1/∞ = 0: the limit, not NaN.
///
/// Derived, with its backward pass: \ref tutorial_activations "Tutorial 7: Activations".
template <typename Scalar, int Cols = Eigen::Dynamic>
class Sigmoid : public Activation<Sigmoid<Scalar, Cols>, Scalar, Cols> {
public:
    static constexpr const char* kind = "Sigmoid";  ///< What files and error messages call it.

    /// y = 1 / (1 + e⁻ˣ).
    template <typename D>
    auto apply(const Eigen::MatrixBase<D>& X) const {
        return (Scalar(1) + (-X.array()).exp()).inverse();
    }

    /// σ'(x) = y·(1 − y).
    template <typename D>
    auto derivative(const Eigen::MatrixBase<D>& Y) const {
        return Y.array() * (Scalar(1) - Y.array());
    }

    /// The same activation in another scalar type (nothing cached).
    template <typename Other>
    Sigmoid<Other, Cols> cast() const {
        return {};
    }
};

/// The hyperbolic tangent, as `torch.nn.Tanh`: y = tanh(x) = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ).
///
/// tanh'(x) = 1 − tanh²(x) = 1 − y², from the cached output.
///
/// Derived, with its backward pass: \ref tutorial_activations "Tutorial 7: Activations"; writing
/// it yourself is an exercise with a checker: \ref exercise_tanh_backward "Exercises".
template <typename Scalar, int Cols = Eigen::Dynamic>
class Tanh : public Activation<Tanh<Scalar, Cols>, Scalar, Cols> {
public:
    static constexpr const char* kind = "Tanh";  ///< What files and error messages call it.

    /// y = tanh(x).
    template <typename D>
    auto apply(const Eigen::MatrixBase<D>& X) const {
        return X.array().tanh();
    }

    /// tanh'(x) = 1 − y².
    template <typename D>
    auto derivative(const Eigen::MatrixBase<D>& Y) const {
        return Scalar(1) - Y.array().square();
    }

    /// The same activation in another scalar type (nothing cached).
    template <typename Other>
    Tanh<Other, Cols> cast() const {
        return {};
    }
};

}  // namespace backprop
