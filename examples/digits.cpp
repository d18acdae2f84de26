// Handwritten digits: a 64 → 32 → 10 ReLU network trained with Adam on mini-batches of the UCI
// digits (1,797 images of 8×8 pixels), with a fixed seeded train/test split. Prints a line per
// epoch, writes the loss and accuracy curves as an SVG picture, and exits with 1 unless the test
// accuracy reaches --require (95 % by default).
//
//   digits                                  the documented run: 30 epochs, ≥ 95 % test accuracy
//   digits --epochs 3 --require 0.8         the quick run ctest does
#include "classifier_support.hpp"

#include <backprop/backprop.hpp>

#include <iostream>
#include <numeric>
#include <vector>

namespace bp = backprop;

int main(int argc, char** argv) {
    const auto options = example::parse_options(
        argc, argv, {30, 0.95, BACKPROP_DATA_DIR "/digits.csv", "digits_curves.svg"});

    // [data]
    // 64 pixel intensities in 0…16, then the digit. Scale the pixels to [0, 1].
    auto data = bp::load_csv<float>(options.data);
    data.X /= 16.0f;
    const auto split = bp::train_test_split(data, 0.2, 42);
    const auto& train = split.train;
    const auto& test = split.test;
    std::cout << "digits: " << train.size() << " training and " << test.size()
              << " test images of " << data.X.cols() << " pixels, " << data.classes()
              << " classes\n";
    // [data]

    // [network]
    // Z1 = X·W1 + b1, H = max(Z1, 0), logits = H·W2 + b2; the loss is the mean cross-entropy.
    bp::Sequential<bp::Dense<float>, bp::ReLU<float>, bp::Dense<float>> net(
        bp::Dense<float>(64, 32, 1), bp::ReLU<float>(), bp::Dense<float>(32, 10, 2));
    bp::SoftmaxCrossEntropy<float> loss;
    bp::Adam<float> adam(0.002f);
    // [network]

    const Eigen::Index batch = 32;
    std::vector<Eigen::Index> order(static_cast<std::size_t>(train.size()));
    std::iota(order.begin(), order.end(), Eigen::Index(0));
    bp::detail::SplitMix64 rng(7);
    Eigen::MatrixXf X(batch, train.X.cols());
    Eigen::VectorXi y(batch);

    example::LearningCurves curves;
    // [training]
    for (int epoch = 1; epoch <= options.epochs; ++epoch) {
        example::shuffle(order, rng);
        double total = 0;
        int steps = 0;
        // Whole batches only (the last partial one is dropped; the shuffle changes it each epoch).
        for (std::size_t start = 0; start + batch <= order.size(); start += batch) {
            for (Eigen::Index i = 0; i < batch; ++i) {
                const Eigen::Index row = order[start + static_cast<std::size_t>(i)];
                X.row(i) = train.X.row(row);
                y(i) = train.labels(row);
            }
            total += loss.forward(net.forward(X), y);  // forward
            net.backward(loss.backward());             // backward: every gradient by hand
            net.step(adam);                            // update
            ++steps;
        }
        const double train_accuracy = example::accuracy(net.forward(train.X), train.labels);
        const double test_loss = loss.forward(net.forward(test.X), test.labels);
        curves.add(total / steps, train_accuracy, test_loss,
                   example::accuracy(loss.probabilities(), test.labels));
    }
    // [training]
    // Every gradient is still reachable by layer: the last step's dW of the output layer.
    std::cout << "|dW| of layer 2 in the last step: " << net.gradients<2>().dW.norm() << "\n";

    return curves.finish(options, "UCI digits, 64-32-10 ReLU network, Adam");
}
