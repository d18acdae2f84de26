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
// vectors of several sizes alone, to fit time = latency + bytes / bandwidth. Last, for each
// workload, the whole DataParallel::compute_gradients with the sums fused and overlapped with
// the backward pass (DataParallel::overlap), and how much of the backward pass is left after
// each layer with parameters: what a bucket sent after that layer can hide under.
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

// The whole of DataParallel::compute_gradients (forward, backward and the sum) with the sums
// fused after the backward pass and overlapped with it (DataParallel::overlap, default
// buckets), alternating from step to step so that both see the same load. Then how much of a
// rank's backward pass is left after each layer with parameters, from a backward() that notes
// the time as each layer ends: what an overlapped bucket sent after that layer can hide under.
template <typename Model, typename Loss, typename X, typename Y, typename Update>
void time_overlap(const char* name, Eigen::Index rows, int repeats, Model& net, Loss& loss,
                  const X& x, const Y& y, bp::mpi::DataParallel<float>& parallel,
                  Update&& update) {
    const MPI_Comm comm = MPI_COMM_WORLD;
    Times fused, overlapped;
    for (int i = -3; i < repeats; ++i) {
        for (const bool on : {false, true}) {
            parallel.overlap(on);
            MPI_Barrier(comm);
            const double t0 = MPI_Wtime();
            parallel.compute_gradients(net, loss, x, y);
            const double t1 = MPI_Wtime();
            update();
            if (i >= 0) (on ? overlapped : fused).add(t1 - t0, comm);
        }
    }
    parallel.overlap(false);
    const bp::Shard shard = parallel.shard(rows);
    std::vector<double> ended(Model::size);
    std::vector<Times> left(Model::size);
    for (int i = -3; i < repeats; ++i) {
        loss.forward(net.forward(x.middleRows(shard.begin, shard.rows)),
                     y.middleRows(shard.begin, shard.rows));
        net.backward(loss.backward(), bp::GradientMode::replace,
                     [&](std::size_t layer) { ended[layer] = MPI_Wtime(); });
        for (std::size_t layer = 0; i >= 0 && layer < Model::size; ++layer) {
            left[layer].add(ended[0] - ended[layer], comm);
        }
    }
    if (parallel.rank() != 0) return;
    std::printf("overlap  %-6s %5ld   fused %s   overlapped %s\n", name, long(rows),
                fused.summary().c_str(), overlapped.summary().c_str());
    bp::for_each_layer(net, [&](std::size_t layer, const auto& l) {
        if constexpr (bp::has_parameters_v<decltype(l)>) {
            std::printf("left     %-6s %5ld   after layer %2zu (%s, %7ld values) %s\n", name,
                        long(rows), layer, l.kind, long(bp::parameter_count(l)),
                        left[layer].summary().c_str());
        }
    });
}

// f(name, rows, net, loss, X, y, update) on a workload whose parameters are rank 0's: the MLP
// 784 → ReLU(256) → 10 with MSE and SGD on a batch of `rows`, or LeNet-5 (rows = 0: its 64).
template <typename F>
void with_workload(Eigen::Index rows, bp::mpi::DataParallel<float>& parallel, F&& f) {
    if (rows > 0) {
        using Mlp = bench::SequentialStep<float, Eigen::Dynamic, Eigen::Dynamic,
                                          Eigen::Dynamic, /*Relu=*/true>;
        Mlp step(784, 256, 10, 0.01f);
        parallel.broadcast_parameters(step.net);
        const bench::Batch<float, Eigen::Dynamic, Eigen::Dynamic> data(rows, 784, 10, 3);
        f("mlp", rows, step.net, step.mse, data.X, data.y, [&] { step.sgd.step(step.net); });
    } else {
        bench::LeNetStep<float> step(0.01f);
        parallel.broadcast_parameters(step.net);
        f("lenet", step.batch, step.net, step.loss, step.X, step.y,
          [&] { step.sgd.step(step.net); });
    }
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
        const Eigen::Index workloads[] = {256, 1024, 0};  // the MLP's batches, LeNet-5
        for (const Eigen::Index rows : workloads) {
            with_workload(rows, parallel, [&](const char* name, Eigen::Index n, auto& net,
                                              auto& loss, const auto& x, const auto& y,
                                              auto&& update) {
                time_steps(name, n, repeats, net, parallel,
                           [&](const bp::Shard& shard) {
                               const float value = loss.forward(
                                   net.forward(x.middleRows(shard.begin, shard.rows)),
                                   y.middleRows(shard.begin, shard.rows));
                               net.backward(loss.backward());
                               return value;
                           },
                           update);
            });
        }
        if (parallel.rank() == 0) std::printf("all-reduce alone (min, median)\n");
        time_sums(repeats, parallel);
        if (parallel.rank() == 0) {
            std::printf("compute_gradients, sums fused or overlapped (min, median); backward "
                        "left after each layer (min, median)\n");
        }
        for (const Eigen::Index rows : workloads) {
            with_workload(rows, parallel, [&](const char* name, Eigen::Index n, auto& net,
                                              auto& loss, const auto& x, const auto& y,
                                              auto&& update) {
                time_overlap(name, n, repeats, net, loss, x, y, parallel, update);
            });
        }
        return 0;
    });
}
