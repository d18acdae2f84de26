#pragma once
/// \file
/// Gradient checks: a hand-written backward() against finite differences of the loss.

#include "../detail/random.hpp"
#include "../detail/shape.hpp"
#include "../layers/activations.hpp"
#include "../layers/dense.hpp"
#include "../losses/mse.hpp"
#include "../losses/softmax_cross_entropy.hpp"
#include "numeric.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace backprop {

/// How far an analytic gradient is from the numeric one.
struct GradientError {
    /// The largest |a − n| / max(|a|, |n|) over the elements (0 where both are 0).
    /// Below about 1e-7 in double the gradient is right; above 1e-2 it is wrong.
    double max_relative_error = 0;
    double max_abs_analytic = 0;  ///< The largest |a|.
    double max_abs_numeric = 0;   ///< The largest |n|.
    double max_abs_difference = 0;  ///< The largest |a − n|.
    Eigen::Index row = 0;         ///< The row of the largest relative error.
    Eigen::Index col = 0;         ///< The column of the largest relative error.

    /// True when the relative error is at most `tolerance` and the gradients are not both
    /// zero: two zero gradients agree trivially and prove nothing.
    bool passes(double tolerance) const {
        return max_relative_error <= tolerance && (max_abs_analytic > 0 || max_abs_numeric > 0);
    }

    /// True when every |a − n| is at most `tolerance` times the largest |a| or |n| of the whole
    /// tensor, and the gradients are not both zero. For a tensor with elements whose gradient is
    /// 0 up to rounding (attention's key bias: the softmax ignores a constant added to a row),
    /// where such an element's own relative error compares two rounding errors.
    bool passes_scaled(double tolerance) const {
        const double scale = std::max(max_abs_analytic, max_abs_numeric);
        return scale > 0 && max_abs_difference <= tolerance * scale;
    }
};

/// Compares `analytic` with the central-difference gradient of `loss` at x.
///
/// x and analytic are (r, c); loss takes a (r, c) double matrix and returns a double. Each
/// element of x is moved by ±h in turn: ∂L/∂x[i][j] ≈ (L(x + h·eᵢⱼ) − L(x − h·eᵢⱼ)) / 2h.
/// Throws std::invalid_argument if the shapes differ or h is not finite and positive.
template <typename F>
GradientError check_gradient(F&& loss, Eigen::MatrixXd x, const Eigen::MatrixXd& analytic,
                             double h = 1e-5) {
    detail::require_same_shape("check_gradient", "analytic", analytic, "x", x);
    detail::require_step("check_gradient", h);
    GradientError error;
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        for (Eigen::Index j = 0; j < x.cols(); ++j) {
            const double xij = x(i, j);
            x(i, j) = xij + h;
            const double loss_plus = loss(x);
            x(i, j) = xij - h;
            const double loss_minus = loss(x);
            x(i, j) = xij;

            const double a = analytic(i, j);
            const double n = (loss_plus - loss_minus) / (2 * h);
            const double scale = std::max(std::abs(a), std::abs(n));
            const double relative = scale > 0 ? std::abs(a - n) / scale : 0.0;
            if (relative > error.max_relative_error) {
                error.max_relative_error = relative;
                error.row = i;
                error.col = j;
            }
            error.max_abs_analytic = std::max(error.max_abs_analytic, std::abs(a));
            error.max_abs_numeric = std::max(error.max_abs_numeric, std::abs(n));
            error.max_abs_difference = std::max(error.max_abs_difference, std::abs(a - n));
        }
    }
    return error;
}

/// The result of gradient_check() on a Dense layer: one GradientError per gradient.
struct DenseGradientError {
    GradientError dW;  ///< The check of dW = Xᵀ·dZ: (in, out).
    GradientError db;  ///< The check of db = Σ_rows dZ: (1, out).
    GradientError dX;  ///< The check of dX = dZ·Wᵀ: (batch, in).

    /// The largest relative error of the three.
    double max_relative_error() const {
        return std::max({dW.max_relative_error, db.max_relative_error, dX.max_relative_error});
    }

    /// True when all three pass (see GradientError::passes).
    bool passes(double tolerance) const {
        return dW.passes(tolerance) && db.passes(tolerance) && dX.passes(tolerance);
    }
};

/// Checks Dense::backward at input X against finite differences, in double.
///
/// X is (batch, in). The loss is L = Σ G∘Z, a fixed random weighting of the outputs
/// (G uniform in [−1, 1) from `seed`), so that dZ = G and every output matters. The analytic
/// gradients come from a copy of `layer` in its own Scalar; the numeric ones from the layer cast
/// to double. The layer itself is not changed.
template <typename Scalar, int In, int Out, typename Derived>
DenseGradientError gradient_check(const Dense<Scalar, In, Out>& layer,
                                  const Eigen::MatrixBase<Derived>& X, std::uint64_t seed = 1) {
    Dense<Scalar, In, Out> probe = layer;
    const auto& Z = probe.forward(X);
    typename Dense<Scalar, In, Out>::Output G(Z.rows(), Z.cols());
    detail::SplitMix64 rng(seed);
    detail::fill_uniform(G, rng, Scalar(-1), Scalar(1));
    const auto& grads = probe.backward(G);

    const Dense<double, In, Out> reference = layer.template cast<double>();
    const Eigen::MatrixXd Xd = X.template cast<double>();
    const Eigen::MatrixXd Gd = G.template cast<double>();
    auto weighted_sum = [&](const Dense<double, In, Out>& d, const Eigen::MatrixXd& input) {
        Dense<double, In, Out> copy = d;
        return (copy.forward(input).array() * Gd.array()).sum();
    };

    DenseGradientError error;
    error.dW = check_gradient(
        [&](const Eigen::MatrixXd& W) {
            Dense<double, In, Out> d = reference;
            d.W = W;
            return weighted_sum(d, Xd);
        },
        reference.W, grads.dW.template cast<double>());
    error.db = check_gradient(
        [&](const Eigen::MatrixXd& b) {
            Dense<double, In, Out> d = reference;
            d.b = b;
            return weighted_sum(d, Xd);
        },
        reference.b, grads.db.template cast<double>());
    error.dX = check_gradient([&](const Eigen::MatrixXd& input) { return weighted_sum(reference, input); },
                              Xd, grads.dX.template cast<double>());
    return error;
}

/// Checks MSE::backward at (pred, target) against finite differences, in double.
///
/// pred and target are (batch, cols). The analytic gradient comes from a copy of `loss` in its
/// own Scalar; the numeric one from MSE<double>.
template <typename Scalar, int Cols, typename P, typename T>
GradientError gradient_check(const MSE<Scalar, Cols>& loss, const Eigen::MatrixBase<P>& pred,
                             const Eigen::MatrixBase<T>& target) {
    MSE<Scalar, Cols> probe = loss;
    probe.forward(pred, target);
    const Eigen::MatrixXd dpred = probe.backward().template cast<double>();

    const Eigen::MatrixXd target_d = target.template cast<double>();
    return check_gradient(
        [&](const Eigen::MatrixXd& p) { return MSE<double>().forward(p, target_d); },
        pred.template cast<double>(), dpred);
}

/// Checks an activation's backward (ReLU, LeakyReLU, Sigmoid, Tanh, GELU) at input X against
/// finite differences, in double.
///
/// X is (batch, cols). The loss is L = Σ G∘Y, a fixed random weighting of the outputs (G uniform
/// in [−1, 1) from `seed`), so that dY = G. The analytic gradient comes from a copy of the
/// activation in its own Scalar; the numeric one from the activation cast to double. Keep X away
/// from a kink (x = 0 for the ReLUs) by more than the step 1e-5.
template <typename Derived, typename Scalar, int Cols, typename X>
GradientError gradient_check(const Activation<Derived, Scalar, Cols>& activation,
                             const Eigen::MatrixBase<X>& input, std::uint64_t seed = 1) {
    Derived probe = static_cast<const Derived&>(activation);
    const auto& Y = probe.forward(input);
    typename Derived::Matrix G(Y.rows(), Y.cols());
    detail::SplitMix64 rng(seed);
    detail::fill_uniform(G, rng, Scalar(-1), Scalar(1));
    const Eigen::MatrixXd dX = probe.backward(G).dX.template cast<double>();

    auto reference = static_cast<const Derived&>(activation).template cast<double>();
    const Eigen::MatrixXd Gd = G.template cast<double>();
    return check_gradient(
        [&](const Eigen::MatrixXd& x) { return (reference.forward(x).array() * Gd.array()).sum(); },
        input.template cast<double>(), dX);
}

/// Checks SoftmaxCrossEntropy::backward at (logits, labels) against finite differences, in
/// double.
///
/// logits are (batch, classes), labels `batch` integers. The analytic gradient comes from a copy
/// of `loss` in its own Scalar; the numeric one from SoftmaxCrossEntropy<double>.
template <typename Scalar, int Cols, typename D, typename L>
GradientError gradient_check(const SoftmaxCrossEntropy<Scalar, Cols>& loss,
                             const Eigen::MatrixBase<D>& logits, const Eigen::MatrixBase<L>& labels) {
    SoftmaxCrossEntropy<Scalar, Cols> probe = loss;
    probe.forward(logits, labels);
    const Eigen::MatrixXd dlogits = probe.backward().template cast<double>();

    SoftmaxCrossEntropy<double> reference;
    return check_gradient([&](const Eigen::MatrixXd& z) { return reference.forward(z, labels); },
                          logits.template cast<double>(), dlogits);
}

}  // namespace backprop
