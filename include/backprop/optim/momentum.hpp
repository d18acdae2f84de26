#pragma once
/// \file
/// Stochastic gradient descent with momentum, classical or Nesterov, with optional L2 weight
/// decay.

#include "../detail/shape.hpp"
#include "optimizer.hpp"

#include <cmath>

namespace backprop {

/// Gradient descent with momentum, as `torch.optim.SGD(params, lr, momentum, nesterov=…,
/// weight_decay=wd)` without dampening. For each parameter p with gradient g, and a velocity v
/// that starts at 0:
///
///     g ← g + wd·p              (L2 weight decay; wd = 0 by default)
///     v ← μ·v + g
///     p ← p − lr·v              (classical)
///     p ← p − lr·(g + μ·v)      (Nesterov: the step looks ahead along the new velocity)
///
/// The velocity lives beside each parameter in its layer (OptimizerState::moment1), created at
/// the parameter's first step; later steps do not allocate.
///
/// Derived, and checked against PyTorch: \ref tutorial_optimisers "Tutorial 9: Optimisers that remember".
///
/// \tparam Scalar float or double, the Scalar of the models it steps.
template <typename Scalar>
class Momentum : public Optimizer<Momentum<Scalar>, Scalar> {
public:
    static constexpr const char* name = "Momentum";  ///< What error messages start with.
    static constexpr int moments = 1;                ///< The velocity v.

    /// Throws std::invalid_argument unless lr is finite and positive, momentum is finite and
    /// ≥ 0 (and positive for Nesterov, which PyTorch requires too), and weight_decay is finite
    /// and ≥ 0.
    Momentum(Scalar lr, Scalar momentum, bool nesterov = false, Scalar weight_decay = 0)
        : Optimizer<Momentum<Scalar>, Scalar>(lr),
          momentum_(momentum),
          nesterov_(nesterov),
          weight_decay_(weight_decay) {
        if (!std::isfinite(momentum) || momentum < 0 || (nesterov && momentum == 0)) {
            detail::fail("Momentum: the momentum is ", momentum, " but must be finite and ",
                         nesterov ? "positive for Nesterov" : ">= 0");
        }
        if (!std::isfinite(weight_decay) || weight_decay < 0) {
            detail::fail("Momentum: the weight decay is ", weight_decay,
                         " but must be finite and >= 0");
        }
    }

    Scalar momentum() const { return momentum_; }          ///< μ.
    bool nesterov() const { return nesterov_; }            ///< Whether the step is Nesterov's.
    Scalar weight_decay() const { return weight_decay_; }  ///< wd.

    /// What its states record: classical and Nesterov velocities are not interchangeable.
    OptimizerKind kind() const {
        return nesterov_ ? OptimizerKind::nesterov : OptimizerKind::momentum;
    }

    /// f(name, value) for each hyper-parameter: "lr", "momentum", "nesterov" (0 or 1),
    /// "weight_decay" (what checkpoints record).
    template <typename F>
    void for_each_setting(F&& f) const {
        f("lr", static_cast<double>(this->lr()));
        f("momentum", static_cast<double>(momentum_));
        f("nesterov", nesterov_ ? 1.0 : 0.0);
        f("weight_decay", static_cast<double>(weight_decay_));
    }

    /// v ← μ·v + g, then p ← p − lr·v (or p − lr·(g + μ·v)), for one parameter whose velocity
    /// exists; with weight decay, g + wd·p in place of g.
    template <typename P>
    void update(P& parameter) const {
        if (weight_decay_ == 0) {
            apply(parameter, parameter.gradient);
        } else {
            apply(parameter, parameter.gradient + weight_decay_ * parameter.value);
        }
    }

private:
    template <typename P, typename G>
    void apply(P& parameter, const G& g) const {
        auto& v = parameter.state.moment1;
        const Scalar lr = this->lr();
        v = momentum_ * v + g;
        if (nesterov_) {
            parameter.value -= lr * (g + momentum_ * v);
        } else {
            parameter.value -= lr * v;
        }
    }

    Scalar momentum_;
    bool nesterov_;
    Scalar weight_decay_;
};

}  // namespace backprop
