#pragma once
/// \file
/// Pooling over images: MaxPool2D and AvgPool2D, each with its hand-written backward pass.
///
/// Layout (the library's, as PyTorch's NCHW): an image batch is (batch, C·H·W), each row one
/// image, element (c, h, w) of sample n at X(n, c·H·W + h·W + w). A pooling layer slides a
/// k×k window with stride s over each channel independently; output (c, i, j) pools the input
/// rows h = i·s … i·s + k − 1 and columns w = j·s … j·s + k − 1, so
///
///     OH = ⌊(H − k) / s⌋ + 1,   OW = ⌊(W − k) / s⌋ + 1
///
/// and Y is (batch, C·OH·OW) in the same order. When (H − k) is not a multiple of s, the last
/// rows (or columns) that no whole window reaches are ignored and their gradient is 0: PyTorch
/// floors the same way (ceil_mode = False, no padding).
///
/// Loops run over the batch innermost: X is column-major, so each column (one (c, h, w) of every
/// sample) is contiguous.

#include "../detail/shape.hpp"
#include "image.hpp"

#include <Eigen/Core>

#include <cmath>
#include <string>
#include <type_traits>

namespace backprop {

namespace detail {

/// "3 channels of 5x7 (height x width)": an image shape as messages give it.
inline std::string image_text(Eigen::Index channels, Eigen::Index height, Eigen::Index width) {
    return std::to_string(channels) + " channels of " + std::to_string(height) + "x" +
           std::to_string(width) + " (height x width)";
}

}  // namespace detail

/// What MaxPool2D and AvgPool2D share: the image geometry and its checks, the owned buffers,
/// inference, settings. `Derived` provides `kind`, `pool(X, Y)` (a non-const overload for forward(),
/// which may cache, and a const one for predict()) and `unpool(dY, dX)`.
///
/// Shapes: X and dX are (batch, C·H·W); Y and dY are (batch, C·OH·OW).
template <typename Derived, typename Scalar>
class Pool2D {
    static_assert(std::is_floating_point_v<Scalar>, "pooling needs a floating-point Scalar");

public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;  ///< X, Y, dY, dX

    /// What backward() returns: the gradient of the input (no parameters).
    struct Gradients {
        Matrix dX;  ///< ∂L/∂X: (batch, C·H·W)
    };

    /// A k×k window with stride s (PyTorch's default stride is the kernel) over images of
    /// `channels` × `height` × `width`. Throws std::invalid_argument, naming the shape, unless
    /// every size is positive and the kernel fits in the image.
    Pool2D(Eigen::Index channels, Eigen::Index height, Eigen::Index width, Eigen::Index kernel,
           Eigen::Index stride)
        : C_(channels), H_(height), W_(width), k_(kernel), s_(stride) {
        if (channels <= 0 || height <= 0 || width <= 0) {
            detail::fail(Derived::kind, ": the images are ", detail::image_text(C_, H_, W_),
                         " but every size must be positive");
        }
        if (kernel <= 0 || stride <= 0) {
            detail::fail(Derived::kind, ": kernel ", kernel, " and stride ", stride,
                         " must both be positive");
        }
        if (kernel > height || kernel > width) {
            detail::fail(Derived::kind, ": the kernel ", kernel, "x", kernel,
                         " is larger than the images, ", detail::image_text(C_, H_, W_));
        }
        OH_ = (H_ - k_) / s_ + 1;
        OW_ = (W_ - k_) / s_ + 1;
    }

    Eigen::Index channels() const { return C_; }        ///< C.
    Eigen::Index height() const { return H_; }          ///< H of the input.
    Eigen::Index width() const { return W_; }           ///< W of the input.
    Eigen::Index kernel() const { return k_; }          ///< k.
    Eigen::Index stride() const { return s_; }          ///< s.
    Eigen::Index out_height() const { return OH_; }     ///< OH = ⌊(H − k)/s⌋ + 1.
    Eigen::Index out_width() const { return OW_; }      ///< OW = ⌊(W − k)/s⌋ + 1.
    Eigen::Index in() const { return C_ * H_ * W_; }    ///< Width of X: C·H·W.
    Eigen::Index out() const { return C_ * OH_ * OW_; } ///< Width of Y: C·OH·OW.
    ImageShape input_shape() const { return {C_, H_, W_}; }     ///< (C, H, W).
    ImageShape output_shape() const { return {C_, OH_, OW_}; }  ///< (C, OH, OW).

    /// f(name, value) for "channels", "height", "width", "kernel", "stride": files record them.
    template <typename F>
    void for_each_setting(F&& f) const {
        f("channels", static_cast<double>(C_));
        f("height", static_cast<double>(H_));
        f("width", static_cast<double>(W_));
        f("kernel", static_cast<double>(k_));
        f("stride", static_cast<double>(s_));
    }

    /// Y = pool(X). X is (batch, C·H·W) → Y is (batch, C·OH·OW). Caches what backward() needs
    /// (see the derived class). Throws std::invalid_argument if X is empty or not C·H·W wide.
    template <typename D>
    const Matrix& forward(const Eigen::MatrixBase<D>& X) {
        check_input("::forward", X);
        Y_.resize(X.rows(), out());
        self().pool(X.derived(), Y_);  // non-const: caches
        batch_ = X.rows();
        return Y_;
    }

    /// Y as forward() computes it, keeping nothing (thread-safe on one layer).
    template <typename D>
    Matrix predict(const Eigen::MatrixBase<D>& X) const {
        Matrix Y;
        predict(X, Y);
        return Y;
    }

    /// Y into `Y`, resized only if its shape differs. Throws as forward() does.
    template <typename D>
    void predict(const Eigen::MatrixBase<D>& X, Matrix& Y) const {
        check_input("::predict", X);
        Y.resize(X.rows(), out());
        self().pool(X.derived(), Y);  // const: caches nothing
    }

    /// dX from dY = ∂L/∂Y (see the derived class for the formula). dY is (batch, C·OH·OW) of the
    /// last forward() → dX is (batch, C·H·W). Throws std::logic_error before the first
    /// forward(), std::invalid_argument if dY has another shape; either way nothing changes.
    template <typename D>
    const Gradients& backward(const Eigen::MatrixBase<D>& dY) {
        detail::require_forward(batch_ != 0, Derived::kind, "::backward");
        if (dY.rows() != batch_ || dY.cols() != out()) {
            detail::fail(Derived::kind, "::backward: dY is ", detail::dims(dY),
                         " but Y of the last forward is ", detail::dims(batch_, out()));
        }
        grads_.dX.setZero(batch_, in());
        self().unpool(dY.derived(), grads_.dX);
        return grads_;
    }

    /// What the last backward() returned.
    const Gradients& gradients() const { return grads_; }

protected:
    /// f(output column, input column of the window's top-left corner) for every output.
    template <typename F>
    void for_each_window(F&& f) const {
        for (Eigen::Index c = 0; c < C_; ++c) {
            for (Eigen::Index i = 0; i < OH_; ++i) {
                for (Eigen::Index j = 0; j < OW_; ++j) {
                    f((c * OH_ + i) * OW_ + j, c * H_ * W_ + i * s_ * W_ + j * s_);
                }
            }
        }
    }

    /// The input column of element (u, v) of a window whose top-left corner is `corner`.
    Eigen::Index at(Eigen::Index corner, Eigen::Index u, Eigen::Index v) const {
        return corner + u * W_ + v;
    }

    Eigen::Index C_;       ///< The input's channels.
    Eigen::Index H_;       ///< The input's height.
    Eigen::Index W_;       ///< The input's width.
    Eigen::Index k_;       ///< The kernel's height and width.
    Eigen::Index s_;       ///< The stride.
    Eigen::Index OH_ = 0;  ///< The output's height.
    Eigen::Index OW_ = 0;  ///< The output's width.

private:
    const Derived& self() const { return static_cast<const Derived&>(*this); }
    Derived& self() { return static_cast<Derived&>(*this); }

    template <typename D>
    void check_input(const char* call, const Eigen::MatrixBase<D>& X) const {
        if (X.rows() == 0 || X.cols() != in()) {
            detail::fail(Derived::kind, call, ": X is ", detail::dims(X),
                         " but must be a non-empty batch of images of ",
                         detail::image_text(C_, H_, W_), ", ", in(), " columns");
        }
    }

    Matrix Y_;
    Gradients grads_;
    Eigen::Index batch_ = 0;  // the batch of the last forward(); 0 before the first
};

/// Max pooling, as `torch.nn.MaxPool2d(kernel, stride)`: each output is the largest of its k×k
/// window.
///
/// forward() caches, for each output, the input column of its maximum (the argmax): that is all
/// backward() needs. Ties go to the first maximum in the window's row-major order, and a NaN
/// wins over every number, as PyTorch's CPU kernel (`val > max || isnan(val)`).
/// Derived: \ref tutorial_pooling "Tutorial 12: Pooling and the gradient that routes".
template <typename Scalar>
class MaxPool2D : public Pool2D<MaxPool2D<Scalar>, Scalar> {
    using Base = Pool2D<MaxPool2D<Scalar>, Scalar>;
    friend Base;

public:
    using typename Base::Matrix;
    static constexpr const char* kind = "MaxPool2D";  ///< What files and error messages call it.

    /// See Pool2D: images of channels × height × width, a kernel×kernel window, the stride.
    MaxPool2D(Eigen::Index channels, Eigen::Index height, Eigen::Index width, Eigen::Index kernel,
              Eigen::Index stride)
        : Base(channels, height, width, kernel, stride) {}

    /// A window of `kernel` with stride `kernel`: PyTorch's default.
    MaxPool2D(Eigen::Index channels, Eigen::Index height, Eigen::Index width, Eigen::Index kernel)
        : MaxPool2D(channels, height, width, kernel, kernel) {}

    /// The same layer in another scalar type (nothing cached).
    template <typename Other>
    MaxPool2D<Other> cast() const {
        return MaxPool2D<Other>(this->C_, this->H_, this->W_, this->k_, this->s_);
    }

private:
    using Argmax = Eigen::Matrix<Eigen::Index, Eigen::Dynamic, Eigen::Dynamic>;

    // forward(): Y and the argmax it caches.
    template <typename X>
    void pool(const X& input, Matrix& Y) {
        argmax_.resize(input.rows(), Y.cols());
        pool_into(input, Y, &argmax_);
    }

    // predict(): Y only.
    template <typename X>
    void pool(const X& input, Matrix& Y) const {
        pool_into(input, Y, nullptr);
    }

    // Y[n][o] = max over the window of o of X[n][·]; argmax[n][o] = its column, when given.
    template <typename X>
    void pool_into(const X& input, Matrix& Y, Argmax* argmax) const {
        const Eigen::Index batch = input.rows();
        this->for_each_window([&](Eigen::Index o, Eigen::Index corner) {
            for (Eigen::Index n = 0; n < batch; ++n) {
                Scalar best = input(n, corner);
                Eigen::Index where = corner;
                for (Eigen::Index u = 0; u < this->k_; ++u) {
                    for (Eigen::Index v = 0; v < this->k_; ++v) {
                        const Eigen::Index col = this->at(corner, u, v);
                        const Scalar x = input(n, col);
                        if (x > best || std::isnan(x)) {
                            best = x;
                            where = col;
                        }
                    }
                }
                Y(n, o) = best;
                if (argmax != nullptr) (*argmax)(n, o) = where;
            }
        });
    }

    // In the forward pass Y[n][o] = X[n][a] with a = argmax[n][o], so ∂Y[n][o]/∂X[n][i] = [i = a]
    // and
    //
    //     dX[n][i] = Σ_o dY[n][o]·[argmax[n][o] = i]
    //
    // every gradient routed to the input that won its window; inputs that won no window get 0.
    // With stride < kernel, windows overlap and one input can win several: their gradients add.
    template <typename D>
    void unpool(const D& dY, Matrix& dX) const {
        for (Eigen::Index o = 0; o < dY.cols(); ++o) {
            for (Eigen::Index n = 0; n < dY.rows(); ++n) {
                dX(n, argmax_(n, o)) += dY(n, o);
            }
        }
    }

    Argmax argmax_;  // argmax_[n][o]: the column of X that output o of sample n took
};

/// Average pooling, as `torch.nn.AvgPool2d(kernel, stride)`: each output is the mean of its
/// k×k window. forward() caches nothing but the batch size: the gradient does not depend on X.
/// Derived: \ref tutorial_pooling "Tutorial 12: Pooling and the gradient that routes".
template <typename Scalar>
class AvgPool2D : public Pool2D<AvgPool2D<Scalar>, Scalar> {
    using Base = Pool2D<AvgPool2D<Scalar>, Scalar>;
    friend Base;

public:
    using typename Base::Matrix;
    static constexpr const char* kind = "AvgPool2D";  ///< What files and error messages call it.

    /// See Pool2D: images of channels × height × width, a kernel×kernel window, the stride.
    AvgPool2D(Eigen::Index channels, Eigen::Index height, Eigen::Index width, Eigen::Index kernel,
              Eigen::Index stride)
        : Base(channels, height, width, kernel, stride) {}

    /// A window of `kernel` with stride `kernel`: PyTorch's default.
    AvgPool2D(Eigen::Index channels, Eigen::Index height, Eigen::Index width, Eigen::Index kernel)
        : AvgPool2D(channels, height, width, kernel, kernel) {}

    /// The same layer in another scalar type (nothing cached).
    template <typename Other>
    AvgPool2D<Other> cast() const {
        return AvgPool2D<Other>(this->C_, this->H_, this->W_, this->k_, this->s_);
    }

private:
    // Y[n][o] = (1/k²)·Σ_{window of o} X[n][i], a column at a time.
    template <typename X>
    void pool(const X& input, Matrix& Y) const {
        const Scalar scale = Scalar(1) / Scalar(this->k_ * this->k_);
        this->for_each_window([&](Eigen::Index o, Eigen::Index corner) {
            Y.col(o).setZero();
            for (Eigen::Index u = 0; u < this->k_; ++u) {
                for (Eigen::Index v = 0; v < this->k_; ++v) {
                    Y.col(o) += input.col(this->at(corner, u, v));
                }
            }
            Y.col(o) *= scale;
        });
    }

    // In the forward pass Y[n][o] = (1/k²)·Σ_{i ∈ window(o)} X[n][i], so ∂Y[n][o]/∂X[n][i] =
    // 1/k² when i is in o's window, else 0, and
    //
    //     dX[n][i] = (1/k²)·Σ_{o : i ∈ window(o)} dY[n][o]
    //
    // each output's gradient spread evenly over its window (added where windows overlap).
    template <typename D>
    void unpool(const D& dY, Matrix& dX) const {
        const Scalar scale = Scalar(1) / Scalar(this->k_ * this->k_);
        this->for_each_window([&](Eigen::Index o, Eigen::Index corner) {
            for (Eigen::Index u = 0; u < this->k_; ++u) {
                for (Eigen::Index v = 0; v < this->k_; ++v) {
                    dX.col(this->at(corner, u, v)) += scale * dY.col(o);
                }
            }
        });
    }
};

}  // namespace backprop
