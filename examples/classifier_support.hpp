#pragma once
// What the classifier examples (digits.cpp, iris.cpp) share and is not the lesson: command-line
// options, accuracy, and the learning curves written as an SVG picture.

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace example {

/// The options both examples take; the defaults are the documented run.
struct Options {
    int epochs;
    double require;    // the test accuracy the run must reach, else it exits with 1
    std::string data;  // the CSV file
    std::string svg;   // where the curves are written
};

/// Reads --epochs N, --require ACCURACY, --data PATH and --svg PATH over `defaults`; exits with
/// a usage line on anything else.
inline Options parse_options(int argc, char** argv, Options defaults) {
    Options options = defaults;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        const bool has_value = i + 1 < argc;
        if (flag == "--epochs" && has_value) {
            options.epochs = std::atoi(argv[++i]);
        } else if (flag == "--require" && has_value) {
            options.require = std::atof(argv[++i]);
        } else if (flag == "--data" && has_value) {
            options.data = argv[++i];
        } else if (flag == "--svg" && has_value) {
            options.svg = argv[++i];
        } else {
            std::cerr << "usage: " << argv[0] << " [--epochs N (default " << defaults.epochs
                      << ")] [--require ACCURACY (default " << defaults.require
                      << ")] [--data CSV] [--svg PICTURE]\n";
            std::exit(2);
        }
    }
    if (options.epochs < 1) {
        std::cerr << argv[0] << ": --epochs must be at least 1\n";
        std::exit(2);
    }
    return options;
}

/// The fraction of rows whose largest logit is at the row's label.
template <typename Logits>
double accuracy(const Eigen::MatrixBase<Logits>& logits, const Eigen::VectorXi& labels) {
    Eigen::Index correct = 0;
    for (Eigen::Index i = 0; i < logits.rows(); ++i) {
        Eigen::Index predicted = 0;
        logits.row(i).maxCoeff(&predicted);
        correct += predicted == labels(i) ? 1 : 0;
    }
    return static_cast<double>(correct) / static_cast<double>(logits.rows());
}

/// One curve: a value per epoch.
struct Curve {
    std::string name;
    std::string colour;
    std::vector<double> values;
};

/// Writes two panels side by side, the loss curves on the left and the accuracy curves on the
/// right, both against the epoch, as a self-contained SVG file. Returns false if it cannot write.
inline bool write_curves_svg(const std::string& path, const std::string& title,
                             const std::vector<Curve>& losses, const std::vector<Curve>& accuracies) {
    const double width = 380, left = 60, top = 50, plot_w = 290, plot_h = 170;
    std::ostringstream svg;
    svg.precision(3);
    svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << 2 * width << "' height='"
        << top + plot_h + 50 << "' font-family='sans-serif' font-size='12'>\n"
        << "<rect width='100%' height='100%' fill='white'/>\n"
        << "<text x='" << width << "' y='20' text-anchor='middle' font-size='15'>" << title
        << "</text>\n";
    // One panel: a frame, the range of each axis, the curves and their legend (at the top right,
    // or the bottom right when the curves rise towards the top).
    auto panel = [&](double x0, const std::string& label, const std::vector<Curve>& curves,
                     double lo, double hi, bool legend_below) {
        const std::size_t epochs = curves.empty() ? 0 : curves.front().values.size();
        svg << "<g transform='translate(" << x0 + left << "," << top << ")'>\n"
            << "<rect width='" << plot_w << "' height='" << plot_h
            << "' fill='none' stroke='#888'/>\n"
            << "<text x='" << plot_w / 2 << "' y='-8' text-anchor='middle'>" << label << "</text>\n"
            << "<text x='-6' y='10' text-anchor='end'>" << hi << "</text>\n"
            << "<text x='-6' y='" << plot_h << "' text-anchor='end'>" << lo << "</text>\n"
            << "<text x='0' y='" << plot_h + 16 << "' text-anchor='middle'>1</text>\n"
            << "<text x='" << plot_w << "' y='" << plot_h + 16 << "' text-anchor='middle'>"
            << epochs << "</text>\n"
            << "<text x='" << plot_w / 2 << "' y='" << plot_h + 32
            << "' text-anchor='middle'>epoch</text>\n";
        double legend_y = legend_below ? plot_h - 10 - 16 * double(curves.size() - 1) : 18;
        for (const Curve& curve : curves) {
            const auto n = curve.values.size();
            svg << "<polyline fill='none' stroke='" << curve.colour
                << "' stroke-width='1.5' points='";
            for (std::size_t i = 0; i < n; ++i) {
                const double x = n > 1 ? plot_w * double(i) / double(n - 1) : plot_w / 2;
                const double v = std::clamp(curve.values[i], lo, hi);
                svg << x << "," << plot_h * (hi - v) / (hi - lo) << " ";
            }
            svg << "'/>\n<text x='" << plot_w - 8 << "' y='" << legend_y
                << "' text-anchor='end' fill='" << curve.colour << "'>" << curve.name
                << "</text>\n";
            legend_y += 16;
        }
        svg << "</g>\n";
    };
    // The loss from 0 to its largest value rounded up to a half; the accuracy from its smallest
    // value rounded down to a tenth, to 1.
    double max_loss = 0.5;
    double min_accuracy = 0.9;
    for (const Curve& curve : losses) {
        for (double v : curve.values) max_loss = std::max(max_loss, std::ceil(2 * v) / 2);
    }
    for (const Curve& curve : accuracies) {
        for (double v : curve.values) min_accuracy = std::min(min_accuracy, std::floor(10 * v) / 10);
    }
    panel(0, "loss (mean cross-entropy)", losses, 0, max_loss, false);
    panel(width, "accuracy", accuracies, std::max(min_accuracy, 0.0), 1, true);
    svg << "</svg>\n";
    std::ofstream out(path);
    out << svg.str();
    return static_cast<bool>(out);
}

/// The four learning curves of a run, printed as they grow and drawn at the end.
struct LearningCurves {
    Curve train_loss{"train", "#1f77b4", {}};
    Curve test_loss{"test", "#d62728", {}};
    Curve train_accuracy{"train", "#1f77b4", {}};
    Curve test_accuracy{"test", "#d62728", {}};

    /// Adds one epoch's values and prints them on one line, with the training speed when
    /// `images_per_second` is given.
    void add(double train_loss_value, double train_accuracy_value, double test_loss_value,
             double test_accuracy_value, double images_per_second = 0) {
        train_loss.values.push_back(train_loss_value);
        train_accuracy.values.push_back(train_accuracy_value);
        test_loss.values.push_back(test_loss_value);
        test_accuracy.values.push_back(test_accuracy_value);
        std::printf("epoch %3zu  train loss %.4f  accuracy %5.1f %%   test loss %.4f  accuracy %5.1f %%",
                    train_loss.values.size(), train_loss_value, 100 * train_accuracy_value,
                    test_loss_value, 100 * test_accuracy_value);
        if (images_per_second > 0) std::printf("   %6.0f images/s", images_per_second);
        std::printf("\n");
        std::fflush(stdout);
    }

    /// Writes the picture to options.svg, prints the final test accuracy, and returns the exit
    /// status: 0 if it reached options.require, else 1.
    int finish(const Options& options, const std::string& title) const {
        if (write_curves_svg(options.svg, title, {train_loss, test_loss},
                             {train_accuracy, test_accuracy})) {
            std::cout << "curves written to " << options.svg << "\n";
        }
        const double reached = test_accuracy.values.back();
        std::printf("test accuracy %.1f %% (required %.1f %%): %s\n", 100 * reached,
                    100 * options.require, reached >= options.require ? "OK" : "NOT REACHED");
        return reached >= options.require ? 0 : 1;
    }
};

}  // namespace example
