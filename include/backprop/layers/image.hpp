#pragma once
/// \file
/// What layers that take images share: the shape of an image, a 2-D size (kernel, stride), zero
/// padding, the output-size formula, and the checks whose messages name channels, height and
/// width.
///
/// The layout, the same for every image layer: an image batch is (batch, C·H·W), one row per
/// image flattened in PyTorch's NCHW order, so element (c, h, w) of sample n is
/// X(n, c·H·W + h·W + w). A layer that takes images knows its C, H and W.

#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <string>

namespace backprop {

/// The shape of one image: channels × height × width (C, H, W).
struct ImageShape {
    Eigen::Index channels = 0;  ///< C
    Eigen::Index height = 0;    ///< H
    Eigen::Index width = 0;     ///< W

    /// C·H·W: the width of a row of an image batch.
    Eigen::Index size() const { return channels * height * width; }

    /// The column of element (c, h, w) in a row: c·H·W + h·W + w.
    Eigen::Index index(Eigen::Index c, Eigen::Index h, Eigen::Index w) const {
        return (c * height + h) * width + w;
    }

    /// Whether two shapes are the same in C, H and W.
    friend bool operator==(const ImageShape& a, const ImageShape& b) {
        return a.channels == b.channels && a.height == b.height && a.width == b.width;
    }
    /// Whether two shapes differ in C, H or W.
    friend bool operator!=(const ImageShape& a, const ImageShape& b) { return !(a == b); }
};

/// A height and a width: a kernel's or a stride's. One number means the same for both.
struct Size2D {
    Eigen::Index height = 0;  ///< Along the rows of the image.
    Eigen::Index width = 0;   ///< Along the columns.

    /// `both` × `both`: 5 means 5x5 (implicit on purpose).
    Size2D(Eigen::Index both) : height(both), width(both) {}  // NOLINT(google-explicit-constructor)
    /// `height_` × `width_`.
    Size2D(Eigen::Index height_, Eigen::Index width_) : height(height_), width(width_) {}
};

/// Zero padding around an image: rows of zeros above (`top`) and below (`bottom`), columns on
/// the left and right. `Padding(1)` is one of each all round, `Padding(2, 1)` two rows above and
/// below and one column on each side, as PyTorch's `padding=(2, 1)`; Padding::valid() is none.
/// Padding::same() is PyTorch's `padding="same"`: the layer resolves it from its kernel so that
/// with stride 1 the output has the input's height and width (kernel − 1 zeros in all, the odd
/// one, for an even kernel, below and on the right).
struct Padding {
    Eigen::Index top = 0;     ///< Rows of zeros above.
    Eigen::Index bottom = 0;  ///< Rows of zeros below.
    Eigen::Index left = 0;    ///< Columns of zeros on the left.
    Eigen::Index right = 0;   ///< Columns of zeros on the right.
    bool is_same = false;     ///< Padding::same(), not yet resolved from a kernel.

    Padding() = default;                                      ///< No padding ("valid").
    /// `both` zeros all round: 1 means 1 (implicit on purpose).
    Padding(Eigen::Index both) : Padding(both, both) {}  // NOLINT(google-explicit-constructor)
    /// `height` rows above and below, `width` columns left and right.
    Padding(Eigen::Index height, Eigen::Index width)
        : top(height), bottom(height), left(width), right(width) {}

    static Padding valid() { return Padding(); }  ///< None: PyTorch's `padding="valid"`.

    /// PyTorch's `padding="same"` (stride 1 only).
    static Padding same() {
        Padding padding;
        padding.is_same = true;
        return padding;
    }

    /// The padding that keeps the size with `kernel` at stride 1, if this is same(); else this.
    Padding resolved(const Size2D& kernel) const {
        if (!is_same) {
            return *this;
        }
        Padding padding;
        padding.top = (kernel.height - 1) / 2;
        padding.bottom = kernel.height - 1 - padding.top;
        padding.left = (kernel.width - 1) / 2;
        padding.right = kernel.width - 1 - padding.left;
        return padding;
    }
};

namespace detail {

/// "3 channels, height 28, width 28".
inline std::string describe(const ImageShape& shape) {
    return std::to_string(shape.channels) + " channels, height " + std::to_string(shape.height) +
           ", width " + std::to_string(shape.width);
}

/// The output length along one axis: ⌊(in + before + after − kernel) / stride⌋ + 1, the number
/// of kernel positions, `stride` apart, that fit in the padded input (as PyTorch's formula).
inline Eigen::Index output_size(Eigen::Index in, Eigen::Index kernel, Eigen::Index stride,
                                Eigen::Index before, Eigen::Index after) {
    return (in + before + after - kernel) / stride + 1;
}

/// Throws std::invalid_argument "<kind>: the input image is 0 channels, height 28, width 28 but
/// every size must be positive" unless C, H and W are positive.
inline void require_image_shape(const char* kind, const ImageShape& shape) {
    if (shape.channels <= 0 || shape.height <= 0 || shape.width <= 0) {
        fail(kind, ": the input image is ", describe(shape), " but every size must be positive");
    }
}

/// The check of every image layer's forward() and predict(): X is a non-empty batch of images
/// of `shape`, C·H·W wide. Throws std::invalid_argument "<call>: X is 4x784 but the layer
/// expects a non-empty batch of images of 3 channels, height 28, width 28 (2352 columns)",
/// adding "; 784 columns are 1 channels of 28x28" when X's width fits another channel count.
template <typename D>
void require_images(const char* call, const Eigen::EigenBase<D>& X, const ImageShape& shape) {
    if (X.rows() == 0 || X.cols() != shape.size()) {
        const Eigen::Index plane = shape.height * shape.width;
        std::string hint;
        if (X.cols() != shape.size() && X.cols() > 0 && X.cols() % plane == 0) {
            hint = "; " + std::to_string(X.cols()) + " columns are " +
                   std::to_string(X.cols() / plane) + " channels of " +
                   std::to_string(shape.height) + "x" + std::to_string(shape.width);
        }
        fail(call, ": X is ", dims(X), " but the layer expects a non-empty batch of images of ",
             describe(shape), " (", shape.size(), " columns)", hint);
    }
}

}  // namespace detail
}  // namespace backprop
