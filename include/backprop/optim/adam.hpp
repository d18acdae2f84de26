#pragma once
/// \file
/// Adam: gradient descent with bias-corrected running averages of the gradient and its square.

#include "../detail/layer_state.hpp"
#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace backprop {

/// Adam (Kingma and Ba, 2015), as `torch.optim.Adam(params, lr, betas, eps)` without weight
/// decay or AMSGrad. For each parameter p with gradient g, averages m and v that start at 0, and
/// the layer's step count t = 1, 2, …:
///
///     m ← β₁·m + (1 − β₁)·g              the running mean of g
///     v ← β₂·v + (1 − β₂)·g²             the running mean of g² (elementwise)
///     m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)   bias correction: m and v started at 0
///     p ← p − lr·m̂ / (√v̂ + ε)
///
/// ε is added after the square root, as PyTorch does (not inside it).
///
/// m, v and t are kept per layer, created at the layer's first step() and found again by the
/// layer's address; later steps do not allocate.
///
/// \tparam Scalar float or double, the Scalar of the layers it steps.
template <typename Scalar>
class Adam {
    static_assert(std::is_floating_point_v<Scalar>, "Adam needs a floating-point Scalar");

public:
    /// PyTorch's defaults: lr = 1e-3, β₁ = 0.9, β₂ = 0.999, ε = 1e-8. Throws
    /// std::invalid_argument unless lr is finite and positive, β₁ and β₂ are in [0, 1) and ε is
    /// finite and ≥ 0.
    explicit Adam(Scalar lr = Scalar(1e-3), Scalar beta1 = Scalar(0.9),
                  Scalar beta2 = Scalar(0.999), Scalar eps = Scalar(1e-8))
        : lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
        if (!std::isfinite(lr) || lr <= 0) {
            detail::fail("Adam: the learning rate is ", lr, " but must be finite and positive");
        }
        for (Scalar beta : {beta1, beta2}) {
            if (!(beta >= 0 && beta < 1)) {
                detail::fail("Adam: the betas are ", beta1, " and ", beta2,
                             " but each must be in [0, 1)");
            }
        }
        if (!std::isfinite(eps) || eps < 0) {
            detail::fail("Adam: eps is ", eps, " but must be finite and >= 0");
        }
    }

    Scalar lr() const { return lr_; }        ///< The learning rate.
    Scalar beta1() const { return beta1_; }  ///< β₁, the decay of m.
    Scalar beta2() const { return beta2_; }  ///< β₂, the decay of v.
    Scalar eps() const { return eps_; }      ///< ε, added to √v̂.

    /// One step of `layer` (members W and b) with `grads` (members dW and db, such as
    /// Dense::Gradients), as above for W and for b.
    ///
    /// dW has W's shape, db has b's. Throws std::invalid_argument, changing nothing, if not, or
    /// if the averages held for this layer have other shapes.
    template <typename Layer, typename Grads>
    void step(Layer& layer, const Grads& grads) {
        auto& state = states_.for_step("Adam::step", layer, grads);
        const auto t = static_cast<double>(++state.steps);
        // In double whatever Scalar is, as PyTorch computes them in Python floats.
        const double correction1 = 1 - std::pow(static_cast<double>(beta1_), t);
        const double correction2 = 1 - std::pow(static_cast<double>(beta2_), t);
        const auto step_size = static_cast<Scalar>(static_cast<double>(lr_) / correction1);
        const auto root_correction2 = static_cast<Scalar>(std::sqrt(correction2));
        update(layer.W, grads.dW, state.W[0], state.W[1], step_size, root_correction2);
        update(layer.b, grads.db, state.b[0], state.b[1], step_size, root_correction2);
    }

    /// How many steps `layer` has taken with this optimiser (t).
    template <typename Layer>
    std::int64_t steps(const Layer& layer) const {
        const auto* state = states_.find(layer);
        return state ? state->steps : 0;
    }

    /// Number of layers whose averages this optimiser holds.
    std::size_t layers() const { return states_.size(); }

private:
    // p ← p − (lr/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε), which is lr·m̂/(√v̂ + ε) rearranged.
    template <typename P, typename G, typename M>
    void update(P& p, const G& g, M& m, M& v, Scalar step_size, Scalar root_correction2) const {
        m = beta1_ * m + (1 - beta1_) * g;
        v.array() = beta2_ * v.array() + (1 - beta2_) * g.array().square();
        p.array() -= step_size * m.array() / (v.array().sqrt() / root_correction2 + eps_);
    }

    Scalar lr_;
    Scalar beta1_;
    Scalar beta2_;
    Scalar eps_;
    detail::LayerStates<Scalar, 2> states_;
};

}  // namespace backprop
