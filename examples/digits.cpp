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

namespace bp = backprop;

int main(int argc, char** argv) {
    const auto options = example::parse_options(
        argc, argv, {30, 0.95, BACKPROP_DATA_DIR "/digits.csv", "digits_curves.svg"});

    // [data]
    // 64 pixel intensities in 0…16, then the digit. Scale the pixels to [0, 1]. (`options` is the
    // command line, read by example::parse_options of classifier_support.hpp: data/digits.csv.)
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

    // [batches]
    // Mini-batches of 32 in a new seeded order each epoch; the 1,437 mod 32 samples left over
    // are dropped (a different few each epoch).
    bp::MiniBatches batches(train.X, train.labels, 32, /*seed=*/7, bp::LastBatch::drop);
    // [batches]

    // [training]
    // example::LearningCurves (classifier_support.hpp) prints each epoch's line and draws the curves.
    example::LearningCurves curves;
    for (int epoch = 1; epoch <= options.epochs; ++epoch) {
        double total = 0;
        for (const auto& batch : batches.epoch()) {
            total += loss.forward(net.forward(batch.X), batch.y);  // forward
            net.backward(loss.backward());                         // backward: every gradient by hand
            adam.step(net);                                        // update
        }
        // Evaluation with predict(), which keeps nothing that a training step needs.
        const Eigen::MatrixXf train_logits = net.predict(train.X);
        const Eigen::MatrixXf test_logits = net.predict(test.X);
        curves.add(total / double(batches.batches_per_epoch()),
                   example::accuracy(train_logits, train.labels),
                   loss.value(test_logits, test.labels), example::accuracy(test_logits, test.labels));
    }
    // [training]
    // [layers]
    // Every gradient is still reachable by layer, counting from 0: layer 0 is the first Dense,
    // layer 1 the ReLU, layer 2 the output layer. The last step's dW of the output layer:
    std::cout << "|dW| of layer 2 in the last step: " << net.gradients<2>().dW.norm() << "\n";
    // [layers]

    return curves.finish(options, "UCI digits, 64-32-10 ReLU network, Adam");
}
