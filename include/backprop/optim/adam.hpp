#pragma once
/// \file
/// Adam and AdamW: gradient descent with bias-corrected running averages of the gradient and its
/// square; AdamW adds decoupled weight decay.

#include "../detail/shape.hpp"
#include "optimizer.hpp"

#include <cmath>

namespace backprop {

namespace detail {

/// What Adam and AdamW share: β₁, β₂, ε, their checks, and the update of one parameter with its
/// running averages m and v and its step count t.
template <typename Derived, typename Scalar>
class AdamBase : public Optimizer<Derived, Scalar> {
public:
    static constexpr int moments = 2;  ///< m and v.

    Scalar beta1() const { return beta1_; }  ///< β₁, the decay of m.
    Scalar beta2() const { return beta2_; }  ///< β₂, the decay of v.
    Scalar eps() const { return eps_; }      ///< ε, added to √v̂.

protected:
    // Throws std::invalid_argument unless β₁ and β₂ are in [0, 1) and ε is finite and positive.
    AdamBase(Scalar lr, Scalar beta1, Scalar beta2, Scalar eps)
        : Optimizer<Derived, Scalar>(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
        for (Scalar beta : {beta1, beta2}) {
            if (!(beta >= 0 && beta < 1)) {
                fail(Derived::name, ": the betas are ", beta1, " and ", beta2,
                     " but each must be in [0, 1)");
            }
        }
        if (!std::isfinite(eps) || eps <= 0) {
            fail(Derived::name, ": eps is ", eps, " but must be finite and positive: with ",
                 "eps = 0 a zero gradient (a dead ReLU unit) gives 0/0 = NaN");
        }
    }

    // f(name, value) for lr, beta1, beta2, eps.
    template <typename F>
    void adam_settings(F& f) const {
        f("lr", static_cast<double>(this->lr()));
        f("beta1", static_cast<double>(beta1_));
        f("beta2", static_cast<double>(beta2_));
        f("eps", static_cast<double>(eps_));
    }

    // m ← β₁·m + (1 − β₁)·g, v ← β₂·v + (1 − β₂)·g², then
    // p ← p − (lr/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε), which is lr·m̂/(√v̂ + ε) rearranged as
    // PyTorch computes it.
    template <typename P>
    void adam_update(P& parameter) const {
        auto& m = parameter.state.moment1;
        auto& v = parameter.state.moment2;
        const auto& g = parameter.gradient;
        const auto t = static_cast<double>(parameter.state.steps);
        // In double whatever Scalar is, as PyTorch computes them in Python floats.
        const double correction1 = 1 - std::pow(static_cast<double>(beta1_), t);
        const double correction2 = 1 - std::pow(static_cast<double>(beta2_), t);
        const auto step_size = static_cast<Scalar>(static_cast<double>(this->lr()) / correction1);
        const auto root_correction2 = static_cast<Scalar>(std::sqrt(correction2));
        m = beta1_ * m + (1 - beta1_) * g;
        v.array() = beta2_ * v.array() + (1 - beta2_) * g.array().square();
        parameter.value.array() -=
            step_size * m.array() / (v.array().sqrt() / root_correction2 + eps_);
    }

private:
    Scalar beta1_;
    Scalar beta2_;
    Scalar eps_;
};

}  // namespace detail

/// Adam (Kingma and Ba, 2015), as `torch.optim.Adam(params, lr, betas, eps)` without weight
/// decay or AMSGrad. For each parameter p with gradient g, averages m and v that start at 0, and
/// the parameter's step count t = 1, 2, …:
///
///     m ← β₁·m + (1 − β₁)·g              the running mean of g
///     v ← β₂·v + (1 − β₂)·g²             the running mean of g² (elementwise)
///     m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)   bias correction: m and v started at 0
///     p ← p − lr·m̂ / (√v̂ + ε)
///
/// ε is added after the square root, as PyTorch does (not inside it), and must be positive:
/// PyTorch accepts ε = 0, and then a gradient that is zero from the first step (a dead ReLU
/// unit) gives 0/0 and a NaN parameter; here that is refused when the optimiser is built.
///
/// m, v and t live beside each parameter in its layer (OptimizerState), created at the
/// parameter's first step; later steps do not allocate.
///
/// Derived, with its bias correction: \ref tutorial_optimisers "Tutorial 9: Optimisers that remember".
///
/// \tparam Scalar float or double, the Scalar of the models it steps.
template <typename Scalar>
class Adam : public detail::AdamBase<Adam<Scalar>, Scalar> {
public:
    static constexpr const char* name = "Adam";  ///< What error messages start with.

    /// PyTorch's defaults: lr = 1e-3, β₁ = 0.9, β₂ = 0.999, ε = 1e-8. Throws
    /// std::invalid_argument unless lr is finite and positive, β₁ and β₂ are in [0, 1) and ε is
    /// finite and positive.
    explicit Adam(Scalar lr = Scalar(1e-3), Scalar beta1 = Scalar(0.9),
                  Scalar beta2 = Scalar(0.999), Scalar eps = Scalar(1e-8))
        : detail::AdamBase<Adam<Scalar>, Scalar>(lr, beta1, beta2, eps) {}

    static OptimizerKind kind() { return OptimizerKind::adam; }  ///< What its states record.

    /// f(name, value) for "lr", "beta1", "beta2", "eps" (what checkpoints record).
    template <typename F>
    void for_each_setting(F&& f) const {
        this->adam_settings(f);
    }

    /// The update above, for one parameter whose m and v exist and whose t is counted.
    template <typename P>
    void update(P& parameter) const {
        this->adam_update(parameter);
    }
};

/// AdamW (Loshchilov and Hutter, 2019), as `torch.optim.AdamW(params, lr, betas, eps,
/// weight_decay)`: Adam, with the weight decay applied to the parameter directly instead of
/// through the gradient (decoupled), so that it is not rescaled by √v̂:
///
///     p ← p·(1 − lr·wd)                  first, then Adam's update of p with g
///
/// Why the decay is decoupled: \ref tutorial_optimisers "Tutorial 9: Optimisers that remember".
///
/// \tparam Scalar float or double, the Scalar of the models it steps.
template <typename Scalar>
class AdamW : public detail::AdamBase<AdamW<Scalar>, Scalar> {
public:
    static constexpr const char* name = "AdamW";  ///< What error messages start with.

    /// PyTorch's defaults: lr = 1e-3, β₁ = 0.9, β₂ = 0.999, ε = 1e-8, wd = 0.01. Throws
    /// std::invalid_argument as Adam does, or unless weight_decay is finite and ≥ 0.
    explicit AdamW(Scalar lr = Scalar(1e-3), Scalar beta1 = Scalar(0.9),
                   Scalar beta2 = Scalar(0.999), Scalar eps = Scalar(1e-8),
                   Scalar weight_decay = Scalar(0.01))
        : detail::AdamBase<AdamW<Scalar>, Scalar>(lr, beta1, beta2, eps),
          weight_decay_(weight_decay) {
        if (!std::isfinite(weight_decay) || weight_decay < 0) {
            detail::fail("AdamW: the weight decay is ", weight_decay,
                         " but must be finite and >= 0");
        }
    }

    Scalar weight_decay() const { return weight_decay_; }        ///< wd.
    static OptimizerKind kind() { return OptimizerKind::adamw; }  ///< What its states record.

    /// f(name, value) for "lr", "beta1", "beta2", "eps", "weight_decay".
    template <typename F>
    void for_each_setting(F&& f) const {
        this->adam_settings(f);
        f("weight_decay", static_cast<double>(weight_decay_));
    }

    /// p ← p·(1 − lr·wd), then Adam's update, for one parameter.
    template <typename P>
    void update(P& parameter) const {
        if (weight_decay_ != 0) {
            const double decay = static_cast<double>(this->lr()) * static_cast<double>(weight_decay_);
            parameter.value *= static_cast<Scalar>(1 - decay);
        }
        this->adam_update(parameter);
    }

private:
    Scalar weight_decay_;
};

}  // namespace backprop
