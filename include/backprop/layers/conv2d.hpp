#pragma once
/// \file
/// The 2-D convolution Y = W ⋆ X + b as im2col and one matrix product, and its hand-written
/// backward pass.

#include "../detail/shape.hpp"
#include "image.hpp"
#include "init.hpp"
#include "parameter.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

namespace backprop {

/// A 2-D convolution (strictly, a cross-correlation, as `torch.nn.Conv2d`):
///
///     Y[n][f][oh][ow] = b[f] + Σ_{c,i,j} W[f][c][i][j] · Xp[n][c][oh·sh + i][ow·sw + j]
///
/// where Xp is X with the zero padding around it, (kh, kw) the kernel and (sh, sw) the stride.
///
/// Shapes (rows are samples, images flattened NCHW as layers/image.hpp says): X is
/// (batch, C·H·W), Y is (batch, F·OH·OW) with OH = ⌊(H + top + bottom − kh)/sh⌋ + 1 and OW
/// likewise. W is (F, K) with K = C·kh·kw: row f is torch's weight[f] flattened in (c, i, j)
/// order, column k = c·kh·kw + i·kw + j; b is (1, F). So `W = weight.reshape(F, -1)` and
/// `b = bias.reshape(1, -1)` copy a PyTorch layer across, and the default initialisation is
/// PyTorch's.
///
/// How it computes, with P = OH·OW output positions and N = batch·P:
///   - im2col: `cols` (N, K) holds in row r = p·batch + n the K input values that output
///     position p = oh·OW + ow of sample n sees: cols[r][k] = Xp[n][c][oh·sh + i][ow·sw + j].
///     The rows run over the samples fastest, because X is column-major: for a fixed (k, p) the
///     batch's values are one contiguous column segment of X, copied as a block.
///   - one GEMM: Zc = cols·Wᵀ + b, (N, F): Zc[p·batch + n][f] = Y[n][f][p].
///   - Zc in column-major order is f, then p, then n, which is exactly the memory of Y
///     (batch, F·P) in column-major order (column f·P + p, row n): the GEMM writes into Y's
///     storage and the "rearrangement" to NCHW costs nothing.
///
/// forward() keeps `cols` (im2col of X), which is exactly what backward() needs: dW is a product
/// with it and dX only needs the shapes. predict() computes the same Y and keeps nothing (it
/// builds its own `cols`, so it allocates that per call). The matrices that forward() and
/// backward() return are buffers owned by the layer, valid until the next call of the same
/// function; once the shapes stop changing nothing is allocated.
///
/// The layer holds what trains it, as Dense does: dW and db of the last backward(), and the
/// optimiser's state for W and for b. A layer made without bias has b = 0, never visited by
/// for_each_parameter(), so no optimiser moves it.
///
/// Derived, with im2col and col2im: \ref tutorial_convolution "Tutorial 11: Convolution as a matrix product".
///
/// \tparam Scalar float or double.
template <typename Scalar>
class Conv2D {
    static_assert(std::is_floating_point_v<Scalar>, "Conv2D needs a floating-point Scalar");

public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;  ///< Any of them.
    using Weights = Matrix;                                   ///< W: (F, C·kh·kw)
    using Bias = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;    ///< b: (1, F)
    using Input = Matrix;                                     ///< X and dX: (batch, C·H·W)
    using Output = Matrix;                                    ///< Y and dY: (batch, F·OH·OW)

    /// What file formats and error messages call this kind of layer.
    static constexpr const char* kind = "Conv2D";

    /// The gradients of the loss L with respect to the layer's parameters and its input;
    /// each has the shape of what it differentiates.
    struct Gradients {
        Weights dW;  ///< ∂L/∂W: (F, C·kh·kw)
        Bias db;     ///< ∂L/∂b: (1, F); zero for a layer without bias
        Input dX;    ///< ∂L/∂X: (batch, C·H·W), the dY of the layer before this one
    };

    Weights W;  ///< The kernels, one per row: (F, C·kh·kw).
    Bias b;     ///< The bias of each output channel: (1, F).

    /// A convolution of images of shape `input` (C, H, W) into `out_channels` (F) channels with
    /// a `kernel` (kh, kw), moved `stride` (sh, sw) at a time over the image padded with
    /// `padding`; W and b drawn from `init` with `seed` (fan_in = C·kh·kw, fan_out = F·kh·kw).
    /// Without `bias`, b is zero and not trained (PyTorch's bias=False).
    ///
    /// Throws std::invalid_argument if a size, the kernel or the stride is not positive, a
    /// padding is negative, Padding::same() has a stride other than 1, or the kernel is larger
    /// than the padded image.
    Conv2D(ImageShape input, Eigen::Index out_channels, Size2D kernel, Size2D stride = 1,
           Padding padding = Padding::valid(), std::uint64_t seed = 0, Init init = Init::pytorch,
           bool bias = true)
        : input_(input), kernel_(kernel), stride_(stride), padding_(padding.resolved(kernel)),
          bias_(bias) {
        check_settings(out_channels, padding);
        output_ = {out_channels,
                   detail::output_size(input_.height, kernel_.height, stride_.height,
                                       padding_.top, padding_.bottom),
                   detail::output_size(input_.width, kernel_.width, stride_.width,
                                       padding_.left, padding_.right)};
        W.resize(out_channels, patch());
        b.resize(1, out_channels);
        detail::initialize(W, b, init, seed, patch(),
                           out_channels * kernel_.height * kernel_.width);
        if (!bias_) {
            b.setZero();
        }
        grads_.dW.setZero(W.rows(), W.cols());
        grads_.db.setZero(1, W.rows());
    }

    Eigen::Index in() const { return input_.size(); }    ///< C·H·W: the width of X.
    Eigen::Index out() const { return output_.size(); }  ///< F·OH·OW: the width of Y.
    const ImageShape& input_shape() const { return input_; }    ///< (C, H, W).
    const ImageShape& output_shape() const { return output_; }  ///< (F, OH, OW).
    const Size2D& kernel() const { return kernel_; }            ///< (kh, kw).
    const Size2D& stride() const { return stride_; }            ///< (sh, sw).
    const Padding& padding() const { return padding_; }  ///< Resolved: same() is now amounts.
    bool has_bias() const { return bias_; }              ///< Whether b is trained.

    /// Y = W ⋆ X + b: im2col of X into `cols`, then Zc = cols·Wᵀ + b written into Y's storage.
    ///
    /// X is (batch, C·H·W) → Y is (batch, F·OH·OW). Keeps `cols` for backward().
    /// Throws std::invalid_argument if X is empty or is not C·H·W wide; nothing changes then.
    template <typename Derived>
    const Output& forward(const Eigen::MatrixBase<Derived>& X) {
        detail::require_images("Conv2D::forward", X, input_);
        convolve(X.derived(), cols_, Y_);
        return Y_;
    }

    /// Y as forward() computes it, keeping nothing: what backward() needs is untouched. Safe to
    /// call from several threads at once on one layer. Allocates its own im2col matrix.
    ///
    /// X is (batch, C·H·W) → Y is (batch, F·OH·OW), a new matrix. Throws as forward() does.
    template <typename Derived>
    Output predict(const Eigen::MatrixBase<Derived>& X) const {
        Output Y;
        predict(X, Y);
        return Y;
    }

    /// Y into `Y`, which is resized only if its shape differs. Y must not be X. Throws as
    /// forward() does, before writing Y.
    template <typename Derived>
    void predict(const Eigen::MatrixBase<Derived>& X, Output& Y) const {
        detail::require_images("Conv2D::predict", X, input_);
        Matrix cols;
        convolve(X.derived(), cols, Y);
    }

    /// The gradients of L, given dY = ∂L/∂Y.
    ///
    /// dY is (batch, F·OH·OW) → dW (F, C·kh·kw), db (1, F), dX (batch, C·H·W). Viewed as dZc
    /// (N, F), the same memory (see the class comment), the forward pass was Zc = cols·Wᵀ + b,
    /// Zc[r][f] = Σ_k cols[r][k]·W[f][k] + b[f], a Dense layer on the rows of cols. So, as for
    /// Dense:
    ///
    ///     dW = dZcᵀ·cols     ∂L/∂W[f][k] = Σ_r dZc[r][f]·cols[r][k]
    ///     db = Σ_rows dZc    ∂L/∂b[f]    = Σ_r dZc[r][f]  (over the batch and the positions)
    ///     dcols = dZc·W      ∂L/∂cols[r][k] = Σ_f dZc[r][f]·W[f][k]
    ///
    /// Per element, dW[f][c][i][j] = Σ_{n,oh,ow} dY[n][f][oh][ow]·Xp[n][c][oh·sh + i][ow·sw + j]:
    /// the weight gradient is a correlation of the (padded) input with dY.
    ///
    /// dX comes from dcols by col2im, the transpose of im2col: each cols[r][k] was a copy of one
    /// input pixel (or of a padding zero), so each dcols[r][k] is added back to that pixel's dX
    /// (and dropped for padding). Per element, with oh·sh + i − top = h and ow·sw + j − left = w,
    ///
    ///     dX[n][c][h][w] = Σ_{f,i,j} dY[n][f][(h + top − i)/sh][(w + left − j)/sw]·W[f][c][i][j]
    ///
    /// over the (i, j) whose quotients are whole and inside dY. At stride 1, writing
    /// i' = kh − 1 − i, this is Σ dYp[n][f][h + i'][w + j']·W[f][c][kh − 1 − i'][kw − 1 − j'] with
    /// dY padded by kh − 1 − top rows above (kw − 1 − left columns on the left): a "full"
    /// convolution of dY with the flipped kernel. At stride s, dY is first spread out with s − 1
    /// zeros between its elements. col2im computes the same sum without the zeros.
    ///
    /// The sums run over the batch without dividing: only the loss divides. With
    /// GradientMode::accumulate, dW and db are added to those held (dX is always this batch's).
    /// dY may be this layer's own dX: it is read whole before dX is written.
    ///
    /// Throws std::logic_error before the first forward(), std::invalid_argument if dY is not
    /// (batch, F·OH·OW) of the last forward(); either way nothing changes.
    template <typename Derived>
    const Gradients& backward(const Eigen::MatrixBase<Derived>& dY,
                              GradientMode mode = GradientMode::replace) {
        check_backward("Conv2D::backward", dY);
        const Eigen::Index batch = Y_.rows();
        const auto dZc = as_columns(dY.derived());
        parameter_gradients(dZc, mode);
        dcols_.noalias() = dZc * W;  // dcols = dZc·W: (N, K); dY is not read after this
        grads_.dX.setZero(batch, in());
        col2im(dcols_, grads_.dX);
        return grads_;
    }

    /// dW and db as backward() computes them, without dcols and dX: for the first layer of a
    /// network, whose X is the data (Sequential calls it there). dX is left empty (0, C·H·W).
    /// Throws as backward() does.
    template <typename Derived>
    const Gradients& backward_parameters(const Eigen::MatrixBase<Derived>& dY,
                                         GradientMode mode = GradientMode::replace) {
        check_backward("Conv2D::backward_parameters", dY);
        parameter_gradients(as_columns(dY.derived()), mode);
        grads_.dX.resize(0, in());
        return grads_;
    }

    /// The gradients of the last backward() (zero before the first).
    const Gradients& gradients() const { return grads_; }

    /// Whether dW and db hold the gradients of a backward() since construction or the last
    /// clear_gradients(): optimisers refuse to step a layer without them.
    bool has_gradients() const { return has_gradients_; }

    /// Sets dW and db to zero and has_gradients() to false. The optimiser's state is kept.
    void clear_gradients() {
        grads_.dW.setZero();
        grads_.db.setZero();
        has_gradients_ = false;
    }

    /// The gradients of an empty batch: dW and db zero, and held (has_gradients() true), as
    /// Dense::zero_gradients(). The optimiser's state is kept.
    void zero_gradients() {
        clear_gradients();
        has_gradients_ = true;
    }

    /// f(Parameter) for W, then for b (unless the layer has no bias). The order of model files.
    template <typename F>
    void for_each_parameter(F&& f) {
        f(Parameter<Weights>{"W", W, grads_.dW, W_state_});
        if (bias_) {
            f(Parameter<Bias>{"b", b, grads_.db, b_state_});
        }
    }

    /// f(ConstParameter) for W, then for b (unless the layer has no bias).
    template <typename F>
    void for_each_parameter(F&& f) const {
        f(ConstParameter<Weights>{"W", W, grads_.dW, W_state_});
        if (bias_) {
            f(ConstParameter<Bias>{"b", b, grads_.db, b_state_});
        }
    }

    /// f(name, value) for what defines the architecture: the input image, the output channels,
    /// kernel, stride, the resolved padding and whether there is a bias. Files record them.
    template <typename F>
    void for_each_setting(F&& f) const {
        f("in_channels", static_cast<double>(input_.channels));
        f("height", static_cast<double>(input_.height));
        f("width", static_cast<double>(input_.width));
        f("out_channels", static_cast<double>(output_.channels));
        f("kernel_height", static_cast<double>(kernel_.height));
        f("kernel_width", static_cast<double>(kernel_.width));
        f("stride_height", static_cast<double>(stride_.height));
        f("stride_width", static_cast<double>(stride_.width));
        f("padding_top", static_cast<double>(padding_.top));
        f("padding_bottom", static_cast<double>(padding_.bottom));
        f("padding_left", static_cast<double>(padding_.left));
        f("padding_right", static_cast<double>(padding_.right));
        f("bias", bias_ ? 1.0 : 0.0);
    }

    /// The same layer in another scalar type (its parameters cast; no gradients, no optimiser
    /// state, nothing cached).
    template <typename Other>
    Conv2D<Other> cast() const {
        Conv2D<Other> other(input_, output_.channels, kernel_, stride_, padding_, 0, Init::pytorch,
                            bias_);
        other.W = W.template cast<Other>();
        other.b = b.template cast<Other>();
        return other;
    }

private:
    Eigen::Index patch() const { return input_.channels * kernel_.height * kernel_.width; }

    // Y = W ⋆ X + b through `cols`: im2col, then Zc = cols·Wᵀ + b into Y's storage.
    template <typename X>
    void convolve(const X& input, Matrix& cols, Output& Y) const {
        const Eigen::Index batch = input.rows();
        const Eigen::Index positions = output_.height * output_.width;
        if constexpr (!bool(X::Flags & Eigen::RowMajorBit) &&
                      bool(X::Flags & Eigen::DirectAccessBit)) {
            if (input.innerStride() == 1) {
                im2col(input, cols);
            } else {
                im2col(Input(input), cols);
            }
        } else {
            im2col(Input(input), cols);  // gather from a column-major copy
        }
        Y.resize(batch, out());
        Eigen::Map<Matrix> Zc(Y.data(), batch * positions, output_.channels);
        Zc.noalias() = cols * W.transpose();
        if (bias_) {
            Zc.rowwise() += b;
        }
    }

    // cols[p·batch + n][c·kh·kw + i·kw + j] = Xp[n][c][oh·sh + i][ow·sw + j], p = oh·OW + ow.
    //
    // Column k of cols, for one oh, is a run of OW blocks of `batch` values; each block is the
    // column c·H·W + h·W + w of X (contiguous, X being column-major), or zeros in the padding.
    // The loops write cols in memory order and read X a column at a time. `input` is
    // column-major with contiguous columns (convolve() copies anything else).
    template <typename X>
    void im2col(const X& input, Matrix& cols) const {
        const Eigen::Index batch = input.rows();
        const Eigen::Index OH = output_.height;
        const Eigen::Index OW = output_.width;
        cols.resize(batch * OH * OW, patch());
        for (Eigen::Index c = 0; c < input_.channels; ++c) {
            for (Eigen::Index i = 0; i < kernel_.height; ++i) {
                for (Eigen::Index j = 0; j < kernel_.width; ++j) {
                    const Eigen::Index k = (c * kernel_.height + i) * kernel_.width + j;
                    Scalar* column = cols.col(k).data();
                    for (Eigen::Index oh = 0; oh < OH; ++oh) {
                        const Eigen::Index h = oh * stride_.height + i - padding_.top;
                        Scalar* run = column + oh * OW * batch;
                        if (h < 0 || h >= input_.height) {
                            std::fill(run, run + OW * batch, Scalar(0));
                            continue;
                        }
                        for (Eigen::Index ow = 0; ow < OW; ++ow) {
                            const Eigen::Index w = ow * stride_.width + j - padding_.left;
                            Scalar* block = run + ow * batch;
                            if (w < 0 || w >= input_.width) {
                                std::fill(block, block + batch, Scalar(0));
                            } else {
                                const Scalar* from =
                                    input.data() + input_.index(c, h, w) * input.outerStride();
                                std::copy(from, from + batch, block);
                            }
                        }
                    }
                }
            }
        }
    }

    // The transpose of im2col: dX[n][c][h][w] += dcols[p·batch + n][k] for every (p, k) that
    // im2col copied from pixel (c, h, w); the padding's entries are dropped. Same loop order
    // as im2col: dcols is read in memory order, dX is added to a contiguous column at a time.
    void col2im(const Matrix& dcols, Input& dX) const {
        const Eigen::Index batch = dX.rows();
        const Eigen::Index OH = output_.height;
        const Eigen::Index OW = output_.width;
        for (Eigen::Index c = 0; c < input_.channels; ++c) {
            for (Eigen::Index i = 0; i < kernel_.height; ++i) {
                for (Eigen::Index j = 0; j < kernel_.width; ++j) {
                    const Eigen::Index k = (c * kernel_.height + i) * kernel_.width + j;
                    for (Eigen::Index oh = 0; oh < OH; ++oh) {
                        const Eigen::Index h = oh * stride_.height + i - padding_.top;
                        if (h < 0 || h >= input_.height) {
                            continue;
                        }
                        for (Eigen::Index ow = 0; ow < OW; ++ow) {
                            const Eigen::Index w = ow * stride_.width + j - padding_.left;
                            if (w >= 0 && w < input_.width) {
                                dX.col(input_.index(c, h, w)) +=
                                    dcols.col(k).segment((oh * OW + ow) * batch, batch);
                            }
                        }
                    }
                }
            }
        }
    }

    // dY (batch, F·P) seen as dZc (N, F): the same memory when dY is a column-major matrix
    // whose columns are contiguous; otherwise dY is copied into a buffer first.
    template <typename D>
    Eigen::Map<const Matrix> as_columns(const D& dY) {
        const Eigen::Index rows = Y_.rows() * output_.height * output_.width;
        if constexpr (!bool(D::Flags & Eigen::RowMajorBit) &&
                      bool(D::Flags & Eigen::DirectAccessBit)) {
            if (dY.innerStride() == 1 && dY.outerStride() == dY.rows()) {
                return Eigen::Map<const Matrix>(dY.data(), rows, output_.channels);
            }
        }
        dY_ = dY;
        return Eigen::Map<const Matrix>(dY_.data(), rows, output_.channels);
    }

    template <typename Derived>
    void check_backward(const char* call, const Eigen::MatrixBase<Derived>& dY) const {
        detail::require_forward(cols_.rows() != 0, call);
        if (dY.rows() != Y_.rows() || dY.cols() != Y_.cols()) {
            detail::fail(call, ": dY is ", detail::dims(dY), " but Y of the last forward is ",
                         detail::dims(Y_), " (batch, ", output_.channels, " channels x ",
                         output_.height, " x ", output_.width, ")");
        }
    }

    // dW = dZcᵀ·cols and db = Σ_rows dZc, or added to them.
    void parameter_gradients(const Eigen::Map<const Matrix>& dZc, GradientMode mode) {
        const bool add = mode == GradientMode::accumulate && has_gradients_;
        if (add) {
            grads_.dW.noalias() += dZc.transpose() * cols_;
        } else {
            grads_.dW.noalias() = dZc.transpose() * cols_;
        }
        if (bias_) {
            if (add) {
                grads_.db += dZc.colwise().sum();
            } else {
                grads_.db = dZc.colwise().sum();
            }
        }
        has_gradients_ = true;
    }

    void check_settings(Eigen::Index out_channels, const Padding& padding) const {
        detail::require_image_shape("Conv2D", input_);
        if (out_channels <= 0) {
            detail::fail("Conv2D: out_channels is ", out_channels, " but must be positive");
        }
        if (kernel_.height <= 0 || kernel_.width <= 0) {
            detail::fail("Conv2D: the kernel is ", kernel_.height, "x", kernel_.width,
                         " but must be positive");
        }
        if (stride_.height <= 0 || stride_.width <= 0) {
            detail::fail("Conv2D: the stride is ", stride_.height, "x", stride_.width,
                         " but must be positive");
        }
        if (padding.is_same && (stride_.height != 1 || stride_.width != 1)) {
            detail::fail("Conv2D: padding \"same\" needs stride 1 but the stride is ",
                         stride_.height, "x", stride_.width);
        }
        if (padding_.top < 0 || padding_.bottom < 0 || padding_.left < 0 || padding_.right < 0) {
            detail::fail("Conv2D: the padding is ", padding_.top, ", ", padding_.bottom, ", ",
                         padding_.left, ", ", padding_.right,
                         " (top, bottom, left, right) but must not be negative");
        }
        const Eigen::Index padded_height = input_.height + padding_.top + padding_.bottom;
        const Eigen::Index padded_width = input_.width + padding_.left + padding_.right;
        if (kernel_.height > padded_height || kernel_.width > padded_width) {
            detail::fail("Conv2D: the kernel is ", kernel_.height, "x", kernel_.width,
                         " but the padded image is only ", padded_height, "x", padded_width,
                         " (", detail::describe(input_), ", padding ", padding_.top, ", ",
                         padding_.bottom, ", ", padding_.left, ", ", padding_.right,
                         " top, bottom, left, right)");
        }
    }

    ImageShape input_;   // (C, H, W)
    ImageShape output_;  // (F, OH, OW)
    Size2D kernel_;
    Size2D stride_;
    Padding padding_;    // resolved: never is_same
    bool bias_;
    Matrix cols_;   // im2col of the last forward's X, (N, K): backward needs it for dW
    Output Y_;      // the last forward's Y, (batch, F·P); also Zc (N, F) in the same memory
    Matrix dcols_;  // dZc·W of the last backward, (N, K)
    Matrix dY_;     // dY copied when it is not a plain column-major matrix
    Gradients grads_;
    bool has_gradients_ = false;
    OptimizerState<Weights> W_state_;
    OptimizerState<Bias> b_state_;
};

}  // namespace backprop
