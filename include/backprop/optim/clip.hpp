#pragma once
/// \file
/// Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_`.

#include "../detail/shape.hpp"
#include "../nn/model.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace backprop {

namespace detail {

/// Throws std::invalid_argument naming the first gradient of `model` that holds a value that is
/// not finite: "<call>: layer 2 (Dense) dW(0, 1) is nan…". Returns if there is none.
template <typename Model>
void require_finite_gradients(const char* call, const Model& model) {
    for_each_layer(model, [call](std::size_t index, const auto& layer) {
        using Layer = std::decay_t<decltype(layer)>;
        if constexpr (has_parameters_v<Layer>) {
            layer.for_each_parameter([&](const auto& parameter) {
                if (!detail::all_finite(parameter.gradient)) {
                    fail(call, ": layer ", index, " (", Layer::kind, ") d", parameter.name,
                         first_non_finite(parameter.gradient),
                         ": the total norm of the gradients is not finite");
                }
            });
        }
    });
}

}  // namespace detail

/// Rescales every gradient of `model` (a layer or a Sequential) so that their global 2-norm is
/// at most `max_norm`, as `torch.nn.utils.clip_grad_norm_(parameters, max_norm)` in PyTorch
/// 1.13. Call it between backward() and the optimiser's step(). With g the gradients of all
/// the model's parameters (dW, db of every layer) taken as one vector:
///
///     total = ‖g‖₂ = √(Σ_tensors Σ_elements g²)      computed in double whatever Scalar is
///     scale = max_norm / (total + 1e-6)
///     g ← scale·g                                   only if scale < 1
///
/// The 1e-6 is PyTorch's: it keeps the scale finite when total is 0, and makes a clipped norm
/// land just below max_norm. Clipping keeps the direction of the whole update and only shortens
/// it, so a rare huge gradient (an exploding RNN, a bad batch) cannot throw training far away.
///
/// Shapes: every gradient keeps its parameter's shape (dW (in, out), db (1, out) for a Dense).
/// Allocates nothing unless it throws. Returns the total norm before clipping, as PyTorch does
/// (handy to log). If the sum of squares overflows double although every gradient is finite
/// (gradients beyond 1e154), the norm is recomputed scaled by the largest |g|, so the result
/// stays right.
///
/// A gradient that is not finite makes the total norm not finite. PyTorch's default
/// (error_if_nonfinite = false, which its documentation says will switch to true) then scales
/// every gradient by NaN or 0, so one NaN silently poisons every parameter. Here:
/// - error_if_nonfinite = true (the default) throws std::invalid_argument naming the layer, the
///   gradient and its first bad index ("clip_grad_norm: layer 2 (Dense) dW(0, 1) is nan…"),
///   changing nothing;
/// - error_if_nonfinite = false changes no gradient and returns the non-finite total (NaN if a
///   gradient holds a NaN, else infinity), so that the optimiser's own finiteness check (on by
///   default) can still name the culprit.
///
/// Throws std::invalid_argument unless max_norm > 0 (infinity is allowed and never clips),
/// and std::logic_error if a layer with parameters holds no gradients (no backward() since
/// construction or clear_gradients()); either way before changing anything.
template <typename Model>
double clip_grad_norm(Model& model, double max_norm, bool error_if_nonfinite = true) {
    if (!(max_norm > 0)) {
        detail::fail("clip_grad_norm: max_norm is ", max_norm, " but must be positive");
    }
    detail::require_gradients("clip_grad_norm", model);

    double sum = 0;  // Σ g² over every gradient, in double
    for_each_parameter(model, [&sum](const auto& parameter) {
        sum += parameter.gradient.template cast<double>().squaredNorm();
    });
    double total = std::sqrt(sum);
    double scale = max_norm / (total + 1e-6);
    if (!std::isfinite(total)) {
        if (error_if_nonfinite) {
            detail::require_finite_gradients("clip_grad_norm", model);  // throws if one is bad
        }
        double largest = 0;  // max |g|: not finite if a gradient is not
        for_each_parameter(model, [&largest](const auto& parameter) {
            if (parameter.gradient.size() != 0) {
                largest = std::max(largest,
                                   parameter.gradient.template cast<double>().cwiseAbs().maxCoeff());
            }
        });
        if (!std::isfinite(largest)) {
            return total;  // error_if_nonfinite = false: leave every gradient as it is
        }
        // Every gradient is finite but Σ g² overflowed: total = largest·√(Σ (g/largest)²).
        double scaled = 0;
        for_each_parameter(model, [&](const auto& parameter) {
            scaled += (parameter.gradient.template cast<double>() / largest).squaredNorm();
        });
        total = largest * std::sqrt(scaled);
        scale = (max_norm / largest) / std::sqrt(scaled);  // the 1e-6 is far below rounding here
    }
    if (scale < 1) {
        for_each_parameter(model, [scale](auto parameter) {
            using Scalar = typename std::decay_t<decltype(parameter.gradient)>::Scalar;
            parameter.gradient *= static_cast<Scalar>(scale);
        });
    }
    return total;
}

}  // namespace backprop
