#pragma once
// The gradient check of the image and normalisation layers' tests (test_pooling.cpp,
// test_normalization.cpp): dX, and dgamma and dbeta for a layer that has them, against finite
// differences of L = Σ G∘Y.

#include "helpers.hpp"

#include <backprop/check/gradient_check.hpp>
#include <backprop/nn/model.hpp>

#include <Eigen/Core>

#include <cstdint>

namespace test {

/// What layer_gradient_errors() found: one GradientError per gradient (dgamma and dbeta stay
/// default, max_abs 0 so that passes() is false, for a layer without γ and β).
struct LayerGradientErrors {
    backprop::GradientError dX, dgamma, dbeta;
};

/// The checks of `layer`'s backward at X, all in double: L = Σ G∘Y with G uniform in [−1, 1)
/// from `seed`, so dY = G. Each evaluation of L runs forward() on a fresh copy of `layer`, so a
/// layer that keeps statistics (BatchNorm) or draws a mask (Dropout) starts from the same state
/// every time, the state the analytic gradients were computed from.
template <typename Layer>
LayerGradientErrors layer_gradient_errors(const Layer& layer, const Eigen::MatrixXd& X,
                                          std::uint64_t seed = 5) {
    Layer probe = layer;
    const Eigen::MatrixXd Y = probe.forward(X);
    const Eigen::MatrixXd G = random_matrix<double>(Y.rows(), Y.cols(), seed);
    const auto& grads = probe.backward(G);
    const auto loss = [&G](Layer copy, const Eigen::MatrixXd& x) {
        return (copy.forward(x).array() * G.array()).sum();
    };
    LayerGradientErrors errors;
    errors.dX = backprop::check_gradient(
        [&](const Eigen::MatrixXd& x) { return loss(layer, x); }, X, grads.dX);
    if constexpr (backprop::has_parameters_v<Layer>) {
        // The check of the gradient of one parameter tensor, `layer.*member`.
        const auto parameter_error = [&](auto member, const auto& gradient) {
            return backprop::check_gradient(
                [&](const Eigen::MatrixXd& value) {
                    Layer changed = layer;
                    changed.*member = value;
                    return loss(changed, X);
                },
                layer.*member, gradient);
        };
        errors.dgamma = parameter_error(&Layer::gamma, grads.dgamma);
        errors.dbeta = parameter_error(&Layer::beta, grads.dbeta);
    }
    return errors;
}

}  // namespace test
