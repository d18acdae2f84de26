#pragma once
/// \file
/// The fully connected layer Z = X·W + b, and its hand-written backward pass.

#include "../detail/shape.hpp"
#include "init.hpp"
#include "parameter.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>

namespace backprop {

/// A fully connected (affine) layer: Z = X·W + b.
///
/// Shapes (rows are samples): X is (batch, in), W is (in, out), b is (1, out), Z is (batch, out).
/// `In` and `Out` may be fixed at compile time, which makes W and b fixed-size Eigen matrices
/// (fast for tiny layers); the batch size is always chosen at run time.
///
/// forward() keeps a copy of X, which is exactly what backward() needs: the gradients of W are
/// products with X. predict() computes the same Z and keeps nothing, for inference and
/// validation. The matrices that forward() and backward() return are buffers owned by the
/// layer, valid until the next call of the same function; once the shapes stop changing they are
/// reused without allocating.
///
/// The layer also holds what trains it: dW and db of the last backward(), and the state an
/// optimiser keeps for W and for b (layers/parameter.hpp). A copy of a layer copies all of it,
/// so the copy trains exactly as the original would; a moved layer trains on as before.
///
/// The derivation, step by step: \ref tutorial_dense "Tutorial 2: One Dense layer".
///
/// \tparam Scalar float or double.
/// \tparam In number of inputs, or Eigen::Dynamic.
/// \tparam Out number of outputs, or Eigen::Dynamic.
template <typename Scalar, int In = Eigen::Dynamic, int Out = Eigen::Dynamic>
class Dense {
    static_assert(std::is_floating_point_v<Scalar>, "Dense needs a floating-point Scalar");

public:
    using Weights = Eigen::Matrix<Scalar, In, Out>;              ///< W: (in, out)
    using Bias = Eigen::Matrix<Scalar, 1, Out>;                  ///< b: (1, out)
    using Input = Eigen::Matrix<Scalar, Eigen::Dynamic, In>;     ///< X and dX: (batch, in)
    using Output = Eigen::Matrix<Scalar, Eigen::Dynamic, Out>;   ///< Z and dZ: (batch, out)

    /// What file formats and error messages call this kind of layer.
    static constexpr const char* kind = "Dense";

    /// The gradients of the loss L with respect to the layer's parameters and its input;
    /// each has the shape of what it differentiates.
    struct Gradients {
        Weights dW;  ///< ∂L/∂W: (in, out)
        Bias db;     ///< ∂L/∂b: (1, out)
        Input dX;    ///< ∂L/∂X: (batch, in), the dZ of the layer before this one
    };

    Weights W;  ///< The weights: (in, out).
    Bias b;     ///< The bias, added to every row of X·W: (1, out).

    /// A layer of `in` inputs and `out` outputs, its parameters drawn from `init` with `seed`.
    /// Throws std::invalid_argument if a size is not positive or differs from a fixed In/Out.
    Dense(Eigen::Index in, Eigen::Index out, std::uint64_t seed = 0, Init init = Init::pytorch)
        : W(checked_size(in, In, "in"), checked_size(out, Out, "out")), b(1, out) {
        detail::initialize(W, b, init, seed);
        // Fixed-size gradients exist before the first backward(): zero them, so that copying or
        // moving a fresh layer (into a Sequential, say) copies defined values.
        grads_.dW.setZero(W.rows(), W.cols());
        grads_.db.setZero(1, W.cols());
    }

    /// A layer with fixed In and Out, its parameters drawn from `init` with `seed`.
    explicit Dense(std::uint64_t seed, Init init = Init::pytorch) : Dense(In, Out, seed, init) {
        static_assert(In != Eigen::Dynamic && Out != Eigen::Dynamic,
                      "Dense(seed): the sizes are dynamic, use Dense(in, out, seed)");
    }

    /// A layer with fixed In and Out, initialised as `torch.nn.Linear` with seed 0.
    Dense() : Dense(std::uint64_t{0}) {}

    Eigen::Index in() const { return W.rows(); }    ///< Number of inputs.
    Eigen::Index out() const { return W.cols(); }   ///< Number of outputs.

    /// Z = X·W + b, with b added to every row.
    ///
    /// X is (batch, in) → Z is (batch, out). Keeps a copy of X for backward().
    /// Throws std::invalid_argument if X is empty or does not have `in()` columns.
    template <typename Derived>
    const Output& forward(const Eigen::MatrixBase<Derived>& X) {
        detail::require_batch("Dense::forward", X, in());
        X_ = X;
        affine(Z_, X_);
        return Z_;
    }

    /// Z = X·W + b, as forward() computes it, without keeping anything: what backward() needs
    /// is untouched, so a validation pass between forward() and backward() changes no gradient.
    /// Safe to call from several threads at once on one layer.
    ///
    /// X is (batch, in) → Z is (batch, out), a new matrix. Throws as forward() does.
    template <typename Derived>
    Output predict(const Eigen::MatrixBase<Derived>& X) const {
        Output Z;
        predict(X, Z);
        return Z;
    }

    /// Z = X·W + b into `Z`, which is resized only if its shape differs (so a reused buffer
    /// allocates nothing). Z must not be X. Throws as forward() does, before writing Z.
    template <typename Derived>
    void predict(const Eigen::MatrixBase<Derived>& X, Output& Z) const {
        detail::require_batch("Dense::predict", X, in());
        affine(Z, X.derived());
    }

    /// The gradients of L, given dZ = ∂L/∂Z.
    ///
    /// dZ is (batch, out) → dW (in, out), db (1, out), dX (batch, in). In the forward pass
    /// Z[n][j] = Σᵢ X[n][i]·W[i][j] + b[j], so by the chain rule
    ///
    ///     dW = Xᵀ·dZ         ∂L/∂W[i][j] = Σₙ X[n][i]·dZ[n][j]
    ///     db = Σ_rows dZ     ∂L/∂b[j]    = Σₙ dZ[n][j]  (b was added to every row)
    ///     dX = dZ·Wᵀ         ∂L/∂X[n][i] = Σⱼ dZ[n][j]·W[i][j]
    ///
    /// and these are the only products of the factors whose shapes fit. The sums run over the
    /// batch without dividing: only the loss divides (MSE by the number of elements of its
    /// prediction, SoftmaxCrossEntropy by the number of samples).
    ///
    /// With GradientMode::accumulate, this batch's dW and db are added to those held since the
    /// last clear_gradients() (or replace them if there are none): the gradient of a sum of
    /// losses is the sum of their gradients. dX is always this batch's. dZ may be this layer's
    /// own dX (possible when in == out): that case is detected and computed through a temporary;
    /// an expression that reads this layer's dX must be evaluated first (`.eval()`).
    ///
    /// Throws std::logic_error before the first forward(), std::invalid_argument if dZ is not
    /// (batch, out) of the last forward(); either way nothing changes.
    template <typename Derived>
    const Gradients& backward(const Eigen::MatrixBase<Derived>& dZ,
                              GradientMode mode = GradientMode::replace) {
        check_backward("Dense::backward", dZ);
        parameter_gradients(dZ, mode);
        if (aliases_dX(dZ)) {
            grads_.dX = (dZ * W.transpose()).eval();  // reads dZ before dX is overwritten
        } else {
            multiply(grads_.dX, dZ, W.transpose());
        }
        return grads_;
    }

    /// dW and db as backward() computes them, without dX = dZ·Wᵀ.
    ///
    /// For the first layer of a network, whose X is the data: nothing needs ∂L/∂X there, and
    /// skipping its product saves a third of the layer's backward arithmetic (PyTorch skips it
    /// too, as the data does not require a gradient). dX is left empty (0, in), so using it by
    /// mistake is a shape error, not stale numbers. Throws as backward() does.
    template <typename Derived>
    const Gradients& backward_parameters(const Eigen::MatrixBase<Derived>& dZ,
                                         GradientMode mode = GradientMode::replace) {
        check_backward("Dense::backward_parameters", dZ);
        parameter_gradients(dZ, mode);
        grads_.dX.resize(0, in());
        return grads_;
    }

    /// The gradients of the last backward() (zero before the first).
    const Gradients& gradients() const { return grads_; }

    /// Whether dW and db hold the gradients of a backward() since construction or the last
    /// clear_gradients(): optimisers refuse to step a layer without them.
    bool has_gradients() const { return has_gradients_; }

    /// Sets dW and db to zero and has_gradients() to false: the next backward(), in either
    /// GradientMode, starts a new sum. The optimiser's state is kept.
    void clear_gradients() {
        grads_.dW.setZero();
        grads_.db.setZero();
        has_gradients_ = false;
    }

    /// The gradients of an empty batch: dW and db zero, and held (has_gradients() true), so an
    /// optimiser can step. What a data-parallel step does on a shard with no rows
    /// (distributed/mpi.hpp), whose share of the batch's gradient is zero. A later backward()
    /// with GradientMode::accumulate adds to the zeros. The optimiser's state is kept.
    void zero_gradients() {
        clear_gradients();
        has_gradients_ = true;
    }

    /// f(Parameter) for W, then for b: each with its gradient and optimiser state. The order is
    /// the order of model files.
    template <typename F>
    void for_each_parameter(F&& f) {
        f(Parameter<Weights>{"W", W, grads_.dW, W_state_});
        f(Parameter<Bias>{"b", b, grads_.db, b_state_});
    }

    /// f(ConstParameter) for W, then for b.
    template <typename F>
    void for_each_parameter(F&& f) const {
        f(ConstParameter<Weights>{"W", W, grads_.dW, W_state_});
        f(ConstParameter<Bias>{"b", b, grads_.db, b_state_});
    }

    /// f(name, value) for what defines the layer's architecture: "in" and "out". Files record
    /// them, so that a file loads only into a layer of the same shape.
    template <typename F>
    void for_each_setting(F&& f) const {
        f("in", static_cast<double>(in()));
        f("out", static_cast<double>(out()));
    }

    /// The same layer in another scalar type (its parameters cast; no gradients, no optimiser
    /// state, nothing cached).
    template <typename Other>
    Dense<Other, In, Out> cast() const {
        Dense<Other, In, Out> other(in(), out());
        other.W = W.template cast<Other>();
        other.b = b.template cast<Other>();
        return other;
    }

private:
    // Z = X·W + b. For tiny fixed-size layers in one pass that writes each coefficient of Z
    // once, product and bias together: measured (bench/, -O3 -march=native, issue 12), the
    // notebook's 5 → 5 → 1 step then took 0.21 µs instead of 0.25 (float and double), where the
    // two passes (Z written by the product, then read back and written again by += b, then
    // copied by the next layer's forward) had left it 1.26x the hand-written step.
    template <typename X>
    void affine(Output& Z, const X& input) const {
        if constexpr (coefficient_products) {
            Z.noalias() = input.lazyProduct(W) + b.replicate(input.rows(), 1);
        } else {
            multiply(Z, input, W);
            Z.rowwise() += b;
        }
    }

    template <typename Derived>
    void check_backward(const char* call, const Eigen::MatrixBase<Derived>& dZ) const {
        detail::require_forward(X_.rows() != 0, call);
        if (dZ.rows() != Z_.rows() || dZ.cols() != Z_.cols()) {
            detail::fail(call, ": dZ is ", detail::dims(dZ), " but Z of the last forward is ",
                         detail::dims(Z_));
        }
    }

    // Whether dZ is stored in this layer's dX: then dX = dZ·Wᵀ cannot be written in place.
    template <typename Derived>
    bool aliases_dX(const Eigen::MatrixBase<Derived>& dZ) const {
        if constexpr (bool(Derived::Flags & Eigen::DirectAccessBit)) {
            const Scalar* first = dZ.derived().data();
            const Scalar* begin = grads_.dX.data();
            const std::less<const Scalar*> before;  // a total order on any two pointers
            return begin != nullptr && !before(first, begin) &&
                   before(first, begin + grads_.dX.size());
        } else {
            return false;
        }
    }

    // dW = Xᵀ·dZ and db = Σ_rows dZ, or added to them.
    template <typename Derived>
    void parameter_gradients(const Eigen::MatrixBase<Derived>& dZ, GradientMode mode) {
        if (mode == GradientMode::accumulate && has_gradients_) {
            multiply_add(grads_.dW, X_.transpose(), dZ);
            grads_.db += dZ.colwise().sum();
        } else {
            multiply(grads_.dW, X_.transpose(), dZ);
            grads_.db = dZ.colwise().sum();
        }
        has_gradients_ = true;
    }

    // With a batch known only at run time, Eigen sends every product to its GEMM (packing and
    // blocking) unless batch + rows + columns < EIGEN_GEMM_TO_COEFFBASED_THRESHOLD. For tiny
    // fixed-size layers that overhead costs more than the arithmetic (a 5x5 layer steps about
    // 1.3x faster with coefficient-based products, bench/), so they take those instead.
    static constexpr bool coefficient_products = In != Eigen::Dynamic && Out != Eigen::Dynamic &&
                                                 In + Out < EIGEN_GEMM_TO_COEFFBASED_THRESHOLD;

    /// dst = a·b (dst is none of the factors).
    template <typename Dst, typename A, typename B>
    static void multiply(Dst& dst, const A& a, const B& b) {
        if constexpr (coefficient_products) {
            dst.noalias() = a.lazyProduct(b);
        } else {
            dst.noalias() = a * b;
        }
    }

    /// dst += a·b (dst is none of the factors).
    template <typename Dst, typename A, typename B>
    static void multiply_add(Dst& dst, const A& a, const B& b) {
        if constexpr (coefficient_products) {
            dst.noalias() += a.lazyProduct(b);
        } else {
            dst.noalias() += a * b;
        }
    }

    static Eigen::Index checked_size(Eigen::Index size, int fixed, const char* name) {
        if (size <= 0 || (fixed != Eigen::Dynamic && size != fixed)) {
            detail::fail("Dense: ", name, " is ", size, " but must be ",
                         fixed == Eigen::Dynamic ? std::string("positive")
                                                 : std::to_string(fixed));
        }
        return size;
    }

    Input X_;  // the input of the last forward(): backward needs it for dW
    Output Z_;
    Gradients grads_;
    bool has_gradients_ = false;
    OptimizerState<Weights> W_state_;
    OptimizerState<Bias> b_state_;
};

}  // namespace backprop
