#pragma once
/// \file
/// Sequential: layers chained at compile time, each still reachable with its gradients.

#include "../detail/shape.hpp"
#include "../layers/image.hpp"
#include "../layers/parameter.hpp"
#include "model.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace backprop {

namespace detail {

/// Whether a layer has a fixed number of inputs and outputs, in() and out().
template <typename L, typename = void>
struct has_widths : std::false_type {};
template <typename L>
struct has_widths<L, std::void_t<decltype(std::declval<const L&>().in()),
                                 decltype(std::declval<const L&>().out())>> : std::true_type {};

/// Whether a layer knows the shapes of the images it takes and gives (Conv2D, the pooling
/// layers): input_shape() and output_shape().
template <typename L, typename = void>
struct has_image_shapes : std::false_type {};
template <typename L>
struct has_image_shapes<L, std::void_t<decltype(std::declval<const L&>().input_shape()),
                                       decltype(std::declval<const L&>().output_shape())>>
    : std::true_type {};

/// Whether a layer behaves differently in training and evaluation (has set_mode(Mode)).
template <typename L, typename = void>
struct has_mode : std::false_type {};
template <typename L>
struct has_mode<L, std::void_t<decltype(std::declval<L&>().set_mode(Mode::train))>>
    : std::true_type {};

/// The type of a layer's output: Output for a Dense layer, Matrix for an activation.
template <typename L, typename = void>
struct output_of {
    using type = typename L::Matrix;
};
template <typename L>
struct output_of<L, std::void_t<typename L::Output>> {
    using type = typename L::Output;
};

}  // namespace detail

/// Layers applied one after another, fixed at compile time:
///
///     Sequential<Dense<float>, ReLU<float>, Dense<float>> net(Dense<float>(64, 32, 1),
///                                                             ReLU<float>(), Dense<float>(32, 10, 2));
///
/// forward() feeds each layer's output to the next; backward() feeds each layer's dX to the one
/// before it. The layers stay ordinary objects, each holding its own gradients and optimiser
/// state: `net.layer<2>().W` is layer 2's W and `net.gradients<2>().dW` what its last backward()
/// computed (layers count from 0, activations included). `optimizer.step(net)` steps every layer
/// with parameters.
///
/// Shapes: X is (batch, in of the first layer) → the output is (batch, out of the last layer).
/// Every matrix returned is a buffer owned by one of the layers, so a training step allocates
/// nothing once the shapes are stable. A copy of a Sequential copies its layers whole
/// (parameters, gradients, optimiser state): it trains on exactly as the original would, and
/// independently of it. A moved Sequential trains on as if it had not moved.
///
/// How it passes each layer's dX down, how its layers are counted, and why forward() returns
/// references: \ref tutorial_digits_chaining "Tutorial 10: Chaining layers".
///
/// \tparam Layers each has forward(X), backward(dY) returning a struct with member dX (and dW,
/// db for a layer with parameters), and a const predict(X).
template <typename... Layers>
class Sequential {
    static_assert(sizeof...(Layers) > 0, "Sequential needs at least one layer");

public:
    static constexpr std::size_t size = sizeof...(Layers);  ///< Number of layers.

    /// The type of layer I.
    template <std::size_t I>
    using Layer = std::tuple_element_t<I, std::tuple<Layers...>>;

    /// What predict(X, buffers) writes into: one output matrix per layer, reused from call to
    /// call. Each thread that predicts needs its own.
    using Buffers = std::tuple<typename detail::output_of<Layers>::type...>;

    /// Chains `layers`. Throws std::invalid_argument if a layer's in() differs from the out() of
    /// the last layer with widths before it, or if an image layer's input shape (C, H, W)
    /// differs from the output shape of the image layer before it with only activations or
    /// dropout between them (the same width is not enough: 6×28×28 is not 3×56×28).
    explicit Sequential(Layers... layers) : layers_(std::move(layers)...) {
        check_widths("Sequential", -1);
        check_image_shapes();
    }

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

    /// What layer I's last backward() computed: Dense::Gradients (dW, db, dX) for a Dense
    /// layer, a struct with dX for an activation. Layer 0's dX is not computed (see backward()).
    template <std::size_t I>
    const auto& gradients() const {
        return std::get<I>(layers_).gradients();
    }

    /// Y = f_last(… f_1(f_0(X))): each layer's forward() on the output of the one before.
    ///
    /// X is (batch, in) → Y is (batch, out). Throws std::invalid_argument, changing nothing, if X
    /// does not have the width the first layer with widths expects (or a layer does). With
    /// detect_anomalies(true), throws std::domain_error naming the first layer whose output is
    /// not finite (or X, if it is not).
    template <typename D>
    const auto& forward(const Eigen::MatrixBase<D>& X) {
        check_widths("Sequential::forward", X.cols());
        if (detect_anomalies_) {
            check_finite("Sequential::forward: X", X);
        }
        return forward_from<0>(X.derived());
    }

    /// Y as forward() computes it, keeping nothing: every layer's predict() in turn, so the
    /// gradients of a backward() to come are untouched. Safe to call from several threads at
    /// once on one Sequential.
    ///
    /// X is (batch, in) → Y is (batch, out), a new matrix. Throws as forward() does.
    template <typename D>
    auto predict(const Eigen::MatrixBase<D>& X) const {
        Buffers buffers;
        predict(X, buffers);
        return std::move(std::get<size - 1>(buffers));
    }

    /// Y into the last matrix of `buffers`, each layer's output into its own: once the buffers
    /// have the shapes of a batch, predicting another batch of that size allocates nothing.
    /// Returns the last matrix. Throws as forward() does.
    template <typename D>
    const auto& predict(const Eigen::MatrixBase<D>& X, Buffers& buffers) const {
        check_widths("Sequential::predict", X.cols());
        return predict_from<0>(X.derived(), buffers);
    }

    /// Every layer's backward(), from the last to the first, each on the dX of the one after it,
    /// given dY = ∂L/∂Y. Each layer keeps its gradients (gradients<I>()).
    ///
    /// The first layer's dX = ∂L/∂X is not computed: X is the data, and nothing needs it
    /// (Dense::backward_parameters). With GradientMode::accumulate, every layer adds this
    /// batch's dW and db to those it holds. dY is (batch, out) of the last forward(). Throws
    /// std::logic_error before the first forward(), std::invalid_argument if dY has another
    /// shape than Y; either way before any layer changes. With detect_anomalies(true), throws
    /// std::domain_error naming the first layer (from the last) that computed a gradient that is
    /// not finite.
    template <typename D>
    void backward(const Eigen::MatrixBase<D>& dY, GradientMode mode = GradientMode::replace) {
        backward(dY, mode, [](std::size_t) {});
    }

    /// backward(dY, mode), calling `after_layer(I)` as soon as layer I's backward() has run, for
    /// I = size − 1, …, 0 (an activation's I included): from then on the gradients of layers
    /// I … size − 1 are final while the layers below are still to run. Data-parallel training
    /// uses it to start adding the ranks' gradients of the upper layers during the backward pass
    /// of the lower ones (distributed/mpi.hpp). Throws as backward(dY, mode) does; whatever
    /// `after_layer` throws ends the backward pass there.
    template <typename D, typename F>
    void backward(const Eigen::MatrixBase<D>& dY, GradientMode mode, F&& after_layer) {
        if (detect_anomalies_) {
            check_finite("Sequential::backward: dY", dY);
        }
        backward_from<size - 1>(dY.derived(), mode, after_layer);
    }

    /// Whether every layer with parameters holds gradients.
    bool has_gradients() const {
        bool all = true;
        for_each_layer([&all](const auto& layer) {
            if constexpr (has_parameters_v<decltype(layer)>) {
                all = all && layer.has_gradients();
            }
        });
        return all;
    }

    /// clear_gradients() of every layer with parameters: the next backward() starts new sums.
    void clear_gradients() {
        for_each_layer([](auto& layer) {
            if constexpr (has_parameters_v<decltype(layer)>) {
                layer.clear_gradients();
            }
        });
    }

    /// zero_gradients() of every layer with parameters: the gradients of an empty batch, zero
    /// and held, so that an optimiser can step (a data-parallel step's empty shard).
    void zero_gradients() {
        for_each_layer([](auto& layer) {
            if constexpr (has_parameters_v<decltype(layer)>) {
                layer.zero_gradients();
            }
        });
    }

    /// Sets the mode of every layer that has one (layers that act differently in training and
    /// evaluation, such as dropout); other layers ignore it.
    void set_mode(Mode mode) {
        mode_ = mode;
        for_each_layer([mode](auto& layer) {
            if constexpr (detail::has_mode<std::decay_t<decltype(layer)>>::value) {
                layer.set_mode(mode);
            }
        });
    }

    Mode mode() const { return mode_; }  ///< The mode last set (Mode::train at first).

    /// Anomaly detection, as `torch.autograd.detect_anomaly`: when on, forward() and backward()
    /// check every output and gradient and throw std::domain_error naming the first layer that
    /// produced a value that is not finite. Off by default: it reads every value once more.
    void detect_anomalies(bool on) { detect_anomalies_ = on; }

    bool detects_anomalies() const { return detect_anomalies_; }  ///< Whether it is on.

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

    // Throws std::domain_error "<what> (i, j) is nan…" if `m` has a value that is not finite.
    template <typename M>
    static void check_finite(const std::string& what, const Eigen::MatrixBase<M>& m) {
        if (!detail::all_finite(m)) {
            throw std::domain_error(what + detail::first_non_finite(m) +
                                    " (anomaly detection)");
        }
    }

    template <std::size_t I>
    static std::string layer_name() {
        return "layer " + std::to_string(I) + " (" + Layer<I>::kind + ")";
    }

    template <std::size_t I, typename In>
    const auto& forward_from(const In& input) {
        const auto& output = std::get<I>(layers_).forward(input);
        if (detect_anomalies_) {
            check_finite("Sequential::forward: " + layer_name<I>() + " gave Y", output);
        }
        if constexpr (I + 1 == size) {
            return output;
        } else {
            return forward_from<I + 1>(output);
        }
    }

    template <std::size_t I, typename In>
    const auto& predict_from(const In& input, Buffers& buffers) const {
        auto& output = std::get<I>(buffers);
        std::get<I>(layers_).predict(input, output);
        if constexpr (I + 1 == size) {
            return output;
        } else {
            return predict_from<I + 1>(output, buffers);
        }
    }

    template <std::size_t I, typename G, typename F>
    void backward_from(const G& gradient, GradientMode mode, F& after_layer) {
        auto& layer = std::get<I>(layers_);
        constexpr bool parameters = has_parameters_v<Layer<I>>;
        if constexpr (I == 0 && parameters) {
            layer.backward_parameters(gradient, mode);
        } else if constexpr (I == 0) {
            // an activation first: nothing to compute, its dX would be the gradient of the data
        } else if constexpr (parameters) {
            layer.backward(gradient, mode);
        } else {
            layer.backward(gradient);
        }
        if (detect_anomalies_) {
            check_gradients<I>();
        }
        after_layer(I);
        if constexpr (I > 0) {
            backward_from<I - 1>(layer.gradients().dX, mode, after_layer);
        }
    }

    // Anomaly detection after layer I's backward(): its dX and parameter gradients.
    template <std::size_t I>
    void check_gradients() const {
        const auto& layer = std::get<I>(layers_);
        const std::string where = "Sequential::backward: " + layer_name<I>() + " gave d";
        if constexpr (I > 0) {
            check_finite(where + "X", layer.gradients().dX);
        }
        if constexpr (has_parameters_v<Layer<I>>) {
            layer.for_each_parameter(
                [&](const auto& parameter) { check_finite(where + parameter.name, parameter.gradient); });
        }
    }

    // Walks the layers with widths: each must take the width the previous one gives (or X, of
    // `width` columns; -1 when unknown). Allocates nothing unless it throws.
    // An image layer's input shape against the output shape of the image layer before it. A
    // layer with widths but no image shapes (Dense, a normalisation) stands between them as a
    // boundary: what it gives is not known as images, and only the widths are compared.
    void check_image_shapes() const {
        ImageShape shape;  // what layer `from` gives; channels == 0 while unknown
        std::size_t from = 0;
        for_each_index([&](auto index) {
            constexpr std::size_t I = decltype(index)::value;
            if constexpr (detail::has_image_shapes<Layer<I>>::value) {
                const auto& layer = std::get<I>(layers_);
                if (shape.channels > 0 && layer.input_shape() != shape) {
                    detail::fail("Sequential: layer ", I, " takes images of ",
                                 detail::describe(layer.input_shape()), " but layer ", from,
                                 " gives images of ", detail::describe(shape));
                }
                shape = layer.output_shape();
                from = I;
            } else if constexpr (detail::has_widths<Layer<I>>::value) {
                shape = ImageShape{};
            }
        });
    }

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
    Mode mode_ = Mode::train;
    bool detect_anomalies_ = false;
};

}  // namespace backprop
