// Times one training step on one thread, on two threads through DataParallel, and on two threads
// through Eigen's own OpenMP products, for docs/performance.md ("Threads"):
//   mlp      784 → ReLU(256) → 10, float, MSE and SGD (bench::SequentialStep), batch 64 and
//            1024, and 32 and 128 for the rule of small batches;
//   lenet    LeNet-5 as examples/fashion_mnist.cpp trains it (bench::LeNetStep), float, softmax
//            cross-entropy and SGD, batch 64 and 256.
// The ways a step is taken, all on the same model, in the same binary (built with -fopenmp):
//   1 thread        forward, loss, backward, optimiser step; Eigen::setNbThreads(1);
//   T=2             DataParallel over 2 threads with its default rule (min_rows 64: a batch of
//                   fewer than 128 rows runs on the caller alone), then the optimiser step;
//   T=2 split       the same with min_rows 1: every batch split in two, to show why the rule;
//   Eigen OpenMP 2  the one-thread step with Eigen::setNbThreads(2): each product on 2 threads.
// The ways are interleaved (one repeat of each in turn, each repeat starting with another way),
// so that a change in the machine's load reaches all of them alike. Each repeat takes ≥ 0.1 s; prints the minimum and median time of a
// step over the repeats, their ratios to one thread, the least CPU time a step took (all the
// process's threads: what the step costs the machine), and the load average before and after.
//
// Usage: backprop_bench_threads [REPEATS]     (default 9)
#include "steps.hpp"

#include <backprop/backprop.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::string load_average() {
    std::ifstream file("/proc/loadavg");
    std::string one, five, fifteen;
    file >> one >> five >> fifteen;
    return one + " " + five + " " + fifteen;
}

/// One way of taking a step, and the seconds per step of each repeat: wall time, and the CPU
/// time of the whole process (every thread's).
struct Way {
    const char* name;
    std::function<void()> step;
    std::vector<double> seconds;
    std::vector<double> cpu;
};

double process_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// Seconds per step of `steps` steps of `way`; adds the CPU seconds per step to way.cpu.
double time_steps(Way& way, int steps) {
    const double cpu = process_cpu_seconds();
    const auto start = Clock::now();
    for (int s = 0; s < steps; ++s) {
        way.step();
    }
    const double wall = std::chrono::duration<double>(Clock::now() - start).count() / steps;
    way.cpu.push_back((process_cpu_seconds() - cpu) / steps);
    return wall;
}

/// Times every way of `ways` on workload `name`, interleaved, and prints its lines of the table.
void run(const char* name, std::vector<Way>& ways, int repeats) {
    // Warm up (buffers sized, threads started) and choose the steps per repeat: ≥ 0.1 s on one
    // thread.
    for (auto& way : ways) {
        time_steps(way, 2);
    }
    const double one = time_steps(ways[0], 3);
    const int steps = std::max(1, static_cast<int>(0.1 / one));
    for (auto& way : ways) {
        way.cpu.clear();  // the warm-up's
    }
    for (int r = 0; r < repeats; ++r) {
        // Repeat r starts with way r (mod the number of ways): whatever a way leaves behind for
        // the next (here the first way of a repeat ran up to 1.4x slower than the same step
        // later in it) falls on each way alike.
        for (std::size_t i = 0; i < ways.size(); ++i) {
            auto& way = ways[(i + static_cast<std::size_t>(r)) % ways.size()];
            way.seconds.push_back(time_steps(way, steps));
        }
    }
    const double base_min = *std::min_element(ways[0].seconds.begin(), ways[0].seconds.end());
    const double base_median = median(ways[0].seconds);
    for (const auto& way : ways) {
        const double min = *std::min_element(way.seconds.begin(), way.seconds.end());
        const double med = median(way.seconds);
        std::printf("| %-16s | %-15s | %9.3f | %9.3f | %5.2fx | %5.2fx | %9.3f |\n", name,
                    way.name, min * 1e3, med * 1e3, base_min / min, base_median / med,
                    *std::min_element(way.cpu.begin(), way.cpu.end()) * 1e3);
    }
    std::fflush(stdout);
}

/// The four ways for a model `net` with loss `loss` and optimiser `sgd` on (X, target).
template <typename Net, typename Loss, typename Optimizer, typename X, typename Target>
std::vector<Way> ways_for(Net& net, Loss& loss, Optimizer& sgd, const X& x,
                          const Target& target,
                          backprop::DataParallel<Net, Loss>& parallel,
                          backprop::DataParallel<Net, Loss>& split) {
    split.set_min_rows(1);
    const auto plain = [&net, &loss, &sgd, &x, &target] {
        loss.forward(net.forward(x), target);
        net.backward(loss.backward());
        sgd.step(net);
    };
    return {
        {"1 thread", plain, {}, {}},
        {"T=2", [&] { parallel.step(x, target); sgd.step(net); }, {}, {}},
        {"T=2 split", [&] { split.step(x, target); sgd.step(net); }, {}, {}},
        {"Eigen OpenMP 2",
         [plain] {
             Eigen::setNbThreads(2);
             plain();
             Eigen::setNbThreads(1);
         },
         {},
         {}},
    };
}

}  // namespace

int main(int argc, char** argv) {
    const int repeats = argc > 1 ? std::atoi(argv[1]) : 9;
    if (repeats < 1) {
        std::fprintf(stderr, "usage: %s [REPEATS ≥ 1]\n", argv[0]);
        return 2;
    }
    Eigen::setNbThreads(1);
    std::printf("load average before: %s; %d repeats, times of one step in ms\n\n",
                load_average().c_str(), repeats);
    std::printf("| %-16s | %-15s | %9s | %9s | %6s | %6s | %9s |\n", "workload", "way", "min",
                "median", "x min", "x med", "CPU min");
    std::printf("|------------------|-----------------|-----------|-----------|--------|--------|"
                "-----------|\n");

    for (const Eigen::Index batch : {32, 64, 128, 1024}) {
        using Step = bench::SequentialStep<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic,
                                           true>;
        Step step(784, 256, 10, 1e-3f);
        const bench::Batch<float, Eigen::Dynamic, Eigen::Dynamic> data(batch, 784, 10, 3);
        using Loss = backprop::MSE<float, Eigen::Dynamic>;
        backprop::DataParallel<Step::Net, Loss> parallel(step.net, 2), split(step.net, 2);
        auto ways = ways_for(step.net, step.mse, step.sgd, data.X, data.y, parallel, split);
        const std::string name = "mlp batch " + std::to_string(batch);
        run(name.c_str(), ways, repeats);
    }
    for (const Eigen::Index batch : {64, 256}) {
        bench::LeNetStep<float> lenet(1e-3f);
        // LeNetStep's batch of 64, repeated to `batch` rows.
        Eigen::MatrixXf X(batch, 784);
        Eigen::VectorXi y(batch);
        for (Eigen::Index i = 0; i < batch; ++i) {
            X.row(i) = lenet.X.row(i % lenet.batch);
            y(i) = lenet.y(i % lenet.batch);
        }
        using Loss = backprop::SoftmaxCrossEntropy<float>;
        backprop::DataParallel<decltype(lenet.net), Loss> parallel(lenet.net, 2),
            split(lenet.net, 2);
        auto ways = ways_for(lenet.net, lenet.loss, lenet.sgd, X, y, parallel, split);
        const std::string name = "lenet batch " + std::to_string(batch);
        run(name.c_str(), ways, repeats);
    }
    std::printf("\nload average after: %s\n", load_average().c_str());
}
