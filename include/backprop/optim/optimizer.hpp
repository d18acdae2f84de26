#pragma once
/// \file
/// What every optimiser shares: the learning rate, and a step of a whole model that checks
/// every parameter before it changes any.

#include "../detail/shape.hpp"
#include "../layers/parameter.hpp"
#include "../nn/model.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace backprop {

namespace detail {

/// Where a step found a problem, for its message: "Adam::step: layer 2 (Dense) dW".
struct StepSite {
    const char* optimizer;  ///< "Adam"
    std::size_t layer;      ///< the layer's index in the model
    const char* kind;       ///< the layer's kind, "Dense"
    const char* tensor;     ///< the tensor's name, "W"

    /// "Adam::step: layer 2 (Dense) " followed by `prefix` and the tensor's name.
    std::string describe(const char* prefix = "") const {
        return std::string(optimizer) + "::step: layer " + std::to_string(layer) + " (" + kind +
               ") " + prefix + tensor;
    }
};

}  // namespace detail

/// The base of SGD, Momentum, Adam and AdamW: their learning rate, the finiteness check, and
/// step(model), which checks every parameter of the model and only then updates every one.
///
/// The optimiser keeps no memory of its own: what it remembers about a parameter (a velocity,
/// running averages, a step count) lives beside the parameter in its layer (OptimizerState), so
/// an optimiser can step any number of models and holds nothing for layers that are gone.
///
/// \tparam Derived the optimiser: it provides `name`, `kind()`, `moments` (how many running
///         averages it keeps per parameter, 0 to 2) and `update(parameter)`, the update of one
///         tensor once its state exists.
/// \tparam Scalar float or double, the Scalar of the models it steps.
template <typename Derived, typename Scalar>
class Optimizer {
    static_assert(std::is_floating_point_v<Scalar>, "an optimiser needs a floating-point Scalar");

public:
    Scalar lr() const { return lr_; }  ///< The learning rate.

    /// Changes the learning rate (for a schedule); the state of the parameters is kept. Throws
    /// std::invalid_argument, changing nothing, unless lr is finite and positive.
    void set_lr(Scalar lr) {
        check_lr(lr);
        lr_ = lr;
    }

    /// Whether step() first checks that every gradient is finite (the default).
    bool checks_finite() const { return check_finite_; }

    /// Turns the finiteness check of step() on or off. Off, one NaN in a gradient spreads to
    /// every parameter it reaches, silently; on, it costs one read of every gradient per step.
    void set_check_finite(bool check) { check_finite_ = check; }

    /// One step of every parameter of `model` (a layer or a Sequential), with the gradients its
    /// last backward() left in it.
    ///
    /// First checks every layer with parameters, changing nothing if one fails: it must hold
    /// gradients (std::logic_error otherwise: no backward() since construction or
    /// clear_gradients()), each gradient must have its parameter's shape and, unless
    /// set_check_finite(false), be finite, and the state beside each parameter must be fresh
    /// or written by this kind of optimiser (std::invalid_argument otherwise, naming the layer,
    /// the parameter and, for a non-finite gradient, the first bad index). Then updates every
    /// parameter. The first step of a parameter creates its state (the only allocation).
    template <typename Model>
    void step(Model& model) const {
        check(model);
        for_each_parameter(model, [this](auto parameter) {
            auto& state = parameter.state;
            if (state.kind == OptimizerKind::none) {
                if constexpr (Derived::moments >= 1) {
                    state.moment1.setZero(parameter.value.rows(), parameter.value.cols());
                }
                if constexpr (Derived::moments >= 2) {
                    state.moment2.setZero(parameter.value.rows(), parameter.value.cols());
                }
                state.kind = self().kind();
            }
            ++state.steps;
            self().update(parameter);
        });
    }

    /// Forgets the state of every parameter of `model`: its next step is a first step again.
    /// Frees the state's storage.
    template <typename Model>
    static void reset(Model& model) {
        for_each_parameter(model, [](auto parameter) { parameter.state.reset(); });
    }

protected:
    /// Throws std::invalid_argument unless lr is finite and positive.
    explicit Optimizer(Scalar lr) : lr_(lr) { check_lr(lr); }

private:
    const Derived& self() const { return static_cast<const Derived&>(*this); }

    static void check_lr(Scalar lr) {
        if (!std::isfinite(lr) || lr <= 0) {
            detail::fail(Derived::name, ": the learning rate is ", lr,
                         " but must be finite and positive");
        }
    }

    // Every check of step(), allocating nothing unless one fails.
    template <typename Model>
    void check(const Model& model) const {
        for_each_layer(model, [&](std::size_t index, const auto& layer) {
            using Layer = std::decay_t<decltype(layer)>;
            if constexpr (has_parameters_v<Layer>) {
                if (!layer.has_gradients()) {
                    throw std::logic_error(std::string(Derived::name) + "::step: layer " +
                                           std::to_string(index) + " (" + Layer::kind +
                                           ") has no gradients: call backward() first");
                }
                layer.for_each_parameter([&](const auto& parameter) {
                    check(detail::StepSite{Derived::name, index, Layer::kind, parameter.name},
                          parameter);
                });
            }
        });
    }

    template <typename P>
    void check(const detail::StepSite& site, const P& parameter) const {
        const auto& value = parameter.value;
        const auto& gradient = parameter.gradient;
        if (gradient.rows() != value.rows() || gradient.cols() != value.cols()) {
            detail::fail(site.describe("d"), " is ", detail::dims(gradient), " but ", site.tensor,
                         " is ", detail::dims(value));
        }
        const auto& state = parameter.state;
        if (state.kind != OptimizerKind::none && state.kind != self().kind()) {
            detail::fail(site.describe(), " has the state of ", name_of(state.kind), ", not of ",
                         name_of(self().kind()), ": reset it (", Derived::name,
                         "::reset(model)) to change optimisers");
        }
        if constexpr (Derived::moments >= 1) {
            if (state.kind != OptimizerKind::none &&
                (state.moment1.rows() != value.rows() || state.moment1.cols() != value.cols())) {
                detail::fail(site.describe(), " is ", detail::dims(value),
                             " but the state held for it is for ", detail::dims(state.moment1));
            }
        }
        if (check_finite_ && !detail::all_finite(gradient)) {
            detail::fail(site.describe("d"), detail::first_non_finite(gradient),
                         ": a non-finite gradient would spread to every parameter it reaches");
        }
    }

    Scalar lr_;
    bool check_finite_ = true;
};

}  // namespace backprop
