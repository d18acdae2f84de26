// Tutorial page 5, Training: the SGD loop on the notebook's data, the loss curve written as an
// SVG picture, and a comparison with the least-squares optimum.
// Usage: tutorial_5_training [PICTURE.svg]   (default loss_curve.svg in the current folder)
// Prints what docs/5_training.md shows; exits non-zero if training does not reach the optimum.
#include <backprop/backprop.hpp>

#include <Eigen/QR>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace bp = backprop;

namespace {

// The loss of every step as a line on a logarithmic axis, written as a small SVG file.
bool write_loss_curve(const std::string& path, const std::vector<double>& losses) {
    const double width = 640, height = 400, left = 70, right = 20, top = 20, bottom = 50;
    double lo = std::floor(std::log10(losses.front()));
    double hi = lo;
    for (double loss : losses) {
        lo = std::min(lo, std::floor(std::log10(loss)));
        hi = std::max(hi, std::ceil(std::log10(loss)));
    }
    auto px = [&](double step) {
        return left + (width - left - right) * step / static_cast<double>(losses.size() - 1);
    };
    auto py = [&](double loss) {
        return top + (height - top - bottom) * (hi - std::log10(loss)) / (hi - lo);
    };

    std::ofstream svg(path);
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\""
        << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
        << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    for (double decade = lo; decade <= hi; ++decade) {  // a grid line and a label per decade
        const double y = py(std::pow(10.0, decade));
        svg << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << width - right
            << "\" y2=\"" << y << "\" stroke=\"#ddd\"/>\n"
            << "<text x=\"" << left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">1e"
            << decade << "</text>\n";
    }
    const std::size_t last = losses.size() - 1;
    for (std::size_t step = 0; step <= last; step += last / 5) {  // six labels along the steps
        svg << "<text x=\"" << px(double(step)) << "\" y=\"" << height - bottom + 18
            << "\" text-anchor=\"middle\">" << step << "</text>\n";
    }
    svg << "<text x=\"" << (left + width - right) / 2 << "\" y=\"" << height - 10
        << "\" text-anchor=\"middle\">step</text>\n"
        << "<text transform=\"translate(16," << (top + height - bottom) / 2
        << ") rotate(-90)\" text-anchor=\"middle\">MSE loss (log scale)</text>\n"
        << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << width - left - right
        << "\" height=\"" << height - top - bottom << "\" fill=\"none\" stroke=\"black\"/>\n"
        << "<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" points=\"";
    for (std::size_t step = 0; step <= last; ++step) {
        svg << px(double(step)) << "," << py(losses[step]) << " ";
    }
    svg << "\"/>\n</svg>\n";
    return bool(svg);
}

}  // namespace

int main(int argc, char** argv) {
    const std::string picture = argc > 1 ? argv[1] : "loss_curve.svg";
    const auto data = bp::make_notebook_dataset<double>();

    // [training]
    bp::Dense<double> layer1(5, 5, /*seed=*/1);  // drawn as torch.nn.Linear draws them
    bp::Dense<double> layer2(5, 1, /*seed=*/2);
    bp::MSE<double> mse;
    const bp::SGD<double> sgd{0.1};

    std::vector<double> losses;
    for (int step = 0; step <= 3000; ++step) {
        const double loss = mse.forward(layer2.forward(layer1.forward(data.X)), data.y);
        const auto& grads2 = layer2.backward(mse.backward());
        layer1.backward(grads2.dX);
        sgd.step(layer2);
        sgd.step(layer1);
        losses.push_back(loss);
    }
    // [training]
    for (int step : {0, 1, 10, 100, 1000, 2000, 3000}) {
        std::printf("step %4d  loss %.3e\n", step, losses[std::size_t(step)]);
    }

    // [optimum]
    // Two linear layers make one linear map: z2 = x·(W1·W2) + (b1·W2 + b2).
    const Eigen::MatrixXd w = layer1.W * layer2.W;
    const Eigen::MatrixXd b = layer1.b * layer2.W + layer2.b;
    // The best such map in the least-squares sense: solve [x 1]·[w; b] ≈ y.
    Eigen::MatrixXd x1(data.X.rows(), data.X.cols() + 1);
    x1 << data.X, Eigen::MatrixXd::Ones(data.X.rows(), 1);
    const Eigen::VectorXd best = x1.colPivHouseholderQr().solve(data.y);
    const double best_loss = (x1 * best - data.y).squaredNorm() / double(data.y.size());
    // [optimum]

    const Eigen::IOFormat row(4, 0, ", ", "", "[", "]");
    auto printed = [](const auto& value) {  // as std::cout prints it
        std::ostringstream text;
        text << value;
        return text.str();
    };
    const std::string trained_w = printed(w.transpose().format(row));
    const std::string best_w = printed(best.head(5).transpose().format(row));
    std::cout << "\nafter training  w = " << trained_w << ", b = " << printed(b(0)) << "\n"
              << "least squares   w = " << best_w << ", b = " << printed(best(5)) << ", loss "
              << best_loss << "\n";

    const double distance = (w - best.head(5)).norm() + std::abs(b(0) - best(5));
    std::cout << "b minus the optimum's b: " << b(0) - best(5) << "\n"
              << "distance from the optimum: " << distance << "\n";
    const bool written = write_loss_curve(picture, losses);
    std::cout << (written ? "wrote the loss curve to " : "COULD NOT WRITE ")
              << (argc > 1 ? picture.substr(picture.find_last_of('/') + 1) : picture) << "\n";
    // What docs/5_training.md says of these lines: the two w agree to every digit printed, the
    // two b do not, the distance is below 1e-2 and the loss below 1e-5.
    const bool as_the_page_says = trained_w == best_w && printed(b(0)) != printed(best(5)) &&
                                  distance < 1e-2 && losses.back() < 1e-5;
    if (!as_the_page_says) {
        std::cout << "THE RUN NO LONGER MATCHES WHAT docs/5_training.md SAYS OF IT\n";
    }
    return written && as_the_page_says ? 0 : 1;
}
