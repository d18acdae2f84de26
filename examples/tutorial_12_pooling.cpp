// Tutorial page 12, Pooling and the gradient that routes: max pooling sends each output's
// gradient to the argmax of its window (the first, on a tie), average pooling spreads it over the
// window; overlapping windows add. A worked example small enough to check by hand, the gradient
// check of both against finite differences, and every case of pool_cases in
// tests/reference/pytorch_reference_norm.hpp against PyTorch's numbers.
// Prints what docs/12_pooling.md shows; exits non-zero if a check fails or a number differs
// from PyTorch's by more than 1e-12 relative to the largest.
#include "../tests/reference/pytorch_reference_norm.hpp"
#include "pytorch_compare.hpp"
#include "tutorial_parts.hpp"

#include <backprop/backprop.hpp>

#include <cmath>
#include <cstdio>
#include <string>

namespace bp = backprop;
using example::compare;     // pytorch_compare.hpp: one line per comparison with PyTorch
using example::from_torch;  // pytorch_compare.hpp: PyTorch's row-by-row numbers as a matrix

namespace {

// One image of one channel (H, W) as the row the library takes, (1, H·W), and back.
Eigen::MatrixXd as_row(const Eigen::MatrixXd& image) {
    return image.transpose().reshaped(1, image.size());
}
Eigen::MatrixXd as_image(const Eigen::MatrixXd& row, Eigen::Index H, Eigen::Index W) {
    return row.reshaped(W, H).transpose();
}

void print(const char* name, const Eigen::MatrixXd& m) {
    std::printf("%s\n", name);
    for (Eigen::Index r = 0; r < m.rows(); ++r) {
        std::printf("   ");
        for (Eigen::Index c = 0; c < m.cols(); ++c) std::printf("%6g", m(r, c));
        std::printf("\n");
    }
}

}  // namespace

// The worked example: what the page shows beside its derivation.
bool worked_example() {
    bool ok = true;

    // [worked example]
    // One 4×4 image, 2×2 windows with stride 2: four windows, four outputs. The top-left window
    // holds its maximum 5 twice.
    Eigen::MatrixXd image(4, 4), dY(2, 2);
    image << 5, 1, 2, 0,
             5, 3, 8, 4,
             0, 6, 1, 1,
             2, 3, 7, 9;
    dY << 1, 2,
          3, 4;
    bp::MaxPool2D<double> max_pool(1, 4, 4, 2);  // 1 channel of 4×4, kernel 2 (stride 2)
    bp::AvgPool2D<double> avg_pool(1, 4, 4, 2);
    const Eigen::MatrixXd max_Y = max_pool.forward(as_row(image));
    const Eigen::MatrixXd max_dX = max_pool.backward(as_row(dY)).dX;
    const Eigen::MatrixXd avg_Y = avg_pool.forward(as_row(image));
    const Eigen::MatrixXd avg_dX = avg_pool.backward(as_row(dY)).dX;
    // [worked example]
    print("X", image);
    print("dY", dY);
    print("max pooling: Y", as_image(max_Y, 2, 2));
    print("max pooling: dX", as_image(max_dX, 4, 4));
    print("average pooling: Y", as_image(avg_Y, 2, 2));
    print("average pooling: dX", as_image(avg_dX, 4, 4));

    // [overlap]
    // Windows that overlap (2×2, stride 1, on a 3×3 image) share the centre, its maximum: all
    // four outputs route their gradient to it, and the four add.
    Eigen::MatrixXd peak(3, 3), dY_peak(2, 2);
    peak << 1, 2, 3,
            4, 9, 5,
            6, 7, 8;
    dY_peak << 1, 2,
               3, 4;
    bp::MaxPool2D<double> overlapping(1, 3, 3, /*kernel=*/2, /*stride=*/1);
    overlapping.forward(as_row(peak));
    const Eigen::MatrixXd peak_dX = overlapping.backward(as_row(dY_peak)).dX;
    // [overlap]
    print("overlapping windows: X", peak);
    print("overlapping windows: dX", as_image(peak_dX, 3, 3));

    return ok;
}

// The gradient checks and PyTorch's numbers: what the page shows after the code.
bool checks() {
    bool ok = true;

    // [check]
    // Two images of 2 channels, 5×7, windows of 3 with stride 2 (they overlap). The values are
    // distinct and far apart compared with the step h = 1e-5, so no window has a tie that a
    // step could break. L = Σ G∘Y, so dY = G; predict() gives L and keeps nothing.
    const Eigen::MatrixXd X =
        Eigen::VectorXd::LinSpaced(140, -7, 6.9).reshaped(2, 70).unaryExpr([](double v) {
            return v * std::cos(3 * v);  // distinct values in no simple order
        });
    auto check = [&](auto layer) {
        const Eigen::MatrixXd G = Eigen::MatrixXd::Random(2, layer.out());
        const auto loss = [&](const Eigen::MatrixXd& x) {
            return (G.array() * layer.predict(x).array()).sum();
        };
        auto copy = layer;
        copy.forward(X);
        return bp::check_gradient(loss, X, copy.backward(G).dX);
    };
    const bp::GradientError max_error = check(bp::MaxPool2D<double>(2, 5, 7, 3, 2));
    const bp::GradientError avg_error = check(bp::AvgPool2D<double>(2, 5, 7, 3, 2));
    // [check]
    std::printf("MaxPool2D 2x5x7, kernel 3, stride 2: dX relative error %.1e\n",
                max_error.max_relative_error);
    std::printf("AvgPool2D 2x5x7, kernel 3, stride 2: dX relative error %.1e\n\n",
                avg_error.max_relative_error);
    ok &= max_error.passes(1e-7) && avg_error.passes(1e-7);

    // [pytorch]
    // make_reference_norm.py: X (2, 3·5·7), quarters from −1 to 1, so windows tie often;
    // G is the first out() columns of pool_G (2, 105), and dX = ∂(Σ G∘Y)/∂X.
    const Eigen::MatrixXd X_torch = from_torch(reference::pool_X, 2, 105);
    const Eigen::MatrixXd G_torch = from_torch(reference::pool_G, 2, 105);
    auto against_torch = [&](auto layer, const reference::PoolCase& torch) {
        std::printf("%s pooling, kernel %d, stride %d\n", torch.kind, torch.kernel, torch.stride);
        bool same = compare("Y", layer.forward(X_torch), from_torch(torch.Y, 2, layer.out()));
        same &= compare("dX", layer.backward(G_torch.leftCols(layer.out())).dX,
                        from_torch(torch.dX, 2, 105));
        return same;
    };
    for (const reference::PoolCase& torch : reference::pool_cases) {
        if (torch.kind == std::string("max")) {
            ok &= against_torch(bp::MaxPool2D<double>(3, 5, 7, torch.kernel, torch.stride), torch);
        } else {
            ok &= against_torch(bp::AvgPool2D<double>(3, 5, 7, torch.kernel, torch.stride), torch);
        }
    }
    // [pytorch]

    std::printf(ok ? "every gradient is right and agrees with PyTorch\n"
                   : "A GRADIENT IS WRONG OR DIFFERS FROM PYTORCH\n");
    return ok;
}

// "example" runs the worked example alone, "checks" the checks alone; no argument, both.
int main(int argc, char** argv) { return example::run_parts(argc, argv, worked_example, checks); }
