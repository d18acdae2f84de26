#pragma once
/// \file
/// Stochastic gradient descent with momentum, classical or Nesterov.

#include "../detail/layer_state.hpp"
#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <type_traits>

namespace backprop {

/// Gradient descent with momentum, as `torch.optim.SGD(params, lr, momentum, nesterov=…)` without
/// dampening or weight decay. For each parameter p with gradient g, and a velocity v that starts
/// at 0:
///
///     v ← μ·v + g
///     p ← p − lr·v              (classical)
///     p ← p − lr·(g + μ·v)      (Nesterov: the step looks ahead along the new velocity)
///
/// The velocity is kept per layer (for W and for b), created at the layer's first step() and
/// found again by the layer's address; later steps do not allocate.
///
/// \tparam Scalar float or double, the Scalar of the layers it steps.
template <typename Scalar>
class Momentum {
    static_assert(std::is_floating_point_v<Scalar>, "Momentum needs a floating-point Scalar");

public:
    /// Throws std::invalid_argument unless lr is finite and positive and momentum is finite and
    /// ≥ 0 (and positive for Nesterov, which PyTorch requires too).
    Momentum(Scalar lr, Scalar momentum, bool nesterov = false)
        : lr_(lr), momentum_(momentum), nesterov_(nesterov) {
        if (!std::isfinite(lr) || lr <= 0) {
            detail::fail("Momentum: the learning rate is ", lr, " but must be finite and positive");
        }
        if (!std::isfinite(momentum) || momentum < 0 || (nesterov && momentum == 0)) {
            detail::fail("Momentum: the momentum is ", momentum, " but must be finite and ",
                         nesterov ? "positive for Nesterov" : ">= 0");
        }
    }

    Scalar lr() const { return lr_; }              ///< The learning rate.
    Scalar momentum() const { return momentum_; }  ///< μ.
    bool nesterov() const { return nesterov_; }    ///< Whether the step is Nesterov's.

    /// One step of `layer` (members W and b) with `grads` (members dW and db, such as
    /// Dense::Gradients): v ← μ·v + g, then p ← p − lr·v (or p − lr·(g + μ·v)), for W and b.
    ///
    /// dW has W's shape, db has b's. Throws std::invalid_argument, changing nothing, if not, or
    /// if the velocity held for this layer has other shapes.
    template <typename Layer, typename Grads>
    void step(Layer& layer, const Grads& grads) {
        auto& state = states_.for_step("Momentum::step", layer, grads);
        ++state.steps;
        update(layer.W, grads.dW, state.W[0]);
        update(layer.b, grads.db, state.b[0]);
    }

    /// Number of layers whose velocity this optimiser holds.
    std::size_t layers() const { return states_.size(); }

private:
    template <typename P, typename G, typename V>
    void update(P& p, const G& g, V& v) const {
        v = momentum_ * v + g;
        if (nesterov_) {
            p -= lr_ * (g + momentum_ * v);
        } else {
            p -= lr_ * v;
        }
    }

    Scalar lr_;
    Scalar momentum_;
    bool nesterov_;
    detail::LayerStates<Scalar, 1> states_;
};

}  // namespace backprop
