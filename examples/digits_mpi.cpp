// digits.cpp trained data-parallel over MPI ranks: every rank holds the whole network and the
// whole data set, walks the same shuffled mini-batches of 32 images, computes the gradient of its
// shard of each batch, and the ranks average their gradients before every rank takes the same
// Adam step. Rank 0 prints digits.cpp's line per epoch and its final accuracy: the same numbers
// as one process, up to float rounding (the shards' gradients are added in another order), and
// the same bits with one rank.
//
//   mpiexec -n 2 digits_mpi                        the documented run, on 2 ranks
//   mpiexec -n 2 digits_mpi --epochs 3 --require 0.8    the quick run ctest does
//
// Only what differs from digits.cpp is commented here.
#include "classifier_support.hpp"

#include <backprop/backprop.hpp>
#include <backprop/distributed/mpi.hpp>

#include <iostream>

namespace bp = backprop;

int main(int argc, char** argv) {
    // MPI for the whole program; a rank that throws ends every rank with its message.
    bp::mpi::Environment mpi(argc, argv);
    return bp::mpi::run_or_abort(MPI_COMM_WORLD, [&] {
        bp::mpi::DataParallel<float> parallel;
        const bool printer = parallel.rank() == 0;
        const auto options = example::parse_options(
            argc, argv, {30, 0.95, BACKPROP_DATA_DIR "/digits.csv", "digits_mpi_curves.svg"});

        // Every rank reads the data and splits it the same way.
        auto data = bp::load_csv<float>(options.data);
        data.X /= 16.0f;
        const auto split = bp::train_test_split(data, 0.2, 42);
        const auto& train = split.train;
        const auto& test = split.test;
        if (printer) {
            std::cout << "digits on " << parallel.ranks() << " MPI ranks: " << train.size()
                      << " training and " << test.size() << " test images\n";
        }

        bp::Sequential<bp::Dense<float>, bp::ReLU<float>, bp::Dense<float>> net(
            bp::Dense<float>(64, 32, 1), bp::ReLU<float>(), bp::Dense<float>(32, 10, 2));
        parallel.broadcast_parameters(net);  // rank 0's parameters on every rank
        bp::SoftmaxCrossEntropy<float> loss;
        bp::Adam<float> adam(0.002f);
        // The same seed on every rank: every rank walks the same global batches.
        bp::MiniBatches batches(train.X, train.labels, 32, /*seed=*/7, bp::LastBatch::drop);

        example::LearningCurves curves;
        for (int epoch = 1; epoch <= options.epochs; ++epoch) {
            double total = 0;
            for (const auto& batch : batches.epoch()) {
                // Forward and backward of this rank's rows of the batch (16 of 32 on 2 ranks,
                // 11 or 10 on 3), then Σ over the ranks of (rows/32)·gradient: every rank holds
                // the gradient of the whole batch. Returns the batch's mean loss.
                total += parallel.compute_gradients(net, loss, batch.X, batch.y);
                adam.step(net);  // the same step on every rank
            }
            if (printer) {
                const Eigen::MatrixXf train_logits = net.predict(train.X);
                const Eigen::MatrixXf test_logits = net.predict(test.X);
                curves.add(total / double(batches.batches_per_epoch()),
                           example::accuracy(train_logits, train.labels),
                           loss.value(test_logits, test.labels),
                           example::accuracy(test_logits, test.labels));
            }
        }
        return printer ? curves.finish(options, "UCI digits on MPI ranks, 64-32-10, Adam") : 0;
    });
}
