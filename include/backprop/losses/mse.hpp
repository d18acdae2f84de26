#pragma once
/// \file
/// The mean squared error loss and its gradient.

#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <stdexcept>
#include <string>
#include <type_traits>

namespace backprop {

/// Mean squared error over all N elements, as PyTorch's `MSELoss()` (reduction 'mean'):
///   L = (1/N)·Σ (pred − target)²
///
/// Shapes: pred and target are the same, typically (batch, out); N = batch·out.
/// forward() keeps pred − target, which is what backward() needs.
/// The derivation, and the seed notebook's mismatch: \ref tutorial_loss "Tutorial 3: The loss".
///
/// \tparam Scalar float or double.
/// \tparam Cols number of columns of pred, or Eigen::Dynamic; fix it to match a fixed-size
///         Dense layer's `Out` so that the gradient has the same fixed-size type.
template <typename Scalar, int Cols = Eigen::Dynamic>
class MSE {
    static_assert(std::is_floating_point_v<Scalar>, "MSE needs a floating-point Scalar");

public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Cols>;  ///< pred, target, dpred

    /// L = (1/N)·Σ (pred − target)².
    ///
    /// pred and target are (batch, cols) → a scalar. Keeps pred − target for backward(). The sum
    /// is taken in double whatever Scalar is, so a float loss over millions of elements keeps
    /// float's precision. Throws std::invalid_argument if they are empty, differ in shape, or
    /// their width differs from a fixed Cols.
    template <typename P, typename T>
    Scalar forward(const Eigen::MatrixBase<P>& pred, const Eigen::MatrixBase<T>& target) {
        check("MSE::forward", pred, target);
        diff_ = pred - target;
        return mean_square(diff_);
    }

    /// L as forward() computes it, keeping nothing: backward() still sees the last forward().
    /// Thread-safe on one loss. Throws as forward() does.
    template <typename P, typename T>
    Scalar value(const Eigen::MatrixBase<P>& pred, const Eigen::MatrixBase<T>& target) const {
        check("MSE::value", pred, target);
        return mean_square(pred - target);
    }

    /// dpred = ∂L/∂pred = 2·(pred − target)/N.
    ///
    /// Returns (batch, cols), the shape of pred. In the forward pass every element contributed
    /// (pred − target)²/N, whose derivative is 2·(pred − target)/N. (The seed notebook's loss is
    /// Σ(…)²/(2n), whose derivative is (…)/n, but its gradient is 2·(…)/n: twice too large.
    /// Here both are PyTorch's.)
    /// Throws std::logic_error before the first forward().
    const Matrix& backward() {
        detail::require_forward(diff_.size() != 0, "MSE::backward");
        dpred_.noalias() = (Scalar(2) / static_cast<Scalar>(diff_.size())) * diff_;
        return dpred_;
    }

private:
    template <typename P, typename T>
    static void check(const char* call, const Eigen::MatrixBase<P>& pred,
                      const Eigen::MatrixBase<T>& target) {
        if (pred.size() == 0 || (Cols != Eigen::Dynamic && pred.cols() != Cols)) {
            detail::fail(call, ": pred is ", detail::dims(pred), " but must be a non-empty batch",
                         Cols == Eigen::Dynamic ? "" : " of width ",
                         Cols == Eigen::Dynamic ? "" : std::to_string(Cols));
        }
        detail::require_same_shape(call, "pred", pred, "target", target);
    }

    // (1/N)·Σ diff², summed in double.
    template <typename D>
    static Scalar mean_square(const Eigen::MatrixBase<D>& diff) {
        const double sum = diff.template cast<double>().squaredNorm();
        return static_cast<Scalar>(sum / static_cast<double>(diff.size()));
    }

    Matrix diff_;   // pred − target of the last forward()
    Matrix dpred_;
};

}  // namespace backprop
