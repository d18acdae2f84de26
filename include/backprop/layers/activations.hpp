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
#include <stdexcept>
#include <type_traits>

namespace backprop {

/// What the four activations share: the shape checks and the two owned buffers.
///
/// Shapes: X, Y, dY and dX are all (batch, cols). `Derived` provides `name`, `apply(X)`
/// (the expression for Y) and `derivative(Y)` (the expression for f'(X), written with Y).
/// Returned matrices are owned buffers, valid until the next call of the same function.
///
/// \tparam Scalar float or double.
/// \tparam Cols number of columns, or Eigen::Dynamic; fix it to match a fixed-size Dense layer's
///         `Out` so that the whole network has fixed-width types.
template <typename Derived, typename Scalar, int Cols>
class Activation {
    static_assert(std::is_floating_point_v<Scalar>, "an activation needs a floating-point Scalar");

public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Cols>;  ///< X, Y, dY, dX: (batch, cols)

    /// Y = f(X), elementwise.
    ///
    /// X is (batch, cols) → Y is (batch, cols). Keeps Y for backward().
    /// Throws std::invalid_argument if X is empty or its width differs from a fixed Cols.
    template <typename D>
    const Matrix& forward(const Eigen::MatrixBase<D>& X) {
        if (X.size() == 0 || (Cols != Eigen::Dynamic && X.cols() != Cols)) {
            detail::fail(Derived::name, "::forward: X is ", detail::dims(X),
                         " but must be a non-empty batch",
                         Cols == Eigen::Dynamic ? "" : " of width ",
                         Cols == Eigen::Dynamic ? "" : std::to_string(Cols));
        }
        Y_ = self().apply(X.derived());
        return Y_;
    }

    /// dX = dY ∘ f'(X), elementwise, with f'(X) computed from the Y of the last forward().
    ///
    /// dY is (batch, cols) of the last forward() → dX is (batch, cols). Throws std::logic_error
    /// before the first forward(), std::invalid_argument if dY is not Y's shape.
    template <typename D>
    const Matrix& backward(const Eigen::MatrixBase<D>& dY) {
        if (Y_.size() == 0) {
            throw std::logic_error(std::string(Derived::name) + "::backward: called before forward()");
        }
        if (dY.rows() != Y_.rows() || dY.cols() != Y_.cols()) {
            detail::fail(Derived::name, "::backward: dY is ", detail::dims(dY),
                         " but Y of the last forward is ", detail::dims(Y_));
        }
        dX_ = dY.array() * self().derivative(Y_);
        return dX_;
    }

    /// The output of the last forward(), (batch, cols); empty before the first.
    const Matrix& output() const { return Y_; }

private:
    const Derived& self() const { return static_cast<const Derived&>(*this); }

    Matrix Y_;  // f(X) of the last forward(): each derivative below is written with it
    Matrix dX_;
};

/// The rectified linear unit, as `torch.nn.ReLU`: y = max(x, 0).
///
/// ReLU'(x) = [x > 0] (1 for x > 0, else 0; PyTorch also takes 0 at x = 0). Since y > 0 exactly
/// when x > 0, the derivative is [y > 0], read from the cached output.
template <typename Scalar, int Cols = Eigen::Dynamic>
class ReLU : public Activation<ReLU<Scalar, Cols>, Scalar, Cols> {
public:
    static constexpr const char* name = "ReLU";  ///< What error messages start with.

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
template <typename Scalar, int Cols = Eigen::Dynamic>
class LeakyReLU : public Activation<LeakyReLU<Scalar, Cols>, Scalar, Cols> {
public:
    static constexpr const char* name = "LeakyReLU";  ///< What error messages start with.

    /// Throws std::invalid_argument unless slope is finite and ≥ 0 (PyTorch's default is 0.01).
    explicit LeakyReLU(Scalar slope = Scalar(0.01)) : slope_(slope) {
        if (!std::isfinite(slope) || slope < 0) {
            detail::fail("LeakyReLU: the slope is ", slope, " but must be finite and >= 0");
        }
    }

    Scalar slope() const { return slope_; }  ///< The slope for x ≤ 0.

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
template <typename Scalar, int Cols = Eigen::Dynamic>
class Sigmoid : public Activation<Sigmoid<Scalar, Cols>, Scalar, Cols> {
public:
    static constexpr const char* name = "Sigmoid";  ///< What error messages start with.

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
template <typename Scalar, int Cols = Eigen::Dynamic>
class Tanh : public Activation<Tanh<Scalar, Cols>, Scalar, Cols> {
public:
    static constexpr const char* name = "Tanh";  ///< What error messages start with.

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

/// An activation has no parameters: for_each_parameter() calls nothing. (Dense's overload, which
/// visits W then b, lives with the file format in io/.)
template <typename Derived, typename Scalar, int Cols, typename F>
void for_each_parameter(const Activation<Derived, Scalar, Cols>& /*activation*/, F&& /*f*/) {}

}  // namespace backprop
