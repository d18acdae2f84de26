#pragma once
/// \file
/// Derivatives by finite differences: the reference every hand-written gradient is checked against.

#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <cmath>
#include <limits>
#include <type_traits>

namespace backprop {

/// Which finite difference numeric_derivative() takes.
enum class Difference {
    /// (f(x+h) − f(x−h)) / 2h: its error shrinks as h² (the default).
    central,
    /// (f(x+h) − f(x)) / h: the textbook definition used by the seed notebook; its error
    /// shrinks only as h.
    forward,
};

/// A step that balances the truncation error of a central difference (∝ h²) against rounding
/// (∝ ε/h): ε^(1/3), about 6e-6 in double and 5e-3 in float.
template <typename Scalar>
Scalar default_step() {
    return std::cbrt(std::numeric_limits<Scalar>::epsilon());
}

namespace detail {
template <typename Scalar>
void require_step(const char* call, Scalar h) {
    if (!std::isfinite(h) || h <= 0) {
        fail(call, ": the step h is ", h, " but must be finite and positive");
    }
}
}  // namespace detail

/// f'(x) for f : R → R, by a finite difference with step h.
///
///     central: f'(x) ≈ (f(x+h) − f(x−h)) / 2h
///     forward: f'(x) ≈ (f(x+h) − f(x)) / h
///
/// How their errors shrink with h: \ref tutorial_derivatives "Tutorial 1: Derivatives".
///
/// Throws std::invalid_argument unless h is finite and positive.
template <typename F, typename Scalar>
Scalar numeric_derivative(F&& f, Scalar x, Scalar h = default_step<Scalar>(),
                          Difference difference = Difference::central) {
    static_assert(std::is_floating_point_v<Scalar>, "numeric_derivative needs float or double");
    detail::require_step("numeric_derivative", h);
    if (difference == Difference::forward) {
        return (f(x + h) - f(x)) / h;
    }
    return (f(x + h) - f(x - h)) / (2 * h);
}

/// The Jacobian J of f : Rⁿ → Rᵐ at x, by central differences: J[i][j] = ∂fᵢ/∂xⱼ.
///
/// x is (n, 1) → J is (m, n), m the size of f(x); column j is (f(x + h·eⱼ) − f(x − h·eⱼ)) / 2h.
/// f takes an Eigen column vector and returns one. Throws std::invalid_argument if x is not a
/// non-empty column vector, h is not finite and positive, or f's output changes size.
template <typename F, typename Derived>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic>
numeric_jacobian(F&& f, const Eigen::MatrixBase<Derived>& x,
                 typename Derived::Scalar h = default_step<typename Derived::Scalar>()) {
    using Scalar = typename Derived::Scalar;
    using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
    if (x.cols() != 1 || x.rows() == 0) {
        detail::fail("numeric_jacobian: x is ", detail::dims(x),
                     " but must be a non-empty column vector");
    }
    detail::require_step("numeric_jacobian", h);

    Vector point = x;
    const Eigen::Index m = Vector(f(point)).size();
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> J(m, point.size());
    for (Eigen::Index j = 0; j < point.size(); ++j) {
        const Scalar xj = point(j);
        point(j) = xj + h;
        const Vector f_plus = f(point);
        point(j) = xj - h;
        const Vector f_minus = f(point);
        point(j) = xj;
        if (f_plus.size() != m || f_minus.size() != m) {
            detail::fail("numeric_jacobian: f(x) has ", m, " elements but f(x ± h·e", j,
                         ") has ", f_plus.size(), " and ", f_minus.size());
        }
        J.col(j) = (f_plus - f_minus) / (2 * h);
    }
    return J;
}

}  // namespace backprop
