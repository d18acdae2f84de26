// One data-parallel training step over MPI, timed in its parts, for docs/distributed.md:
//
//   mpiexec -n P backprop_mpi_step [repeats]
//
// For each workload, a global batch of N rows split over the P ranks (distributed/mpi.hpp):
//   compute     forward and backward of a rank's shard (the slowest rank's time)
//   all-reduce  DataParallel::average_gradients: one fused vector of every gradient
//   update      the optimiser's step, the same on every rank
// Ranks wait for each other (MPI_Barrier) before the compute and before the all-reduce, so each
// part is timed alone; a step takes about compute + all-reduce + update. Then the all-reduce of
// vectors of several sizes alone, to fit time = latency + bytes / bandwidth.
//
// Each time is the min and the median over the repeats, in microseconds, of the maximum over the
// ranks. Workloads, in float: the MLP 784 → ReLU(256) → 10 with MSE and SGD (bench/steps.hpp's
// SequentialStep) at N = 256 and 1024, and LeNet-5 with softmax cross-entropy and SGD
// (bench/steps.hpp's LeNetStep) at N = 64.
#include "steps.hpp"

#include <backprop/distributed/mpi.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace bp = backprop;

namespace {

// The min and median of the maximum over the ranks of each repeat's time, in µs (on rank 0).
struct Times {
    std::vector<double> seconds;

    void add(double local, MPI_Comm comm) {
        double slowest = 0;
        MPI_Reduce(&local, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, comm);
        seconds.push_back(slowest);
    }

    std::string summary() {
        std::sort(seconds.begin(), seconds.end());
        char text[64];
        std::snprintf(text, sizeof text, "%9.1f %9.1f", 1e6 * seconds.front(),
                      1e6 * seconds[seconds.size() / 2]);
        return text;
    }
};

// Times `repeats` steps after a few unmeasured ones; `compute(shard)` does the shard's forward
// and backward, `update()` the optimiser's step.
template <typename Model, typename Compute, typename Update>
void time_steps(const char* name, Eigen::Index rows, int repeats, Model& net,
                bp::mpi::DataParallel<float>& parallel, Compute&& compute, Update&& update) {
    const MPI_Comm comm = MPI_COMM_WORLD;
    const bp::Shard shard = parallel.shard(rows);
    Times compute_times, reduce_times, update_times;
    for (int i = -3; i < repeats; ++i) {
        MPI_Barrier(comm);
        const double t0 = MPI_Wtime();
        float mean = 0;
        if (shard.rows > 0) mean = compute(shard);
        const double t1 = MPI_Wtime();
        MPI_Barrier(comm);
        const double t2 = MPI_Wtime();
        parallel.average_gradients(net, rows, mean);
        const double t3 = MPI_Wtime();
        update();
        const double t4 = MPI_Wtime();
        if (i >= 0) {
            compute_times.add(t1 - t0, comm);
            reduce_times.add(t3 - t2, comm);
            update_times.add(t4 - t3, comm);
        }
    }
    if (parallel.rank() == 0) {
        std::printf("%-8s %5ld %6ld %9ld   %s   %s   %s\n", name, long(rows), long(shard.rows),
                    long(bp::parameter_count(net)), compute_times.summary().c_str(),
                    reduce_times.summary().c_str(), update_times.summary().c_str());
    }
}

using Mlp = bench::SequentialStep<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic,
                                  /*Relu=*/true>;

void time_mlp(Eigen::Index rows, int repeats, bp::mpi::DataParallel<float>& parallel) {
    Mlp step(784, 256, 10, 0.01f);
    parallel.broadcast_parameters(step.net);
    const bench::Batch<float, Eigen::Dynamic, Eigen::Dynamic> data(rows, 784, 10, 3);
    time_steps(
        "mlp", rows, repeats, step.net, parallel,
        [&](const bp::Shard& shard) {
            const float value = step.mse.forward(
                step.net.forward(data.X.middleRows(shard.begin, shard.rows)),
                data.y.middleRows(shard.begin, shard.rows));
            step.net.backward(step.mse.backward());
            return value;
        },
        [&] { step.sgd.step(step.net); });
}

void time_lenet(int repeats, bp::mpi::DataParallel<float>& parallel) {
    bench::LeNetStep<float> step(0.01f);
    parallel.broadcast_parameters(step.net);
    time_steps(
        "lenet", step.batch, repeats, step.net, parallel,
        [&](const bp::Shard& shard) {
            const float value =
                step.loss.forward(step.net.forward(step.X.middleRows(shard.begin, shard.rows)),
                                  step.y.segment(shard.begin, shard.rows));
            step.net.backward(step.loss.backward());
            return value;
        },
        [&] { step.sgd.step(step.net); });
}

void time_sums(int repeats, bp::mpi::DataParallel<float>& parallel) {
    // From one value to 4 MB, with LeNet-5's and the MLP's parameter counts among them.
    const Eigen::Index sizes[] = {1, 1000, 10000, 61706, 100000, 203530, 300000, 500000, 1000000};
    for (const Eigen::Index size : sizes) {
        Eigen::VectorXf values = Eigen::VectorXf::Ones(size);
        Times times;
        for (int i = -3; i < repeats; ++i) {
            MPI_Barrier(MPI_COMM_WORLD);
            const double t0 = MPI_Wtime();
            parallel.sum(values);
            const double t1 = MPI_Wtime();
            if (i >= 0) times.add(t1 - t0, MPI_COMM_WORLD);
        }
        if (parallel.rank() == 0) {
            std::printf("sum      %9ld floats %10ld bytes   %s\n", long(size), long(4 * size),
                        times.summary().c_str());
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    bp::mpi::Environment mpi(argc, argv);
    return bp::mpi::run_or_abort(MPI_COMM_WORLD, [&] {
        const int repeats = argc > 1 ? std::atoi(argv[1]) : 30;
        if (repeats < 1) throw std::invalid_argument("usage: backprop_mpi_step [repeats ≥ 1]");
        bp::mpi::DataParallel<float> parallel;
        if (parallel.rank() == 0) {
            std::printf("%d ranks, %d repeats; times in µs: min, median (of the slowest rank)\n",
                        parallel.ranks(), repeats);
            std::printf("workload   N  shard    params     compute (min, median)   "
                        "all-reduce (min, median)   update (min, median)\n");
        }
        time_mlp(256, repeats, parallel);
        time_mlp(1024, repeats, parallel);
        time_lenet(repeats, parallel);
        if (parallel.rank() == 0) std::printf("all-reduce alone (min, median)\n");
        time_sums(repeats, parallel);
        return 0;
    });
}
