#pragma once
/// \file
/// Elementwise activations: ReLU, LeakyReLU, Sigmoid, Tanh and GELU, each with its hand-written
/// backward pass.
///
/// An activation applies a function f of one number to every element: Y = f(X), Y[n][j] =
/// f(X[n][j]). Each output depends only on the input at the same place, so the chain rule has a
/// single term per element:
///
///     dX[n][j] = dY[n][j] · f'(X[n][j])        (dX = dY ∘ f'(X), an elementwise product)
///
/// For ReLU, LeakyReLU, Sigmoid and Tanh f' can be written with the output y = f(x) alone, so
/// forward() keeps Y, which it returns anyway, and nothing else. GELU's f' cannot (y = x·Φ(x) does
/// not give x back cheaply), so GELU keeps X as well: it sets `derivative_of_input`.

#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <cmath>
#include <string>
#include <type_traits>

namespace backprop {

/// What the activations share: the shape checks, the owned buffers, and inference.
///
/// Shapes: X, Y, dY and dX are all (batch, cols). `Derived` provides `kind` (its name),
/// `apply(X)` (the expression for Y) and `derivative(Y)` (the expression for f'(X), written with
/// Y). An activation whose f' needs x instead sets `derivative_of_input` (forward() then keeps X
/// and derivative() is given X); one whose f has several forms chosen at run time (GELU) hides
/// evaluate() and chain() instead of providing apply() and derivative(), so that each form stays
/// one vectorised expression. Returned matrices are owned buffers, valid until the next call of
/// the same function.
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

    /// Whether f' is written with X (forward() then keeps X too) rather than with Y. False here;
    /// an activation whose derivative needs x (GELU) hides it with true.
    static constexpr bool derivative_of_input = false;

    /// Y = f(X) into Y, elementwise: what forward() and predict() compute, here Y = apply(X).
    /// X (batch, cols) → Y (batch, cols); no checks (the public calls make them).
    template <typename D>
    void evaluate(const Eigen::MatrixBase<D>& X, Matrix& Y) const {
        Y = self().apply(X.derived());
    }

    /// dX = dY ∘ f'(A), elementwise, A the X or Y that forward() kept (derivative_of_input):
    /// what backward() computes, here with derivative(A). All are (batch, cols); no checks.
    template <typename D>
    void chain(const Eigen::MatrixBase<D>& dY, const Matrix& A, Matrix& dX) const {
        dX = dY.array() * self().derivative(A);
    }

    /// Y = f(X), elementwise.
    ///
    /// X is (batch, cols) → Y is (batch, cols). Keeps Y (and X, for an activation whose
    /// derivative needs it) for backward().
    /// Throws std::invalid_argument if X is empty or its width differs from a fixed Cols.
    template <typename D>
    const Matrix& forward(const Eigen::MatrixBase<D>& X) {
        check_input("::forward", X);
        if constexpr (Derived::derivative_of_input) {
            X_ = X;
            self().evaluate(X_, Y_);
        } else {
            self().evaluate(X, Y_);
        }
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
        self().evaluate(X, Y);
    }

    /// dX = dY ∘ f'(X), elementwise, with f'(X) computed from the Y (or X) of the last
    /// forward().
    ///
    /// dY is (batch, cols) of the last forward() → dX is (batch, cols). Throws std::logic_error
    /// before the first forward(), std::invalid_argument if dY is not Y's shape.
    template <typename D>
    const Gradients& backward(const Eigen::MatrixBase<D>& dY) {
        detail::require_forward(Y_.size() != 0, Derived::kind, "::backward");
        if (dY.rows() != Y_.rows() || dY.cols() != Y_.cols()) {
            detail::fail(Derived::kind, "::backward", ": dY is ", detail::dims(dY),
                         " but Y of the last forward is ", detail::dims(Y_));
        }
        self().chain(dY, Derived::derivative_of_input ? X_ : Y_, grads_.dX);
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

    Matrix Y_;  // f(X) of the last forward(): each derivative below but GELU's is written with it
    Matrix X_;  // the X of the last forward(), kept only if derivative_of_input (GELU)
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
        return (Y.array() > Scalar(0))
            .select(Scalar(1), Y.array().Constant(Y.rows(), Y.cols(), slope_));
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

/// Which form of GELU to compute, as torch.nn.GELU's `approximate` argument.
enum class GeluApproximation {
    none,  ///< The exact form x·Φ(x), with the error function (torch's approximate='none').
    tanh   ///< The tanh approximation GPT-2 uses (torch's approximate='tanh').
};

/// The Gaussian error linear unit, as `torch.nn.GELU(approximate=...)`: y = x·Φ(x), where
/// Φ(x) = P(Z ≤ x) for a standard normal Z, the chance that the input is kept.
///
/// The exact form (GeluApproximation::none) and its derivative, with Φ(x) = ½(1 + erf(x/√2)) and
/// erf'(z) = (2/√π)·e^(−z²), so Φ'(x) = e^(−x²/2)/√(2π) = φ(x), the normal density:
///
///     y  = ½·x·(1 + erf(x/√2))
///     y' = Φ(x) + x·φ(x)                         (product rule)
///
/// Φ is computed as ½·erfc(−x/√2), which is the same number but keeps its relative precision for
/// very negative x (1 + erf(x/√2) cancels to 0 below x ≈ −8.3 in double).
///
/// The tanh form (GeluApproximation::tanh, the default, GPT-2's), with k = √(2/π), a = 0.044715,
/// u = k·(x + a·x³) and t = tanh(u):
///
///     y  = ½·x·(1 + t)
///     y' = ½·(1 + t) + ½·x·dt/dx,   dt/dx = (1 − t²)·du/dx = (1 − t²)·k·(1 + 3a·x²)
///        = ½·(1 + t) + ½·x·(1 − t²)·k·(1 + 3a·x²)
///
/// For large |x| both tend to ReLU's: y → max(x, 0), y' → [x > 0] (t = ±1 exactly once |u| is
/// past about 19 in double, 9 in float, and then y' is exactly 0 or 1).
///
/// Neither derivative can be written with y alone, so forward() keeps X (derivative_of_input).
/// Each form is one Eigen expression, the form chosen once per call: the tanh form vectorised,
/// the exact one with std::erfc per element (Eigen's core module has no erf).
///
/// \tparam Scalar float or double.
/// \tparam Cols number of columns, or Eigen::Dynamic.
template <typename Scalar, int Cols = Eigen::Dynamic>
class GELU : public Activation<GELU<Scalar, Cols>, Scalar, Cols> {
    using Base = Activation<GELU<Scalar, Cols>, Scalar, Cols>;

public:
    using typename Base::Matrix;

    static constexpr const char* kind = "GELU";  ///< What files and error messages call it.

    /// f' is written with x: forward() keeps X.
    static constexpr bool derivative_of_input = true;

    /// GELU in the given form; GPT-2's tanh approximation by default.
    explicit GELU(GeluApproximation approximation = GeluApproximation::tanh)
        : approximation_(approximation) {}

    /// Which form this GELU computes.
    GeluApproximation approximation() const { return approximation_; }

    /// f("tanh", 1 or 0): files record the form, so a file loads only into the same one.
    template <typename F>
    void for_each_setting(F&& f) const {
        f("tanh", approximation_ == GeluApproximation::tanh ? 1.0 : 0.0);
    }

    /// Y = ½·X∘(1 + tanh(k·(X + a·X³))) or X∘Φ(X), elementwise, by the form.
    /// X (batch, cols) → Y (batch, cols). Y may be X.
    template <typename D>
    void evaluate(const Eigen::MatrixBase<D>& X, Matrix& Y) const {
        const auto x = X.array();
        if (approximation_ == GeluApproximation::tanh) {
            Y = (half * x * (one + (k * (x + a * x.cube())).tanh())).matrix();
        } else {
            Y = (x * normal_cdf(x)).matrix();
        }
    }

    /// dX = dY ∘ GELU'(X), elementwise, by the form (the class comment derives both).
    /// dY, X, dX are (batch, cols); dX must be none of the others. The tanh form first stores
    /// t = tanh(u) in dX, so that each element's tanh is computed once.
    template <typename D>
    void chain(const Eigen::MatrixBase<D>& dY, const Matrix& X, Matrix& dX) const {
        const auto x = X.array();
        if (approximation_ == GeluApproximation::tanh) {
            dX = (k * (x + a * x.cube())).tanh().matrix();  // t
            const auto t = dX.array();
            // y' = ½·(1 + t) + ½·x·(1 − t²)·k·(1 + 3a·x²)
            dX = (dY.array() * (half * (one + t) + half * x * (one - t.square()) * k *
                                                       (one + Scalar(3) * a * x.square())))
                     .matrix();
        } else {
            // y' = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π)
            const Scalar inv_sqrt_2pi = Scalar(0.398942280401432677939946059934381868L);
            dX = (dY.array() *
                  (normal_cdf(x) + x * inv_sqrt_2pi * (-half * x.square()).exp()))
                     .matrix();
        }
    }

    /// The same activation in another scalar type, in the same form (nothing cached).
    template <typename Other>
    GELU<Other, Cols> cast() const {
        return GELU<Other, Cols>(approximation_);
    }

private:
    // Φ(x) = ½·erfc(−x/√2), elementwise (Eigen's core module has no erf: std::erfc per element).
    template <typename A>
    static auto normal_cdf(const A& x) {
        const Scalar inv_sqrt2 = Scalar(0.707106781186547524400844362104849039L);
        return half * (-inv_sqrt2 * x).unaryExpr([](Scalar v) { return std::erfc(v); });
    }

    static constexpr Scalar half = Scalar(0.5);
    static constexpr Scalar one = Scalar(1);
    static constexpr Scalar k = Scalar(0.797884560802865355879892119868763737L);  // √(2/π)
    static constexpr Scalar a = Scalar(0.044715);

    GeluApproximation approximation_;
};

}  // namespace backprop
