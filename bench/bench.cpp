// Times one full SGD training step (forward, MSE loss, every backward, the update) through the
// library and through the hand-written raw-Eigen step of steps.hpp, on each workload in float and
// double, and prints their ratios measured in the same run, with the machine's GEMM peak.
//
// Usage: backprop_bench [--pytorch=FILE] [Google Benchmark flags]
//   FILE holds compare_pytorch.py's timings, "workload dtype threads min_us median_us" a line;
//   with it the table also gives the ratio to PyTorch. bench/run.sh does all of this.
#include "steps.hpp"

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using bench::Dynamic;
using bench::Index;

/// A two-layer net and its batch: in → hidden → out, `batch` samples; a ReLU between the
/// layers or none (its template argument Relu says which, where the workload is registered).
struct Workload {
    const char* name;
    Index in, hidden, out, batch;

    /// FLOPs of the hand-written step's products: X·W1, A1·W2, dZ2·W2ᵀ, A1ᵀ·dZ2, Xᵀ·dZ1
    /// (the ReLU's elementwise work is not counted).
    double useful_flops() const {
        return 2.0 * double(batch) * (2.0 * double(in * hidden) + 3.0 * double(hidden * out));
    }
};

const Workload notebook_dynamic{"notebook_dynamic", 5, 5, 1, 10};
const Workload notebook_fixed{"notebook_fixed", 5, 5, 1, 10};
const Workload mlp_64{"mlp_batch64", 784, 256, 10, 64};
const Workload mlp_1024{"mlp_batch1024", 784, 256, 10, 1024};
const Workload* const workloads[] = {&notebook_dynamic, &notebook_fixed, &mlp_64, &mlp_1024};

/// Small enough that the weights stay bounded over millions of steps (checked after timing).
template <typename Scalar>
constexpr Scalar learning_rate = Scalar(1e-3);

template <typename Scalar>
const char* dtype_name() {
    return sizeof(Scalar) == sizeof(float) ? "float" : "double";
}

/// Times `Step` on workload `w`: one step per iteration, same data every step.
template <typename Scalar, int In, int Hidden, int Out, bool Relu, typename Step>
void time_step(benchmark::State& state, const Workload& w) {
    bench::LibraryStep<Scalar, In, Hidden, Out, Relu> library(w.in, w.hidden, w.out,
                                                        learning_rate<Scalar>);
    Step step = [&] {
        if constexpr (std::is_same_v<Step, decltype(library)>) {
            return library;
        } else {
            return Step(library, w.batch);
        }
    }();
    const bench::Batch<Scalar, In, Out> data(w.batch, w.in, w.out, 3);
    Scalar loss = 0;
    for (auto _ : state) {
        loss = step(data.X, data.y);
        benchmark::DoNotOptimize(loss);
    }
    if (!std::isfinite(loss)) {
        state.SkipWithError("the loss diverged: lower the learning rate");
    }
    state.counters["useful_flops"] = w.useful_flops();
}

/// max |a − b| over the coefficients. (A plain loop: GCC 12 warns falsely inside Eigen's
/// vectorised max reduction with AVX-512.)
template <typename A, typename B>
double max_abs_difference(const A& a, const B& b) {
    double difference = 0;
    for (Index i = 0; i < a.rows(); ++i) {
        for (Index j = 0; j < a.cols(); ++j) {
            difference = std::max(difference, std::abs(double(a(i, j)) - double(b(i, j))));
        }
    }
    return difference;
}

/// Checks that the library and the raw step take the same steps, then registers the
/// library and raw benchmarks of workload `w` in Scalar.
template <typename Scalar, int In, int Hidden, int Out, bool Relu>
void register_workload(const Workload& w) {
    using Library = bench::LibraryStep<Scalar, In, Hidden, Out, Relu>;
    using Raw = bench::RawStep<Scalar, In, Hidden, Out, Relu>;
    {
        Library library(w.in, w.hidden, w.out, learning_rate<Scalar>);
        Raw raw(library, w.batch);
        const bench::Batch<Scalar, In, Out> data(w.batch, w.in, w.out, 3);
        for (int i = 0; i < 3; ++i) {
            const double a = library(data.X, data.y);
            const double b = raw(data.X, data.y);
            const double dW = max_abs_difference(library.layer1.W, raw.W1);
            const double tolerance = sizeof(Scalar) == sizeof(float) ? 1e-4 : 1e-10;
            if (std::abs(a - b) > tolerance * std::abs(b) || dW > tolerance) {
                std::fprintf(stderr, "%s/%s: the library and the raw step disagree at step %d\n",
                             w.name, dtype_name<Scalar>(), i + 1);
                std::exit(1);
            }
        }
    }
    const std::string prefix = std::string(w.name) + "/" + dtype_name<Scalar>() + "/";
    benchmark::RegisterBenchmark((prefix + "library").c_str(),
                                 time_step<Scalar, In, Hidden, Out, Relu, Library>, w);
    benchmark::RegisterBenchmark((prefix + "raw").c_str(),
                                 time_step<Scalar, In, Hidden, Out, Relu, Raw>, w);
}

/// C = A·B with n×n matrices: the machine's GEMM peak, in FLOP per step.
template <typename Scalar>
void gemm_peak(benchmark::State& state) {
    const Index n = 1024;
    using Matrix = Eigen::Matrix<Scalar, Dynamic, Dynamic>;
    const Matrix A = Matrix::Random(n, n), B = Matrix::Random(n, n);
    Matrix C(n, n);
    for (auto _ : state) {
        C.noalias() = A * B;
        benchmark::DoNotOptimize(C.data());
        benchmark::ClobberMemory();
    }
    state.counters["useful_flops"] = 2.0 * double(n) * double(n) * double(n);
}

/// The times (µs) of one benchmark's repetitions.
struct Times {
    std::vector<double> us;
    double flops = 0;

    double min() const { return *std::min_element(us.begin(), us.end()); }
    double median() const {
        std::vector<double> sorted = us;
        std::sort(sorted.begin(), sorted.end());
        const std::size_t n = sorted.size();
        return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
};

/// One PyTorch timing from compare_pytorch.py.
struct TorchTime {
    double min_us = 0;
    double median_us = 0;
};

/// PyTorch's times from compare_pytorch.py, by "workload/dtype/threads".
std::map<std::string, TorchTime> read_pytorch(const std::string& path) {
    std::map<std::string, TorchTime> times;
    std::ifstream in(path);
    std::string workload, dtype;
    int threads = 0;
    TorchTime time;
    while (in >> workload >> dtype >> threads >> time.min_us >> time.median_us) {
        times[workload + "/" + dtype + "/" + std::to_string(threads)] = time;
    }
    if (times.empty()) {
        std::fprintf(stderr, "no PyTorch timings in '%s'\n", path.c_str());
    }
    return times;
}

/// The console output of Google Benchmark, then a table of ratios from every repetition.
class RatioReporter : public benchmark::ConsoleReporter {
public:
    explicit RatioReporter(std::map<std::string, TorchTime> pytorch) : pytorch_(std::move(pytorch)) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        // Google Benchmark's own lines: the aggregates only, when there are repetitions.
        std::vector<Run> shown;
        std::copy_if(runs.begin(), runs.end(), std::back_inserter(shown), [](const Run& run) {
            return run.run_type == Run::RT_Aggregate || run.repetitions <= 1;
        });
        if (!shown.empty()) {
            ConsoleReporter::ReportRuns(shown);
        }
        for (const Run& run : runs) {
            if (run.run_type != Run::RT_Iteration || run.error_occurred) {
                continue;
            }
            Times& times = times_[run.run_name.function_name];
            // CPU time when Eigen runs on one thread: the machine is shared, and a step's CPU
            // time leaves out the time other processes held the core. Wall time otherwise.
            const double time = Eigen::nbThreads() == 1 ? run.GetAdjustedCPUTime()
                                                        : run.GetAdjustedRealTime();
            times.us.push_back(time *
                               (run.time_unit == benchmark::kMillisecond   ? 1e3
                                : run.time_unit == benchmark::kMicrosecond ? 1.0
                                : run.time_unit == benchmark::kNanosecond  ? 1e-3
                                                                           : 1e6));
            const auto flops = run.counters.find("useful_flops");
            times.flops = flops == run.counters.end() ? 0.0 : double(flops->second);
        }
    }

    void Finalize() override {
        ConsoleReporter::Finalize();
        std::printf("\nOne training step in µs (%s time), median over the repetitions; ratios are "
                    "min/min and median/median of this run.\nraw: the hand-written Eigen step. "
                    "mlp_*: 784 -> ReLU(256) -> 10; notebook_*: 5 -> 5 -> 1, linear.\n"
                    "%%peak: the raw step's FLOPs in the library's best time, over the best GEMM "
                    "rate below.\n\n",
                    Eigen::nbThreads() == 1 ? "CPU" : "wall");
        std::printf("%-17s %-6s %10s %10s %15s %15s %9s %11s %15s\n", "workload", "dtype",
                    "library", "raw", "lib/raw min", "lib/raw med", "%peak lib", "torch",
                    "torch/lib min med");
        for (const Workload* w : workloads) {
            for (const char* dtype : {"float", "double"}) {
                row(*w, dtype);
            }
        }
        for (const char* dtype : {"float", "double"}) {
            const auto peak = times_.find(std::string("gemm_peak/") + dtype);
            if (peak != times_.end()) {
                std::printf("GEMM peak, %s, 1024x1024x1024: %.1f GFLOP/s (best), %.1f "
                            "(median)\n",
                            dtype, peak->second.flops / peak->second.min() * 1e-3,
                            peak->second.flops / peak->second.median() * 1e-3);
            }
        }
    }

private:
    void row(const Workload& w, const std::string& dtype) {
        const std::string prefix = std::string(w.name) + "/" + dtype + "/";
        const auto library = times_.find(prefix + "library");
        const auto raw = times_.find(prefix + "raw");
        const auto peak = times_.find("gemm_peak/" + dtype);
        if (library == times_.end() || raw == times_.end()) {
            return;
        }
        const Times& lib = library->second;
        std::printf("%-17s %-6s %10.3f %10.3f %15.3f %15.3f", w.name, dtype.c_str(),
                    lib.median(), raw->second.median(), lib.min() / raw->second.min(),
                    lib.median() / raw->second.median());
        if (peak != times_.end()) {
            const double peak_flops_per_us = peak->second.flops / peak->second.min();
            std::printf(" %8.1f%%", 100.0 * w.useful_flops() / lib.min() / peak_flops_per_us);
        } else {
            std::printf(" %9s", "-");
        }
        const std::string workload = w.name;
        const std::string torch_name =
            workload.rfind("notebook", 0) == 0 ? "notebook" : workload;  // torch has no fixed
        const auto torch =
            pytorch_.find(torch_name + "/" + dtype + "/" + std::to_string(Eigen::nbThreads()));
        if (torch != pytorch_.end()) {
            const TorchTime& t = torch->second;
            std::printf(" %11.3f %7.2f %7.2f", t.median_us, t.min_us / lib.min(),
                        t.median_us / lib.median());
        }
        std::printf("\n");
    }

    std::map<std::string, TorchTime> pytorch_;
    std::map<std::string, Times> times_;
};

}  // namespace

int main(int argc, char** argv) {
    std::string pytorch_file;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strncmp(argv[i], "--pytorch=", 10) == 0) {
            pytorch_file = argv[i] + 10;
        } else {
            args.push_back(argv[i]);
        }
    }
    int count = static_cast<int>(args.size());

    // The notebook's net is linear, as in the notebook; the larger ones have a ReLU.
    register_workload<float, Dynamic, Dynamic, Dynamic, false>(notebook_dynamic);
    register_workload<double, Dynamic, Dynamic, Dynamic, false>(notebook_dynamic);
    register_workload<float, 5, 5, 1, false>(notebook_fixed);
    register_workload<double, 5, 5, 1, false>(notebook_fixed);
    register_workload<float, Dynamic, Dynamic, Dynamic, true>(mlp_64);
    register_workload<double, Dynamic, Dynamic, Dynamic, true>(mlp_64);
    register_workload<float, Dynamic, Dynamic, Dynamic, true>(mlp_1024);
    register_workload<double, Dynamic, Dynamic, Dynamic, true>(mlp_1024);
    benchmark::RegisterBenchmark("gemm_peak/float", gemm_peak<float>);
    benchmark::RegisterBenchmark("gemm_peak/double", gemm_peak<double>);

    benchmark::Initialize(&count, args.data());
    if (benchmark::ReportUnrecognizedArguments(count, args.data())) {
        return 2;
    }
    std::printf("Eigen %d.%d.%d, SIMD: %s, Eigen threads: %d\n", EIGEN_WORLD_VERSION,
                EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION, Eigen::SimdInstructionSetsInUse(),
                Eigen::nbThreads());
    RatioReporter reporter(pytorch_file.empty() ? std::map<std::string, TorchTime>{}
                                                : read_pytorch(pytorch_file));
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
