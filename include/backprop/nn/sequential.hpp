#pragma once
/// \file
/// Sequential: layers chained at compile time, each still reachable with its gradients.

#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace backprop {

namespace detail {

/// Whether a layer has parameters W and b (Dense) or none (an activation).
template <typename L, typename = void>
struct has_parameters : std::false_type {};
template <typename L>
struct has_parameters<L, std::void_t<decltype(std::declval<L&>().W), decltype(std::declval<L&>().b)>>
    : std::true_type {};

/// Whether a layer has a fixed number of inputs and outputs, in() and out().
template <typename L, typename = void>
struct has_widths : std::false_type {};
template <typename L>
struct has_widths<L, std::void_t<decltype(std::declval<const L&>().in()),
                                 decltype(std::declval<const L&>().out())>> : std::true_type {};

/// Whether what a backward() returned holds dX among other gradients (Dense::Gradients) or is
/// dX itself (an activation).
template <typename R, typename = void>
struct has_dX : std::false_type {};
template <typename R>
struct has_dX<R, std::void_t<decltype(std::declval<const R&>().dX)>> : std::true_type {};

template <typename R>
const auto& input_gradient(const R& result) {
    if constexpr (has_dX<R>::value) {
        return result.dX;
    } else {
        return result;
    }
}

/// The Scalar of a layer: that of its W, or of its Matrix (an activation).
template <typename L, typename = void>
struct scalar_of {
    using type = typename L::Matrix::Scalar;
};
template <typename L>
struct scalar_of<L, std::void_t<decltype(std::declval<L&>().W)>> {
    using type = typename std::decay_t<decltype(std::declval<L&>().W)>::Scalar;
};

/// The type a layer's backward() returns a reference to.
template <typename L>
using backward_result_t = std::remove_reference_t<decltype(std::declval<L&>().backward(
    std::declval<const Eigen::Matrix<typename scalar_of<L>::type, Eigen::Dynamic,
                                     Eigen::Dynamic>&>()))>;

}  // namespace detail

/// Layers applied one after another, fixed at compile time:
///
///     Sequential<Dense<float>, ReLU<float>, Dense<float>> net(Dense<float>(64, 32, 1),
///                                                             ReLU<float>(), Dense<float>(32, 10, 2));
///
/// forward() feeds each layer's output to the next; backward() feeds each layer's dX to the one
/// before it. The layers stay ordinary objects: `net.layer<2>().W` is layer 2's W and
/// `net.gradients<2>().dW` what its last backward() computed.
///
/// Shapes: X is (batch, in of the first layer) → the output is (batch, out of the last layer).
/// Every matrix returned is a buffer owned by one of the layers, so a training step allocates
/// nothing once the shapes are stable.
///
/// \tparam Layers each has forward(X) and backward(dY) returning references; backward() returns
/// dX itself (an activation) or a struct with members dW, db and dX (Dense).
template <typename... Layers>
class Sequential {
    static_assert(sizeof...(Layers) > 0, "Sequential needs at least one layer");

public:
    static constexpr std::size_t size = sizeof...(Layers);  ///< Number of layers.

    /// The type of layer I.
    template <std::size_t I>
    using Layer = std::tuple_element_t<I, std::tuple<Layers...>>;

    /// Chains `layers`. Throws std::invalid_argument if a layer's in() differs from the out() of
    /// the last layer with widths before it.
    explicit Sequential(Layers... layers) : layers_(std::move(layers)...) {
        check_widths("Sequential", -1);
    }

    /// A copy holds copies of the layers and no gradients yet: those of `other` live in other's
    /// layers.
    Sequential(const Sequential& other) : layers_(other.layers_) {}
    /// Takes the layers of `other`; no gradients yet.
    Sequential(Sequential&& other) noexcept : layers_(std::move(other.layers_)) {}
    /// Copies the layers of `other`; no gradients yet.
    Sequential& operator=(const Sequential& other) {
        layers_ = other.layers_;
        results_ = {};
        return *this;
    }
    /// Takes the layers of `other`; no gradients yet.
    Sequential& operator=(Sequential&& other) noexcept {
        layers_ = std::move(other.layers_);
        results_ = {};
        return *this;
    }
    ~Sequential() = default;

    /// Layer I, whose parameters may be read and changed (but not reshaped).
    template <std::size_t I>
    Layer<I>& layer() {
        return std::get<I>(layers_);
    }

    /// Layer I.
    template <std::size_t I>
    const Layer<I>& layer() const {
        return std::get<I>(layers_);
    }

    /// What layer I's backward() returned in the last backward(): Dense::Gradients (dW, db, dX)
    /// for a Dense layer, dX for an activation. Throws std::logic_error before the first
    /// backward().
    template <std::size_t I>
    const detail::backward_result_t<Layer<I>>& gradients() const {
        const auto* result = std::get<I>(results_);
        if (result == nullptr) {
            throw std::logic_error("Sequential::gradients<" + std::to_string(I) +
                                   ">: called before backward()");
        }
        return *result;
    }

    /// Y = f_last(… f_1(f_0(X))): each layer's forward() on the output of the one before.
    ///
    /// X is (batch, in) → Y is (batch, out). Throws std::invalid_argument, changing nothing, if X
    /// does not have the width the first layer with widths expects (or a layer does).
    template <typename D>
    const auto& forward(const Eigen::MatrixBase<D>& X) {
        check_widths("Sequential::forward", X.cols());
        return forward_from<0>(X.derived());
    }

    /// dX of the first layer, given dY = ∂L/∂Y: each layer's backward() on the dX of the one
    /// after it, from the last layer to the first. Each result stays reachable by gradients<I>().
    ///
    /// dY is (batch, out) of the last forward() → dX is (batch, in). Throws std::logic_error
    /// before the first forward(), std::invalid_argument if dY has another shape than Y; either
    /// way before any layer changes.
    template <typename D>
    const auto& backward(const Eigen::MatrixBase<D>& dY) {
        return backward_from<size - 1>(dY.derived());
    }

    /// optimizer.step(layer, gradients) for every layer with parameters, first to last, with the
    /// gradients of the last backward(). Throws std::logic_error, changing nothing, before the
    /// first backward().
    template <typename Optimizer>
    void step(Optimizer& optimizer) {
        for_each_index([&](auto index) {
            constexpr std::size_t I = decltype(index)::value;
            if (std::get<I>(results_) == nullptr) {
                throw std::logic_error("Sequential::step: called before backward()");
            }
        });
        for_each_index([&](auto index) {
            constexpr std::size_t I = decltype(index)::value;
            if constexpr (detail::has_parameters<Layer<I>>::value) {
                optimizer.step(std::get<I>(layers_), *std::get<I>(results_));
            }
        });
    }

    /// f(layer) for every layer, first to last.
    template <typename F>
    void for_each_layer(F&& f) {
        std::apply([&](auto&... layer) { (f(layer), ...); }, layers_);
    }

    /// f(layer) for every layer, first to last.
    template <typename F>
    void for_each_layer(F&& f) const {
        std::apply([&](const auto&... layer) { (f(layer), ...); }, layers_);
    }

private:
    // f(std::integral_constant<std::size_t, I>) for I = 0, 1, …, size − 1.
    template <typename F>
    static void for_each_index(F&& f) {
        for_each_index(f, std::index_sequence_for<Layers...>{});
    }
    template <typename F, std::size_t... I>
    static void for_each_index(F& f, std::index_sequence<I...>) {
        (f(std::integral_constant<std::size_t, I>{}), ...);
    }

    template <std::size_t I, typename In>
    const auto& forward_from(const In& input) {
        const auto& output = std::get<I>(layers_).forward(input);
        if constexpr (I + 1 == size) {
            return output;
        } else {
            return forward_from<I + 1>(output);
        }
    }

    template <std::size_t I, typename G>
    const auto& backward_from(const G& gradient) {
        const auto& result = std::get<I>(layers_).backward(gradient);
        std::get<I>(results_) = &result;
        if constexpr (I == 0) {
            return detail::input_gradient(result);
        } else {
            return backward_from<I - 1>(detail::input_gradient(result));
        }
    }

    // Walks the layers with widths: each must take the width the previous one gives (or X, of
    // `width` columns; -1 when unknown). Allocates nothing unless it throws.
    void check_widths(const char* call, Eigen::Index width) const {
        std::size_t from = size;  // the layer that gave `width`, or `size` for X
        for_each_index([&](auto index) {
            constexpr std::size_t I = decltype(index)::value;
            if constexpr (detail::has_widths<Layer<I>>::value) {
                const auto& layer = std::get<I>(layers_);
                if (width >= 0 && layer.in() != width) {
                    detail::fail(call, ": layer ", I, " takes ", layer.in(), " inputs but ",
                                 from == size ? std::string("X has")
                                              : "layer " + std::to_string(from) + " gives",
                                 " ", width);
                }
                width = layer.out();
                from = I;
            }
        });
    }

    std::tuple<Layers...> layers_;
    std::tuple<const detail::backward_result_t<Layers>*...> results_{};
};

/// for_each_parameter(layer, f) for every layer of `net`, first to last: f(name, matrix) for
/// each parameter, in the order a model file stores them.
template <typename... Layers, typename F>
void for_each_parameter(Sequential<Layers...>& net, F&& f) {
    net.for_each_layer([&](auto& layer) { for_each_parameter(layer, f); });
}

/// for_each_parameter(layer, f) for every layer of `net`, first to last, read-only.
template <typename... Layers, typename F>
void for_each_parameter(const Sequential<Layers...>& net, F&& f) {
    net.for_each_layer([&](const auto& layer) { for_each_parameter(layer, f); });
}

}  // namespace backprop
