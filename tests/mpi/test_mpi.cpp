// Tests of distributed/mpi.hpp, run by ctest under mpiexec with 2 and 3 ranks:
//
//   backprop_mpi_tests exactness        10 Adam steps on the ranks = the same steps in one process,
//                                       with the sums fused or overlapped with the backward pass
//   backprop_mpi_tests save PATH        5 steps, then a checkpoint written by rank 0
//   backprop_mpi_tests resume PATH      that checkpoint (on any number of ranks) and 5 more steps
//   backprop_mpi_tests fault            rank 1 makes a shape error while the others wait for it
//   backprop_mpi_tests mismatch         rank 1 walks other batches than the others
//
// Not Catch2: every rank must make the same collective calls, and a check that failed on one rank
// only would leave the others waiting for it. Here a failed check throws, and run_or_abort ends
// every rank with its message: a failure can end the run but never hang it.
#include "../helpers.hpp"

#include <backprop/data/batches.hpp>
#include <backprop/distributed/mpi.hpp>
#include <backprop/layers/activations.hpp>
#include <backprop/layers/dense.hpp>
#include <backprop/layers/normalization.hpp>
#include <backprop/losses/softmax_cross_entropy.hpp>
#include <backprop/nn/sequential.hpp>
#include <backprop/nn/shards.hpp>
#include <backprop/optim/adam.hpp>

#include <Eigen/Core>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace bp = backprop;

namespace {

// LayerNorm normalises each row alone, so a shard's rows give what they give in the whole batch:
// it takes part in the exact comparison (and its zero_gradients() on an empty shard).
using Net = bp::Sequential<bp::Dense<double>, bp::LayerNorm<double>, bp::Tanh<double>,
                           bp::Dense<double>>;
using Vector = Eigen::VectorXd;

constexpr int total_steps = 10;

Net make_net(std::uint64_t seed) {
    return Net(bp::Dense<double>(5, 7, seed), bp::LayerNorm<double>(7), bp::Tanh<double>(),
               bp::Dense<double>(7, 3, seed + 100));
}

bp::Adam<double> make_adam() { return bp::Adam<double>(0.05); }

void check(bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error("check failed: " + what);
}

// The global batches of the 10 steps: 46 samples in batches of 11 with the short last batch
// kept, so each epoch has 11, 11, 11, 11 and 2 rows: 11 is divisible by neither 2 nor 3 ranks,
// and a batch of 2 rows leaves one of 3 ranks with an empty shard. Two epochs, ten steps.
std::vector<bp::MiniBatches<double>::Batch> global_batches() {
    const Eigen::MatrixXd X = test::random_matrix<double>(46, 5, 1);
    Eigen::VectorXi labels(46);
    for (Eigen::Index i = 0; i < labels.size(); ++i) labels(i) = static_cast<int>(i * 7 % 3);
    bp::MiniBatches batches(X, labels, 11, /*seed=*/3, bp::LastBatch::keep);
    std::vector<bp::MiniBatches<double>::Batch> all;
    while (static_cast<int>(all.size()) < total_steps) {
        for (const auto& batch : batches.epoch()) all.push_back(batch);
    }
    check(static_cast<int>(all.size()) == total_steps, "two epochs make the ten steps");
    return all;
}

// Steps [from, to) in one process, on whole batches: the reference.
void train_alone(Net& net, bp::Adam<double>& adam, int from, int to) {
    const auto batches = global_batches();
    bp::SoftmaxCrossEntropy<double> loss;
    for (int step = from; step < to; ++step) {
        const auto& batch = batches[static_cast<std::size_t>(step)];
        loss.forward(net.forward(batch.X), batch.y);
        net.backward(loss.backward());
        adam.step(net);
    }
}

// Steps [from, to) on the ranks, each on its shard of every batch.
void train_parallel(bp::mpi::DataParallel<double>& parallel, Net& net, bp::Adam<double>& adam,
                    int from, int to) {
    const auto batches = global_batches();
    bp::SoftmaxCrossEntropy<double> loss;
    for (int step = from; step < to; ++step) {
        const auto& batch = batches[static_cast<std::size_t>(step)];
        const double batch_loss = parallel.compute_gradients(net, loss, batch.X, batch.y);
        // The loss of the whole batch, as one process computes it from the same parameters.
        const double whole = loss.value(net.predict(batch.X), batch.y);
        check(std::abs(batch_loss - whole) <= 1e-12 * std::abs(whole),
              "average_gradients returns the mean loss of the batch at step " +
                  std::to_string(step));
        adam.step(net);
    }
}

// Throws unless `net`'s parameters are the same bits on every rank as on rank 0.
void check_identical_across_ranks(bp::mpi::DataParallel<double>& parallel, const Net& net) {
    Vector own;
    bp::gather_parameters(net, own);
    Net copy = net;
    parallel.broadcast_parameters(copy);
    Vector rank_0;
    bp::gather_parameters(copy, rank_0);
    check(std::memcmp(own.data(), rank_0.data(), sizeof(double) * std::size_t(own.size())) == 0,
          "rank " + std::to_string(parallel.rank()) + " holds rank 0's parameters bit for bit");
}

// Throws unless `net` has the parameters of `total_steps` steps in one process.
void check_against_one_process(const Net& net) {
    Net alone = make_net(1);
    auto adam = make_adam();
    train_alone(alone, adam, 0, total_steps);
    Vector expected;
    Vector got;
    bp::gather_parameters(alone, expected);
    bp::gather_parameters(net, got);
    const double difference = test::relative_difference(got, expected);
    std::printf("relative difference to one process after %d steps: %.3g\n", total_steps,
                difference);
    check(difference <= 1e-12, "the ranks' parameters are one process's to 1e-12");
    Vector before;
    bp::gather_parameters(make_net(1), before);
    check(test::relative_difference(before, expected) > 1e-3, "the steps changed the parameters");
}

// sum(): element i of rank r's vector is (r + 1)·(i + 1), so the sum over p ranks is
// (i + 1)·p(p + 1)/2, exact in double; 7 values, which no rank count here divides.
void check_sum(bp::mpi::DataParallel<double>& parallel) {
    const double r = parallel.rank();
    const double p = parallel.ranks();
    Vector values(7);
    for (Eigen::Index i = 0; i < values.size(); ++i) values(i) = (r + 1) * double(i + 1);
    parallel.sum(values);
    for (Eigen::Index i = 0; i < values.size(); ++i) {
        check(values(i) == double(i + 1) * p * (p + 1) / 2,
              "sum() adds element " + std::to_string(i) + " over the ranks");
    }
}

// The ten steps on the ranks from rank 0's replica; throws unless every rank ends with the same
// bits, those of one process to 1e-12.
Net train_exactly(bp::mpi::DataParallel<double>& parallel) {
    // Each rank builds its replica with its own seed: the broadcast makes them rank 0's.
    Net net = make_net(1 + 10 * static_cast<std::uint64_t>(parallel.rank()));
    parallel.broadcast_parameters(net);
    auto adam = make_adam();
    check_identical_across_ranks(parallel, net);
    train_parallel(parallel, net, adam, 0, total_steps);
    check_identical_across_ranks(parallel, net);
    check_against_one_process(net);
    return net;
}

int exactness(bp::mpi::DataParallel<double>& parallel) {
    check_sum(parallel);
    const Net fused = train_exactly(parallel);
    Vector expected;
    bp::gather_parameters(fused, expected);
    // The sums overlapped with the backward pass: one bucket per layer with parameters (the
    // 24, 14 and 42 values of layers 3, 1 and 0), then one bucket of all 80.
    for (const Eigen::Index bucket : {1, 16384}) {
        parallel.overlap(true, bucket);
        const Net overlapped = train_exactly(parallel);
        parallel.overlap(false);
        Vector got;
        bp::gather_parameters(overlapped, got);
        const bool bitwise = std::memcmp(got.data(), expected.data(),
                                         sizeof(double) * std::size_t(got.size())) == 0;
        const double difference = test::relative_difference(got, expected);
        std::printf("overlap with buckets of %ld: %s the fused sum's parameters (%.3g)\n",
                    long(bucket), bitwise ? "bitwise" : "not bitwise", difference);
        // Two ranks add two terms, whatever the algorithm: a + b = b + a exactly.
        check(parallel.ranks() == 2 ? bitwise : difference <= 1e-14,
              "overlapped and fused sums give the same parameters");
    }
    return 0;
}

int save(bp::mpi::DataParallel<double>& parallel, const std::string& path) {
    Net net = make_net(1 + 10 * static_cast<std::uint64_t>(parallel.rank()));
    parallel.broadcast_parameters(net);
    auto adam = make_adam();
    train_parallel(parallel, net, adam, 0, total_steps / 2);
    parallel.save_checkpoint(path, net, adam);
    return 0;
}

int resume(bp::mpi::DataParallel<double>& parallel, const std::string& path) {
    Net net = make_net(99);  // every parameter and state comes from the checkpoint
    auto adam = make_adam();
    parallel.load_checkpoint(path, net, adam);
    train_parallel(parallel, net, adam, total_steps / 2, total_steps);
    check_identical_across_ranks(parallel, net);
    check_against_one_process(net);
    return 0;
}

int fault(bp::mpi::DataParallel<double>& parallel) {
    Net net = make_net(1);
    bp::SoftmaxCrossEntropy<double> loss;
    const auto batch = global_batches().front();
    const bp::Shard shard = parallel.shard(batch.X.rows());
    // Rank 1 reads one column too few: a shape error while the other ranks wait for its
    // gradients in average_gradients.
    const Eigen::Index columns = batch.X.cols() - (parallel.rank() == 1 ? 1 : 0);
    const double mean = loss.forward(
        net.forward(batch.X.block(shard.begin, 0, shard.rows, columns)),
        batch.y.segment(shard.begin, shard.rows));
    net.backward(loss.backward());
    parallel.average_gradients(net, batch.X.rows(), mean);
    return 0;
}

// Rank 1 walks other batches than its peers (one row fewer): the shards no longer add up to the
// batch, which average_gradients() reports on the ranks that see it, ending the run.
int mismatch(bp::mpi::DataParallel<double>& parallel) {
    Net net = make_net(1);
    bp::SoftmaxCrossEntropy<double> loss;
    const auto batch = global_batches().front();
    const Eigen::Index rows = batch.X.rows() - (parallel.rank() == 1 ? 1 : 0);
    parallel.compute_gradients(net, loss, batch.X.topRows(rows), batch.y.head(rows));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    bp::mpi::Environment mpi(argc, argv);
    return bp::mpi::run_or_abort(MPI_COMM_WORLD, [&] {
        bp::mpi::DataParallel<double> parallel;
        const std::string mode = argc > 1 ? argv[1] : "";
        int status = 2;
        if (mode == "exactness" && argc == 2) {
            status = exactness(parallel);
        } else if (mode == "save" && argc == 3) {
            status = save(parallel, argv[2]);
        } else if (mode == "resume" && argc == 3) {
            status = resume(parallel, argv[2]);
        } else if (mode == "fault" && argc == 2) {
            status = fault(parallel);
        } else if (mode == "mismatch" && argc == 2) {
            status = mismatch(parallel);
        } else {
            throw std::invalid_argument(
                "usage: backprop_mpi_tests exactness | save PATH | resume PATH | fault | mismatch");
        }
        if (parallel.rank() == 0) {
            std::printf("%s on %d ranks: OK\n", mode.c_str(), parallel.ranks());
        }
        return status;
    });
}
