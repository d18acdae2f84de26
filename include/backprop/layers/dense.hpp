#pragma once
/// \file
/// The fully connected layer Z = X·W + b, and its hand-written backward pass.

#include "../detail/shape.hpp"
#include "init.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <stdexcept>
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
/// products with X. The matrices that forward() and backward() return are buffers owned by the
/// layer, valid until the next call of the same function; once the shapes stop changing they are
/// reused without allocating.
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
        if (X.rows() == 0 || X.cols() != in()) {
            detail::fail("Dense::forward: X is ", detail::dims(X), " but the layer expects ",
                         "a non-empty batch of ", in(), " inputs");
        }
        X_ = X;
        multiply(Z_, X_, W);
        Z_.rowwise() += b;
        return Z_;
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
    /// batch without dividing: only the loss divides by the number of samples.
    ///
    /// Throws std::logic_error before the first forward(), std::invalid_argument if dZ is not
    /// (batch, out) of the last forward().
    template <typename Derived>
    const Gradients& backward(const Eigen::MatrixBase<Derived>& dZ) {
        parameter_gradients("Dense::backward", dZ);
        multiply(grads_.dX, dZ, W.transpose());
        return grads_;
    }

    /// dW and db as backward() computes them, without dX = dZ·Wᵀ.
    ///
    /// For the first layer of a network, whose X is the data: nothing needs ∂L/∂X there, and
    /// skipping its product saves a third of the layer's backward arithmetic (PyTorch skips it
    /// too, as the data does not require a gradient). dX is left empty (0, in), so using it by
    /// mistake is a shape error, not stale numbers. Throws as backward() does.
    template <typename Derived>
    const Gradients& backward_parameters(const Eigen::MatrixBase<Derived>& dZ) {
        parameter_gradients("Dense::backward_parameters", dZ);
        grads_.dX.resize(0, in());
        return grads_;
    }

    /// The same layer in another scalar type (its parameters cast; nothing cached).
    template <typename Other>
    Dense<Other, In, Out> cast() const {
        Dense<Other, In, Out> other(in(), out());
        other.W = W.template cast<Other>();
        other.b = b.template cast<Other>();
        return other;
    }

private:
    // dW = Xᵀ·dZ and db = Σ_rows dZ, after checking the call and dZ's shape.
    template <typename Derived>
    void parameter_gradients(const char* call, const Eigen::MatrixBase<Derived>& dZ) {
        if (X_.rows() == 0) {
            throw std::logic_error(std::string(call) + ": called before forward()");
        }
        if (dZ.rows() != Z_.rows() || dZ.cols() != Z_.cols()) {
            detail::fail(call, ": dZ is ", detail::dims(dZ), " but Z of the last forward is ",
                         detail::dims(Z_));
        }
        multiply(grads_.dW, X_.transpose(), dZ);
        grads_.db = dZ.colwise().sum();
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
};

}  // namespace backprop
