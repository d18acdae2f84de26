// Times one full SGD training step (forward, MSE loss, every backward, the update) on each
// workload in float and double, four ways (steps.hpp): the library with its layers driven by hand,
// the same with the optimiser's finiteness check off, the same layers in a Sequential, and the
// hand-written raw-Eigen step; and prints their ratios measured in the same run, with the
// machine's GEMM peak. Then one step of LeNet-5 (conv, pool, dense, cross-entropy) at batch 64.
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

/// The ways a step is timed; what each is called in the benchmark's names.
enum class Variant {
    library,    ///< "library": LibraryStep, the finiteness check on (the default)
    unchecked,  ///< "library_nocheck": LibraryStep with SGD::set_check_finite(false)
    sequential, ///< "sequential": SequentialStep, the check on
    raw         ///< "raw": RawStep
};

const char* variant_name(Variant v) {
    switch (v) {
        case Variant::library: return "library";
        case Variant::unchecked: return "library_nocheck";
        case Variant::sequential: return "sequential";
        case Variant::raw: return "raw";
    }
    return "";
}

/// Times `step` on workload `w`: one step per iteration, same data every step.
template <typename Scalar, int In, int Out, typename Step>
void run_steps(benchmark::State& state, const Workload& w, Step& step) {
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

/// Times variant V of the step on workload `w`; every variant starts from the same parameters.
template <typename Scalar, int In, int Hidden, int Out, bool Relu, Variant V>
void time_step(benchmark::State& state, const Workload& w) {
    bench::LibraryStep<Scalar, In, Hidden, Out, Relu> library(
        w.in, w.hidden, w.out, learning_rate<Scalar>, V != Variant::unchecked);
    if constexpr (V == Variant::library || V == Variant::unchecked) {
        run_steps<Scalar, In, Out>(state, w, library);
    } else if constexpr (V == Variant::sequential) {
        bench::SequentialStep<Scalar, In, Hidden, Out, Relu> sequential(w.in, w.hidden, w.out,
                                                                        learning_rate<Scalar>);
        run_steps<Scalar, In, Out>(state, w, sequential);
    } else {
        bench::RawStep<Scalar, In, Hidden, Out, Relu> raw(library, w.batch);
        run_steps<Scalar, In, Out>(state, w, raw);
    }
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

/// Checks that the library (check on and off), the Sequential and the raw step take the same
/// steps, then registers the four benchmarks of workload `w` in Scalar.
template <typename Scalar, int In, int Hidden, int Out, bool Relu>
void register_workload(const Workload& w) {
    {
        bench::LibraryStep<Scalar, In, Hidden, Out, Relu> library(w.in, w.hidden, w.out,
                                                                  learning_rate<Scalar>);
        bench::LibraryStep<Scalar, In, Hidden, Out, Relu> unchecked(
            w.in, w.hidden, w.out, learning_rate<Scalar>, false);
        bench::SequentialStep<Scalar, In, Hidden, Out, Relu> sequential(w.in, w.hidden, w.out,
                                                                        learning_rate<Scalar>);
        bench::RawStep<Scalar, In, Hidden, Out, Relu> raw(library, w.batch);
        const bench::Batch<Scalar, In, Out> data(w.batch, w.in, w.out, 3);
        const double tolerance = sizeof(Scalar) == sizeof(float) ? 1e-4 : 1e-10;
        for (int i = 0; i < 3; ++i) {
            const double reference = raw(data.X, data.y);
            const auto agrees = [&](const char* name, double loss, const auto& first_layer) {
                const double dW = max_abs_difference(first_layer.W, raw.W1);
                if (std::abs(loss - reference) > tolerance * std::abs(reference) ||
                    dW > tolerance) {
                    std::fprintf(stderr, "%s/%s: the %s and the raw step disagree at step %d\n",
                                 w.name, dtype_name<Scalar>(), name, i + 1);
                    std::exit(1);
                }
            };
            agrees("library", library(data.X, data.y), library.first_layer());
            agrees("library_nocheck", unchecked(data.X, data.y), unchecked.first_layer());
            agrees("sequential", sequential(data.X, data.y), sequential.first_layer());
        }
    }
    const std::string prefix = std::string(w.name) + "/" + dtype_name<Scalar>() + "/";
    const auto add = [&](Variant v, void (*time)(benchmark::State&, const Workload&)) {
        benchmark::RegisterBenchmark((prefix + variant_name(v)).c_str(), time, w);
    };
    add(Variant::library, time_step<Scalar, In, Hidden, Out, Relu, Variant::library>);
    add(Variant::unchecked, time_step<Scalar, In, Hidden, Out, Relu, Variant::unchecked>);
    add(Variant::sequential, time_step<Scalar, In, Hidden, Out, Relu, Variant::sequential>);
    add(Variant::raw, time_step<Scalar, In, Hidden, Out, Relu, Variant::raw>);
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

template <typename Scalar>
void lenet_step(benchmark::State& state) {
    // One step first, untimed, as compare_pytorch.py does: it sizes every buffer (some 20 MB of
    // im2col in double, paged in on first touch), which a timing of few iterations would
    // otherwise charge to the step.
    bench::LeNetStep<Scalar> step(learning_rate<Scalar>);
    Scalar loss = step();
    for (auto _ : state) {
        loss = step();
        benchmark::DoNotOptimize(loss);
    }
    if (!std::isfinite(loss)) {
        state.SkipWithError("the loss diverged");
    }
    state.counters["useful_flops"] = bench::LeNetStep<Scalar>::useful_flops();
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
        std::printf("\nThe same run: the Sequential step (net.forward, net.backward, sgd.step(net)), "
                    "and the library step without the\nfiniteness check "
                    "(set_check_finite(false)); check on/off is library/library_nocheck.\n\n");
        std::printf("%-17s %-6s %10s %15s %15s %10s %15s %15s\n", "workload", "dtype",
                    "sequential", "seq/raw min", "seq/raw med", "nocheck", "on/off min",
                    "on/off med");
        for (const Workload* w : workloads) {
            for (const char* dtype : {"float", "double"}) {
                sequential_row(*w, dtype);
            }
        }
        lenet_table();
        std::printf("\n");
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
    /// LeNet-5 at batch 64: the library's step, GFLOP/s and fraction of the GEMM peak, and
    /// PyTorch's step with the same threads.
    void lenet_table() {
        bool header = false;
        for (const char* dtype : {"float", "double"}) {
            const auto lib = times_.find(std::string("lenet_batch64/") + dtype + "/library");
            const auto peak = times_.find(std::string("gemm_peak/") + dtype);
            if (lib == times_.end()) {
                continue;
            }
            if (!header) {
                std::printf("\nLeNet-5, batch 64, one training step (SGD, softmax cross-entropy) "
                            "in µs, median; GFLOP/s and %%peak from the best time.\n\n");
                std::printf("%-14s %-6s %10s %9s %9s %11s %15s\n", "workload", "dtype",
                            "library", "GFLOP/s", "%peak", "torch", "torch/lib min med");
                header = true;
            }
            const Times& t = lib->second;
            std::printf("%-14s %-6s %10.1f %9.2f", "lenet_batch64", dtype, t.median(),
                        t.flops / t.min() * 1e-3);
            if (peak != times_.end()) {
                std::printf(" %8.1f%%", 100.0 * t.flops / t.min() /
                                            (peak->second.flops / peak->second.min()));
            } else {
                std::printf(" %9s", "-");
            }
            const auto torch = pytorch_.find(std::string("lenet_batch64/") + dtype + "/" +
                                             std::to_string(Eigen::nbThreads()));
            if (torch != pytorch_.end()) {
                std::printf(" %11.1f %7.2f %7.2f", torch->second.median_us,
                            torch->second.min_us / t.min(), torch->second.median_us / t.median());
            }
            std::printf("\n");
        }
    }

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

    void sequential_row(const Workload& w, const std::string& dtype) {
        const std::string prefix = std::string(w.name) + "/" + dtype + "/";
        const auto library = times_.find(prefix + "library");
        const auto unchecked = times_.find(prefix + "library_nocheck");
        const auto sequential = times_.find(prefix + "sequential");
        const auto raw = times_.find(prefix + "raw");
        if (library == times_.end() || unchecked == times_.end() ||
            sequential == times_.end() || raw == times_.end()) {
            return;
        }
        const Times& seq = sequential->second;
        const Times& on = library->second;
        const Times& off = unchecked->second;
        std::printf("%-17s %-6s %10.3f %15.3f %15.3f %10.3f %15.3f %15.3f\n", w.name,
                    dtype.c_str(), seq.median(), seq.min() / raw->second.min(),
                    seq.median() / raw->second.median(), off.median(), on.min() / off.min(),
                    on.median() / off.median());
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
    benchmark::RegisterBenchmark("lenet_batch64/float/library", lenet_step<float>);
    benchmark::RegisterBenchmark("lenet_batch64/double/library", lenet_step<double>);
    benchmark::RegisterBenchmark("gemm_peak/float", gemm_peak<float>);
    benchmark::RegisterBenchmark("gemm_peak/double", gemm_peak<double>);

    benchmark::Initialize(&count, args.data());
    if (benchmark::ReportUnrecognizedArguments(count, args.data())) {
        return 2;
    }
#ifdef EIGEN_USE_BLAS
    const char* products = "BLAS (EIGEN_USE_BLAS)";
#else
    const char* products = "Eigen's own";
#endif
    std::printf("Eigen %d.%d.%d, SIMD: %s, Eigen threads: %d, large products: %s\n",
                EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION,
                Eigen::SimdInstructionSetsInUse(), Eigen::nbThreads(), products);
    RatioReporter reporter(pytorch_file.empty() ? std::map<std::string, TorchTime>{}
                                                : read_pytorch(pytorch_file));
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
