// Iris: a 4 → 16 → 3 tanh network trained full-batch with Nesterov momentum on Fisher's 150
// flowers, with a fixed seeded train/test split. Prints a line per epoch, writes the loss and
// accuracy curves as an SVG picture, and exits with 1 unless the test accuracy reaches --require
// (90 % by default).
//
//   iris                                    the documented run: 100 epochs
//   iris --epochs 20 --require 0.6          the quick run ctest does
#include "classifier_support.hpp"

#include <backprop/backprop.hpp>

#include <iostream>

namespace bp = backprop;

int main(int argc, char** argv) {
    const auto options = example::parse_options(
        argc, argv, {100, 0.9, BACKPROP_DATA_DIR "/iris.csv", "iris_curves.svg"});

    // Sepal length and width, petal length and width in cm, then the species 0, 1 or 2.
    const auto data = bp::load_csv<double>(options.data);
    auto split = bp::train_test_split(data, 0.2, 42);
    auto& train = split.train;
    auto& test = split.test;

    // Standardise each feature with the training set's mean and spread (never the test set's).
    const Eigen::RowVectorXd mean = train.X.colwise().mean();
    const Eigen::RowVectorXd spread =
        ((train.X.rowwise() - mean).colwise().squaredNorm() / double(train.size())).cwiseSqrt();
    for (auto* X : {&train.X, &test.X}) {
        *X = ((X->rowwise() - mean).array().rowwise() / spread.array()).matrix();
    }
    std::cout << "iris: " << train.size() << " training and " << test.size() << " test flowers, "
              << data.X.cols() << " features, " << data.classes() << " species\n";

    bp::Sequential<bp::Dense<double>, bp::Tanh<double>, bp::Dense<double>> net(
        bp::Dense<double>(4, 16, 1), bp::Tanh<double>(), bp::Dense<double>(16, 3, 2));
    bp::SoftmaxCrossEntropy<double> loss;
    bp::Momentum<double> nesterov(0.05, 0.9, true);

    example::LearningCurves curves;
    for (int epoch = 1; epoch <= options.epochs; ++epoch) {
        // One step on the whole training set: forward, loss, backward, update.
        const double train_loss = loss.forward(net.forward(train.X), train.labels);
        const double train_accuracy = example::accuracy(loss.probabilities(), train.labels);
        net.backward(loss.backward());
        nesterov.step(net);

        // Evaluation: predict() keeps nothing, so it can never disturb a training step.
        const Eigen::MatrixXd test_logits = net.predict(test.X);
        curves.add(train_loss, train_accuracy, loss.value(test_logits, test.labels),
                   example::accuracy(test_logits, test.labels));
    }

    return curves.finish(options, "Iris, 4-16-3 tanh network, Nesterov momentum");
}
