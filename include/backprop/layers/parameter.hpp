#pragma once
/// \file
/// What a layer's trainable tensor is made of: its value, the gradient of the loss with respect
/// to it, and the state an optimiser keeps for it. All three live in the layer, side by side.
///
/// Keeping the optimiser's state beside the tensor, rather than in the optimiser, is what makes
/// training impossible to get silently wrong: the state moves and copies with its layer (a
/// `std::vector` of layers that reallocates, a moved network), a new layer always starts from a
/// fresh state, an optimiser holds no memory of layers that are gone, and a tensor can only be
/// stepped with its own gradient.

#include <Eigen/Core>

#include <cstdint>

namespace backprop {

/// How backward() stores the gradients of a layer's parameters.
enum class GradientMode {
    replace,    ///< dW = the gradient of this batch (the default).
    accumulate  ///< dW += the gradient of this batch: micro-batches summed before one step.
};

/// How a layer with a train and an eval behaviour (dropout, batch normalisation) acts in
/// forward(). Such a layer has `set_mode(Mode)`; Sequential::set_mode reaches every one.
enum class Mode {
    train,  ///< forward() as in training (the default).
    eval    ///< forward() as at inference; predict() always acts so.
};

/// Which optimiser wrote an OptimizerState. A state may only be continued by the same kind of
/// optimiser; its number is what checkpoint files record.
enum class OptimizerKind : std::uint32_t {
    none = 0,      ///< Fresh: no step taken yet (or reset).
    sgd = 1,       ///< SGD: keeps nothing but the step count.
    momentum = 2,  ///< Momentum: moment1 is the velocity.
    nesterov = 3,  ///< Momentum with Nesterov's step: moment1 is the velocity.
    adam = 4,      ///< Adam: moment1 is m, moment2 is v.
    adamw = 5,     ///< AdamW: as Adam.
};

/// A readable name for an OptimizerKind ("Adam"), for error messages.
inline const char* name_of(OptimizerKind kind) {
    switch (kind) {
        case OptimizerKind::none: return "none";
        case OptimizerKind::sgd: return "SGD";
        case OptimizerKind::momentum: return "Momentum";
        case OptimizerKind::nesterov: return "Momentum (Nesterov)";
        case OptimizerKind::adam: return "Adam";
        case OptimizerKind::adamw: return "AdamW";
    }
    return "unknown";
}

/// What an optimiser remembers about one parameter tensor: running averages of its gradient,
/// each of the tensor's shape, and the number of steps taken. The averages are set to zero by
/// the first step of an optimiser that needs them; until then they hold nothing (zero-size for
/// dynamic tensors, zeros for fixed-size ones, so that copying a fresh state copies defined
/// values).
template <typename Matrix>
struct OptimizerState {
    OptimizerKind kind = OptimizerKind::none;  ///< Which optimiser wrote it.
    std::int64_t steps = 0;                    ///< Steps taken, counting the last one.
    Matrix moment1 = fresh();  ///< Momentum's velocity v, or Adam's running mean m.
    Matrix moment2 = fresh();  ///< Adam's running mean of the squared gradient v.

    /// Forgets everything: the next step starts as on a new layer. Frees dynamic storage.
    void reset() {
        kind = OptimizerKind::none;
        steps = 0;
        moment1 = fresh();
        moment2 = fresh();
    }

private:
    // A moment before the first step: empty if dynamic, else zeros (a fixed-size Eigen matrix is
    // left uninitialised by its default constructor, and copying it would read indeterminate
    // values: GCC's -Wmaybe-uninitialized flags a fixed-size Dense moved into a Sequential).
    static Matrix fresh() {
        if constexpr (Matrix::SizeAtCompileTime == Eigen::Dynamic) {
            return Matrix();
        } else {
            return Matrix::Zero();
        }
    }
};

/// One trainable tensor of a layer, as a layer's for_each_parameter() hands it to optimisers,
/// gradient clipping and files: references into the layer, valid while the layer lives.
template <typename Matrix>
struct Parameter {
    const char* name;                ///< Its name within the layer: "W", "b".
    Matrix& value;                   ///< The tensor itself.
    Matrix& gradient;                ///< ∂L/∂value of the last backward(), the value's shape.
    OptimizerState<Matrix>& state;   ///< What the optimiser stepping it keeps.
};

/// A read-only Parameter, from a const layer.
template <typename Matrix>
struct ConstParameter {
    const char* name;                     ///< Its name within the layer: "W", "b".
    const Matrix& value;                  ///< The tensor itself.
    const Matrix& gradient;               ///< ∂L/∂value of the last backward().
    const OptimizerState<Matrix>& state;  ///< What the optimiser stepping it keeps.
};

}  // namespace backprop
