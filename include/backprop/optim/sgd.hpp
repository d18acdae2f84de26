#pragma once
/// \file
/// Plain stochastic gradient descent, with optional L2 weight decay.

#include "../detail/shape.hpp"
#include "optimizer.hpp"

#include <cmath>

namespace backprop {

/// Plain gradient descent, as `torch.optim.SGD(params, lr, weight_decay=wd)` without momentum.
/// For each parameter p with gradient g:
///
///     p ← p − lr·(g + wd·p)        (wd = 0 by default: W ← W − lr·dW, b ← b − lr·db)
///
/// The weight decay wd adds (wd/2)·‖p‖² to the loss, whose gradient is wd·p (L2 regularisation).
/// `sgd.step(model)` steps a layer or a whole Sequential with the gradients of its last
/// backward(); see Optimizer::step for what it checks first.
///
/// The training loop it drives: \ref tutorial_training "Tutorial 5: Training".
///
/// \tparam Scalar float or double, the Scalar of the models it steps.
template <typename Scalar>
class SGD : public Optimizer<SGD<Scalar>, Scalar> {
public:
    static constexpr const char* name = "SGD";  ///< What error messages start with.
    static constexpr int moments = 0;           ///< SGD keeps no running average.

    /// Throws std::invalid_argument unless lr is finite and positive and weight_decay is finite
    /// and ≥ 0.
    explicit SGD(Scalar lr, Scalar weight_decay = 0)
        : Optimizer<SGD<Scalar>, Scalar>(lr), weight_decay_(weight_decay) {
        if (!std::isfinite(weight_decay) || weight_decay < 0) {
            detail::fail("SGD: the weight decay is ", weight_decay, " but must be finite and >= 0");
        }
    }

    Scalar weight_decay() const { return weight_decay_; }   ///< wd.
    static OptimizerKind kind() { return OptimizerKind::sgd; }  ///< What its states record.

    /// f(name, value) for each hyper-parameter: "lr", "weight_decay" (what checkpoints record).
    template <typename F>
    void for_each_setting(F&& f) const {
        f("lr", static_cast<double>(this->lr()));
        f("weight_decay", static_cast<double>(weight_decay_));
    }

    /// p ← p − lr·(g + wd·p), for one parameter.
    template <typename P>
    void update(P& parameter) const {
        const Scalar lr = this->lr();
        if (weight_decay_ == 0) {
            parameter.value -= lr * parameter.gradient;
        } else {
            parameter.value -= lr * (parameter.gradient + weight_decay_ * parameter.value);
        }
    }

private:
    Scalar weight_decay_;
};

}  // namespace backprop
