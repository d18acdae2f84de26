// Tutorial page 11, Convolution as a matrix product: im2col on a 3×3 image small enough to check
// by hand, Z = cols·Wᵀ, the weight gradient as a correlation of the input with dZ and the input
// gradient as a full convolution of dZ with the flipped kernel; the gradient check of dW, db and
// dX against finite differences (stride 2, padding, two channels), and every case of
// tests/reference/pytorch_reference_conv.hpp against PyTorch's numbers.
// Prints what docs/11_convolution.md shows; exits non-zero if a check fails or a number differs
// from PyTorch's by more than 1e-12 relative to the largest.
#include "../tests/reference/pytorch_reference_conv.hpp"
#include "pytorch_compare.hpp"
#include "tutorial_parts.hpp"

#include <backprop/backprop.hpp>

#include <cstdio>

namespace bp = backprop;
using example::compare;     // pytorch_compare.hpp: one line per comparison with PyTorch
using example::from_torch;  // pytorch_compare.hpp: PyTorch's row-by-row numbers as a matrix

namespace {

void print(const char* name, const Eigen::MatrixXd& m) {
    std::printf("%s (%ld x %ld)\n", name, long(m.rows()), long(m.cols()));
    for (Eigen::Index r = 0; r < m.rows(); ++r) {
        std::printf("   ");
        for (Eigen::Index c = 0; c < m.cols(); ++c) std::printf("%6g", m(r, c));
        std::printf("\n");
    }
}

// [im2col]
// im2col of one image of one channel, for a kh × kw kernel, stride 1, no padding: row
// p = oh·OW + ow of cols holds the kh·kw pixels that output (oh, ow) sees, in the order
// (i, j) of the kernel: cols[p][i·kw + j] = X[oh + i][ow + j].
using Index = Eigen::Index;
Eigen::MatrixXd im2col(const Eigen::MatrixXd& image, Index kh, Index kw) {
    const Index OH = image.rows() - kh + 1, OW = image.cols() - kw + 1;
    Eigen::MatrixXd cols(OH * OW, kh * kw);
    for (Index oh = 0; oh < OH; ++oh)
        for (Index ow = 0; ow < OW; ++ow)
            for (Index i = 0; i < kh; ++i)
                for (Index j = 0; j < kw; ++j)
                    cols(oh * OW + ow, i * kw + j) = image(oh + i, ow + j);
    return cols;
}
// [im2col]

// [col2im]
// Its transpose, col2im: every entry of dcols goes back, added, to the pixel it was copied from.
Eigen::MatrixXd col2im(const Eigen::MatrixXd& dcols, Index H, Index W, Index kh, Index kw) {
    const Index OW = W - kw + 1;
    Eigen::MatrixXd dimage = Eigen::MatrixXd::Zero(H, W);
    for (Index p = 0; p < dcols.rows(); ++p)          // p = oh·OW + ow
        for (Index i = 0; i < kh; ++i)
            for (Index j = 0; j < kw; ++j)
                dimage(p / OW + i, p % OW + j) += dcols(p, i * kw + j);
    return dimage;
}
// [col2im]

// One image (H, W) as the row the library takes: (1, H·W), NCHW order with C = 1.
Eigen::MatrixXd as_row(const Eigen::MatrixXd& image) {
    return image.transpose().reshaped(1, image.size());
}
Eigen::MatrixXd as_image(const Eigen::MatrixXd& row, Eigen::Index H, Eigen::Index W) {
    return row.reshaped(W, H).transpose();
}

}  // namespace

// The worked example: what the page shows beside its derivation.
bool worked_example() {
    bool ok = true;

    // [worked example]
    // A 3×3 image of one channel and a 2×2 kernel: the output is 2×2, four positions.
    Eigen::MatrixXd image(3, 3), kernel(2, 2);
    image << 1, 2, 3,
             4, 5, 6,
             7, 8, 9;
    kernel << 1, 0,
              2, -1;
    const Eigen::MatrixXd cols = im2col(image, 2, 2);                  // (P = 4, K = 4)
    const Eigen::MatrixXd W = kernel.reshaped<Eigen::RowMajor>(1, 4);  // (F = 1, K = 4)
    const Eigen::MatrixXd Z = cols * W.transpose();                    // (P = 4, F = 1)
    // [worked example]
    print("image", image);
    print("kernel", kernel);
    print("cols = im2col(image)", cols);
    print("W, the kernel as a row", W);
    print("Z = cols * W^T", Z);

    // [the layer]
    // The same by backprop::Conv2D: 1 channel of 3×3 in, 1 channel out, a 2×2 kernel.
    bp::Conv2D<double> conv({1, 3, 3}, 1, 2);
    conv.W = W;
    conv.b.setZero();
    const Eigen::MatrixXd Y = conv.forward(as_row(image));  // (1, 1·2·2)
    // [the layer]
    print("Y of Conv2D, as an image", as_image(Y, 2, 2));
    ok &= (as_image(Y, 2, 2) - Z.reshaped(2, 2).transpose()).norm() == 0;

    // [backward by hand]
    // Given dZ (one number per output position), the weight gradient correlates the image with
    // dZ, and the input gradient scatters dcols = dZ·W back through col2im.
    Eigen::MatrixXd dZ_image(2, 2);
    dZ_image << 1, 0,
                0, 2;
    const Eigen::MatrixXd dZ = dZ_image.reshaped<Eigen::RowMajor>(4, 1);  // (positions, F)
    const Eigen::MatrixXd dW = dZ.transpose() * cols;   // (F, C·kh·kw): Σ_p dZ[p]·cols[p]
    const Eigen::MatrixXd dcols = dZ * W;               // (positions, C·kh·kw)
    const Eigen::MatrixXd dX = col2im(dcols, 3, 3, 2, 2);
    // [backward by hand]
    print("dZ", dZ_image);
    print("dW = dZ^T * cols, as a kernel", dW.reshaped<Eigen::RowMajor>(2, 2));
    print("dcols = dZ * W", dcols);
    print("dX = col2im(dcols)", dX);
    const auto& grads = conv.backward(as_row(dZ_image));
    print("dW of Conv2D::backward, as a kernel", grads.dW.reshaped<Eigen::RowMajor>(2, 2));
    print("dX of Conv2D::backward, as an image", as_image(grads.dX, 3, 3));
    ok &= (grads.dW - dW).norm() == 0 && (as_image(grads.dX, 3, 3) - dX).norm() == 0;

    return ok;
}

// The gradient checks and PyTorch's numbers: what the page shows after the code.
bool checks() {
    bool ok = true;

    // [check]
    // Two images of 2 channels, 5×6; 3 filters of 3×3, stride 2, one pixel of zero padding.
    // L = Σ G∘Y for a fixed random G, so dY = G; predict() gives L without touching the layer.
    const bp::Conv2D<double> layer({2, 5, 6}, 3, 3, 2, bp::Padding(1), /*seed=*/7);
    const Eigen::MatrixXd X = Eigen::MatrixXd::Random(2, layer.in());
    const Eigen::MatrixXd G = Eigen::MatrixXd::Random(2, layer.out());
    auto loss = [&](const Eigen::MatrixXd& w, const Eigen::MatrixXd& b, const Eigen::MatrixXd& x) {
        bp::Conv2D<double> moved = layer;
        moved.W = w;
        moved.b = b;
        return (G.array() * moved.predict(x).array()).sum();
    };
    bp::Conv2D<double> trained = layer;
    trained.forward(X);
    const auto& g = trained.backward(G);
    using M = Eigen::MatrixXd;
    const M b0 = layer.b;
    const bp::GradientError errors[] = {
        bp::check_gradient([&](const M& w) { return loss(w, b0, X); }, layer.W, g.dW),
        bp::check_gradient([&](const M& b) { return loss(layer.W, b, X); }, b0, M(g.db)),
        bp::check_gradient([&](const M& x) { return loss(layer.W, b0, x); }, X, g.dX)};
    // [check]
    const char* names[] = {"dW", "db", "dX"};
    std::printf("Conv2D 2x5x6 -> 3x3x3, kernel 3, stride 2, padding 1, batch 2\n");
    for (int i = 0; i < 3; ++i) {
        std::printf("%s relative error %.1e\n", names[i], errors[i].max_relative_error);
        ok &= errors[i].passes(1e-7);
    }
    std::printf("\n");

    // [pytorch]
    // Each case of make_reference_conv.py: torch.nn.Conv2d in float64 with its weight and bias
    // copied in, and the gradients of Σ G∘Y.
    for (const reference::ConvCase& t : reference::conv_cases) {
        const bp::Padding padding = t.same ? bp::Padding::same()
                                           : bp::Padding(t.padding_height, t.padding_width);
        bp::Conv2D<double> torch_conv({t.channels, t.height, t.width}, t.filters,
                                      {t.kernel_height, t.kernel_width},
                                      {t.stride_height, t.stride_width}, padding, 0,
                                      bp::Init::pytorch, t.bias);
        const Eigen::Index K = t.channels * t.kernel_height * t.kernel_width;
        torch_conv.W = from_torch(t.W, t.filters, K);
        torch_conv.b = from_torch(t.b, 1, t.filters);
        const Eigen::MatrixXd Xt = from_torch(t.X, t.batch, torch_conv.in());
        std::printf("%s\n", t.name);
        ok &= compare("Y", torch_conv.forward(Xt), from_torch(t.Y, t.batch, torch_conv.out()));
        const auto& d = torch_conv.backward(from_torch(t.G, t.batch, torch_conv.out()));
        ok &= compare("dW", d.dW, from_torch(t.dW, t.filters, K));
        ok &= compare("db", d.db, from_torch(t.db, 1, t.filters));
        ok &= compare("dX", d.dX, from_torch(t.dX, t.batch, torch_conv.in()));
    }
    // [pytorch]

    std::printf(ok ? "every gradient is right and agrees with PyTorch\n"
                   : "A GRADIENT IS WRONG OR DIFFERS FROM PYTORCH\n");
    return ok;
}

// "example" runs the worked example alone, "checks" the checks alone; no argument, both.
int main(int argc, char** argv) { return example::run_parts(argc, argv, worked_example, checks); }
