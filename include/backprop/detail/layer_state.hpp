#pragma once
/// \file
/// The state an optimiser keeps for each layer it steps. Not public API.

#include "shape.hpp"

#include <Eigen/Core>

#include <array>
#include <cstdint>
#include <vector>

namespace backprop::detail {

/// What an optimiser remembers about one layer: `Moments` running averages (or velocities) of
/// each parameter, each of the parameter's shape, and how many steps the layer has taken.
template <typename Scalar, int Moments>
struct LayerState {
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
    const void* layer = nullptr;  ///< The layer object this state belongs to.
    std::array<Matrix, Moments> W;  ///< Each of W's shape.
    std::array<Matrix, Moments> b;  ///< Each of b's shape.
    std::int64_t steps = 0;         ///< Steps taken so far, counting the current one.
};

/// The states of every layer an optimiser has stepped, found by the layer's address.
///
/// A state is created, zero, at a layer's first step (the only allocation); later steps find it
/// by a linear search over the few layers of a network. A layer is identified by its address, so
/// a layer that is moved or copied elsewhere starts again from a fresh state.
template <typename Scalar, int Moments>
class LayerStates {
public:
    using State = LayerState<Scalar, Moments>;

    /// The state of `layer`, after checking that grads.dW and grads.db have the shapes of
    /// layer.W and layer.b, and that a state already held for the layer has them too. Throws
    /// std::invalid_argument naming `call` otherwise, and then holds nothing new.
    template <typename Layer, typename Grads>
    State& for_step(const char* call, const Layer& layer, const Grads& grads) {
        require_same_shape(call, "dW", grads.dW, "W", layer.W);
        require_same_shape(call, "db", grads.db, "b", layer.b);
        for (State& state : states_) {
            if (state.layer == &layer) {
                if (state.W[0].rows() != layer.W.rows() || state.W[0].cols() != layer.W.cols() ||
                    state.b[0].cols() != layer.b.cols()) {
                    fail(call, ": this layer's W is ", dims(layer.W), " and b ", dims(layer.b),
                         " but the state held for it is for W ", dims(state.W[0]), " and b ",
                         dims(state.b[0]));
                }
                return state;
            }
        }
        State& state = states_.emplace_back();
        state.layer = &layer;
        for (int k = 0; k < Moments; ++k) {
            state.W[k].setZero(layer.W.rows(), layer.W.cols());
            state.b[k].setZero(layer.b.rows(), layer.b.cols());
        }
        return state;
    }

    /// The state held for `layer`, or nullptr if it has not been stepped.
    template <typename Layer>
    const State* find(const Layer& layer) const {
        for (const State& state : states_) {
            if (state.layer == &layer) {
                return &state;
            }
        }
        return nullptr;
    }

    std::size_t size() const { return states_.size(); }  ///< Number of layers held.

private:
    std::vector<State> states_;
};

}  // namespace backprop::detail
