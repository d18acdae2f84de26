#pragma once
/// \file
/// What generic code (optimisers, gradient clipping, files) needs of a model, whether it is one
/// layer or a Sequential of them: its layers in order, and each layer's parameters.
///
/// A layer with parameters has member functions `for_each_parameter(f)` (calling f with a
/// Parameter, layers/parameter.hpp, for each tensor), `has_gradients()`, `clear_gradients()`
/// (gradients zero and not held: an optimiser refuses to step) and `zero_gradients()` (the
/// gradients of an empty batch: zero, and held), and a `static constexpr const char* kind`. A
/// layer without parameters (an activation) has none of these functions. A container of layers
/// (Sequential) has `for_each_layer(f)`.

#include <Eigen/Core>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace backprop {

namespace detail {

template <typename L, typename = void>
struct has_parameters : std::false_type {};
template <typename L>
struct has_parameters<L, std::void_t<decltype(&L::has_gradients)>> : std::true_type {};

/// Accepts any layer: what is_container calls for_each_layer with.
struct any_layer {
    template <typename Layer>
    void operator()(const Layer&) const {}
};

/// Whether M is a container of layers (a Sequential, a GPT): it has for_each_layer(f).
template <typename M, typename = void>
struct is_container : std::false_type {};
template <typename M>
struct is_container<M, std::void_t<decltype(std::declval<const M&>().for_each_layer(any_layer{}))>>
    : std::true_type {};

template <typename L, typename = void>
struct has_settings : std::false_type {};
template <typename L>
struct has_settings<L, std::void_t<decltype(std::declval<const L&>().for_each_setting(
                           std::declval<void (*)(const char*, double)>()))>> : std::true_type {};

/// Accepts any buffer: what has_buffers calls for_each_buffer with.
struct any_buffer {
    template <typename Matrix>
    void operator()(const char*, const Matrix&) const {}
};

/// Whether layer type L has buffers (for_each_buffer(f) calling f(name, tensor)): state that is
/// not trained by gradients but is part of the model, such as BatchNorm's running statistics.
template <typename L, typename = void>
struct has_buffers : std::false_type {};
template <typename L>
struct has_buffers<
    L, std::void_t<decltype(std::declval<const L&>().for_each_buffer(any_buffer{}))>>
    : std::true_type {};

}  // namespace detail

/// Whether layer type L has trainable parameters (a Dense) or none (an activation).
template <typename L>
inline constexpr bool has_parameters_v = detail::has_parameters<std::decay_t<L>>::value;

/// Whether layer type L has settings that define its architecture (for_each_setting), such as
/// Dense's sizes or LeakyReLU's slope.
template <typename L>
inline constexpr bool has_settings_v = detail::has_settings<std::decay_t<L>>::value;

/// f(index, layer) for every layer of `model`, first to last: a Sequential's layers, or the
/// model itself as layer 0 when it is a single layer.
template <typename Model, typename F>
void for_each_layer(Model& model, F&& f) {
    if constexpr (detail::is_container<std::remove_const_t<Model>>::value) {
        std::size_t index = 0;
        model.for_each_layer([&](auto& layer) { f(index++, layer); });
    } else {
        f(std::size_t{0}, model);
    }
}

/// f(parameter) for every parameter of every layer of `model`, first to last, as each layer's
/// for_each_parameter() gives them: a Parameter, or a ConstParameter when `model` is const.
template <typename Model, typename F>
void for_each_parameter(Model& model, F&& f) {
    for_each_layer(model, [&](std::size_t, auto& layer) {
        if constexpr (has_parameters_v<decltype(layer)>) {
            layer.for_each_parameter(f);
        }
    });
}

/// The number of scalar parameters of `model`: the sum of the sizes of its tensors.
template <typename Model>
Eigen::Index parameter_count(const Model& model) {
    Eigen::Index count = 0;
    for_each_parameter(model, [&count](const auto& parameter) { count += parameter.value.size(); });
    return count;
}

namespace detail {

/// Throws std::logic_error, naming the first layer with parameters of `model` that holds no
/// gradients (no backward() since construction or clear_gradients()).
template <typename Model>
void require_gradients(const char* call, const Model& model) {
    for_each_layer(model, [call](std::size_t index, const auto& layer) {
        using Layer = std::decay_t<decltype(layer)>;
        if constexpr (has_parameters_v<Layer>) {
            if (!layer.has_gradients()) {
                throw std::logic_error(std::string(call) + ": layer " + std::to_string(index) +
                                       " (" + Layer::kind +
                                       ") has no gradients: call backward() first");
            }
        }
    });
}

}  // namespace detail

}  // namespace backprop
