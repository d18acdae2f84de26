#pragma once
/// \file
/// The mean squared error loss and its gradient.

#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <stdexcept>
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
    /// pred and target are (batch, cols) → a scalar. Throws std::invalid_argument if they are
    /// empty or differ in shape.
    template <typename P, typename T>
    Scalar forward(const Eigen::MatrixBase<P>& pred, const Eigen::MatrixBase<T>& target) {
        if (pred.size() == 0) {
            detail::fail("MSE::forward: pred is ", detail::dims(pred), ", an empty batch");
        }
        detail::require_same_shape("MSE::forward", "pred", pred, "target", target);
        diff_ = pred - target;
        return diff_.squaredNorm() / static_cast<Scalar>(diff_.size());
    }

    /// dpred = ∂L/∂pred = 2·(pred − target)/N.
    ///
    /// Returns (batch, cols), the shape of pred. In the forward pass every element contributed
    /// (pred − target)²/N, whose derivative is 2·(pred − target)/N. (The seed notebook's loss is
    /// Σ(…)²/(2n), whose derivative is (…)/n, but its gradient is 2·(…)/n: twice too large.
    /// Here both are PyTorch's.)
    /// Throws std::logic_error before the first forward().
    const Matrix& backward() {
        if (diff_.size() == 0) {
            throw std::logic_error("MSE::backward: called before forward()");
        }
        dpred_.noalias() = (Scalar(2) / static_cast<Scalar>(diff_.size())) * diff_;
        return dpred_;
    }

private:
    Matrix diff_;   // pred − target of the last forward()
    Matrix dpred_;
};

}  // namespace backprop
