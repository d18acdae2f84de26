#pragma once
/// \file
/// Plain stochastic gradient descent.

#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <cmath>
#include <type_traits>

namespace backprop {

/// Plain gradient descent, as `torch.optim.SGD(params, lr)` without momentum or weight decay:
///   W ← W − lr·dW,   b ← b − lr·db
///
/// The training loop it drives: \ref tutorial_training "Tutorial 5: Training".
///
/// \tparam Scalar float or double, the Scalar of the layers it steps.
template <typename Scalar>
class SGD {
    static_assert(std::is_floating_point_v<Scalar>, "SGD needs a floating-point Scalar");

public:
    /// Throws std::invalid_argument unless lr is finite and positive.
    explicit SGD(Scalar lr) : lr_(lr) {
        if (!std::isfinite(lr) || lr <= 0) {
            detail::fail("SGD: the learning rate is ", lr, " but must be finite and positive");
        }
    }

    Scalar lr() const { return lr_; }  ///< The learning rate.

    /// W ← W − lr·dW and b ← b − lr·db, for any layer with members W and b and gradients
    /// with members dW and db (such as Dense and Dense::Gradients).
    ///
    /// dW has W's shape, db has b's. Throws std::invalid_argument, changing nothing, if not.
    template <typename Layer, typename Grads>
    void step(Layer& layer, const Grads& grads) const {
        detail::require_same_shape("SGD::step", "dW", grads.dW, "W", layer.W);
        detail::require_same_shape("SGD::step", "db", grads.db, "b", layer.b);
        layer.W -= lr_ * grads.dW;
        layer.b -= lr_ * grads.db;
    }

private:
    Scalar lr_;
};

}  // namespace backprop
