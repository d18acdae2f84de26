// Counts the heap allocations of training steps 2..N with unchanged shapes: every operator new,
// and every malloc, calloc, realloc and posix_memalign made from this program's own code (which
// includes all of Eigen's and the library's, since they are headers). Eigen takes its matrices'
// storage and, past EIGEN_STACK_ALLOCATION_LIMIT (128 KiB), its GEMM packing buffers with
// std::malloc, so counting operator new alone would see nothing.
//
// The C functions are wrapped at link time (-Wl,--wrap=malloc etc., see tests/CMakeLists.txt):
// calls from this executable's objects go to __wrap_malloc, which counts and calls the real
// malloc. Unlike defining malloc here, this leaves AddressSanitizer's malloc in charge, so the
// test runs unchanged under ASan. operator new and delete are replaced, as the standard allows.
//
// Every optimiser here checks that each gradient is finite before it steps (the default,
// Optimizer::set_check_finite): the counts include that check.
//
// Its own executable: the wrapping and the replaced operator new must not reach the other tests.
#include <steps.hpp>  // the library, Sequential and raw-Eigen steps of the benchmark

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <type_traits>

extern "C" {
void* __real_malloc(std::size_t size);
void* __real_calloc(std::size_t count, std::size_t size);
void* __real_realloc(void* pointer, std::size_t size);
int __real_posix_memalign(void** pointer, std::size_t alignment, std::size_t size);
}

namespace {

/// What the counters saw while counting was on.
struct Counts {
    long mallocs = 0;          ///< malloc, calloc, realloc, posix_memalign
    long news = 0;             ///< every form of operator new
    std::size_t smallest = 0;  ///< the smallest size requested, 0 if none
};

std::atomic<bool> counting{false};
std::atomic<long> mallocs{0};
std::atomic<long> news{0};
std::atomic<std::size_t> smallest{0};

void record(std::size_t size, std::atomic<long>& counter) {
    if (!counting.load(std::memory_order_relaxed)) {
        return;
    }
    ++counter;
    std::size_t seen = smallest.load();
    while ((seen == 0 || size < seen) && !smallest.compare_exchange_weak(seen, size)) {
    }
}

/// The allocations made by `work()`.
template <typename Work>
Counts count_allocations(Work&& work) {
    mallocs = 0;
    news = 0;
    smallest = 0;
    counting = true;
    work();
    counting = false;
    return {mallocs.load(), news.load(), smallest.load()};
}

void* checked(void* pointer) {
    if (pointer == nullptr) {
        throw std::bad_alloc();
    }
    return pointer;
}

void* aligned(std::size_t size, std::align_val_t alignment) {
    record(size, news);
    void* pointer = nullptr;
    const auto a = std::max(static_cast<std::size_t>(alignment), sizeof(void*));
    return checked(__real_posix_memalign(&pointer, a, size ? size : 1) == 0 ? pointer : nullptr);
}

}  // namespace

extern "C" {
void* __wrap_malloc(std::size_t size) {
    record(size, mallocs);
    return __real_malloc(size);
}
void* __wrap_calloc(std::size_t count, std::size_t size) {
    record(count * size, mallocs);
    return __real_calloc(count, size);
}
void* __wrap_realloc(void* pointer, std::size_t size) {
    record(size, mallocs);
    return __real_realloc(pointer, size);
}
int __wrap_posix_memalign(void** pointer, std::size_t alignment, std::size_t size) {
    record(size, mallocs);
    return __real_posix_memalign(pointer, alignment, size);
}
}

// Every replaceable form, so that each delete meets the allocator of its new (ASan checks).
void* operator new(std::size_t size) {
    record(size, news);
    return checked(__real_malloc(size ? size : 1));
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, std::align_val_t alignment) { return aligned(size, alignment); }
void* operator new[](std::size_t size, std::align_val_t alignment) {
    return aligned(size, alignment);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    record(size, news);
    return __real_malloc(size ? size : 1);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
    return operator new(size, tag);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    try {
        return aligned(size, alignment);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, std::align_val_t alignment,
                     const std::nothrow_t& tag) noexcept {
    return operator new(size, alignment, tag);
}
// Each delete frees what its new took from malloc. GCC 12 sees, once a delete is inlined into a
// container's code, the standard operator new meet std::free and warns; the pair is this file's
// own and matched, so that warning is silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* pointer) noexcept { std::free(pointer); }
void operator delete[](void* pointer) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::size_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer, std::size_t) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::align_val_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer, std::align_val_t) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::size_t, std::align_val_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer, std::size_t, std::align_val_t) noexcept {
    std::free(pointer);
}
void operator delete(void* pointer, const std::nothrow_t&) noexcept { std::free(pointer); }
void operator delete[](void* pointer, const std::nothrow_t&) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(pointer);
}
void operator delete[](void* pointer, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(pointer);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace {

using bench::Dynamic;

/// Steps 2..steps of `step` on a fixed batch: the first step may size the buffers.
template <typename Scalar, int In, int Out, typename Step>
Counts count_steps(Step& step, Eigen::Index batch, Eigen::Index in, Eigen::Index out,
                   int steps) {
    const bench::Batch<Scalar, In, Out> data(batch, in, out, 5);
    step(data.X, data.y);
    return count_allocations([&] {
        for (int i = 1; i < steps; ++i) {
            step(data.X, data.y);
        }
    });
}

}  // namespace

TEST_CASE("Allocation: the counters see malloc and operator new", "[allocation]") {
    static int* volatile pointer = nullptr;  // volatile: the compiler may not elide the new
    const Counts counts = count_allocations([] {
        Eigen::MatrixXd m(3, 4);  // Eigen's storage: std::malloc
        m.setZero();
        pointer = new int(1);
        delete pointer;
    });
    CHECK(counts.mallocs == 1);
    CHECK(counts.news == 1);
}

/// Checks that steps 2..20 of Step (LibraryStep or SequentialStep) on the notebook's 5 → 5 → 1
/// net at batch 10, with SGD checking finiteness, allocate nothing: dynamic and fixed sizes.
template <template <typename, int, int, int, bool> class Step, typename Scalar>
void check_notebook_allocates_nothing() {
    const auto check = [](auto step, auto fixed) {
        constexpr int In = decltype(fixed)::value ? 5 : Dynamic;
        constexpr int Out = decltype(fixed)::value ? 1 : Dynamic;
        REQUIRE(step.sgd.checks_finite());
        const Counts counts = count_steps<Scalar, In, Out>(step, 10, 5, 1, 20);
        CHECK(counts.mallocs == 0);
        CHECK(counts.news == 0);
    };
    const Scalar lr(0.01);
    check(Step<Scalar, Dynamic, Dynamic, Dynamic, false>(5, 5, 1, lr), std::false_type{});
    check(Step<Scalar, 5, 5, 1, false>(5, 5, 1, lr), std::true_type{});
}

TEMPLATE_TEST_CASE("Allocation: the notebook's net allocates nothing after its first step",
                   "[allocation]", float, double) {
    // 5 → 5 → 1 at batch 10: every product is far below Eigen's 128 KiB packing threshold.
    SECTION("layers driven by hand") {
        check_notebook_allocates_nothing<bench::LibraryStep, TestType>();
    }
    SECTION("the same layers in a Sequential") {
        check_notebook_allocates_nothing<bench::SequentialStep, TestType>();
    }
}

TEMPLATE_TEST_CASE("Allocation: past the first step, a large net allocates only Eigen's packing "
                   "buffers, as raw Eigen does", "[allocation]", float, double) {
    // 784 → ReLU(256) → 10 at batch 64: Eigen's GEMM mallocs its packing buffers for the products
    // whose blocks pass 128 KiB. The library's step, by hand or through a Sequential, must add
    // nothing to what the raw-Eigen step with the same products allocates, and nothing smaller
    // than that threshold.
    bench::LibraryStep<TestType, Dynamic, Dynamic, Dynamic, true> library(784, 256, 10,
                                                                          TestType(1e-3));
    bench::SequentialStep<TestType, Dynamic, Dynamic, Dynamic, true> sequential(784, 256, 10,
                                                                                TestType(1e-3));
    bench::RawStep<TestType, Dynamic, Dynamic, Dynamic, true> raw(library, 64);
    const int steps = 4;
    const Counts raw_counts = count_steps<TestType, Dynamic, Dynamic>(raw, 64, 784, 10, steps);
    const auto check = [&](const Counts& counts) {
        CHECK(counts.news == 0);
        CHECK(counts.mallocs == raw_counts.mallocs);
        if (counts.mallocs > 0) {
            CHECK(counts.smallest > std::size_t{EIGEN_STACK_ALLOCATION_LIMIT});
        }
    };
    SECTION("by hand") {
        check(count_steps<TestType, Dynamic, Dynamic>(library, 64, 784, 10, steps));
    }
    SECTION("Sequential") {
        check(count_steps<TestType, Dynamic, Dynamic>(sequential, 64, 784, 10, steps));
    }
}

TEMPLATE_TEST_CASE("Allocation: the mallocs per step of the large nets, for docs/performance.md",
                   "[.report]", float, double) {
    // Hidden: run it with `backprop_allocation_tests "[.report]"` to print the figures.
    const int steps = 4;
    for (const Eigen::Index batch : {64, 1024}) {
        bench::LibraryStep<TestType, Dynamic, Dynamic, Dynamic, true> library(784, 256, 10,
                                                                              TestType(1e-3));
        bench::SequentialStep<TestType, Dynamic, Dynamic, Dynamic, true> sequential(
            784, 256, 10, TestType(1e-3));
        bench::RawStep<TestType, Dynamic, Dynamic, Dynamic, true> raw(library, batch);
        const auto count = [&](auto& step) {
            return count_steps<TestType, Dynamic, Dynamic>(step, batch, 784, 10, steps).mallocs;
        };
        const long counts[] = {count(library), count(sequential), count(raw)};
        std::printf("%-6s 784-ReLU(256)-10 batch %4ld, mallocs per step: library %.1f, "
                    "Sequential %.1f, raw %.1f\n",
                    sizeof(TestType) == sizeof(float) ? "float" : "double", long(batch),
                    double(counts[0]) / (steps - 1), double(counts[1]) / (steps - 1),
                    double(counts[2]) / (steps - 1));
        CHECK(counts[0] == counts[2]);
        CHECK(counts[1] == counts[2]);
    }
}

TEMPLATE_TEST_CASE("Allocation: a ReLU classifier with softmax cross-entropy and Momentum, "
                   "Adam or AdamW allocates nothing after its first step", "[allocation]", float,
                   double) {
    // The digits example's network at batch 32: Sequential, ReLU, SoftmaxCrossEntropy, and the
    // optimisers' state beside each parameter, which is created at its first step only; every
    // step checks that the gradients are finite first.
    using Dense = backprop::Dense<TestType>;
    using Net = backprop::Sequential<Dense, backprop::ReLU<TestType>, Dense>;
    const auto run = [](auto& optimizer) {
        Net net(Dense(64, 32, 1), backprop::ReLU<TestType>(), Dense(32, 10, 2));
        backprop::SoftmaxCrossEntropy<TestType> loss;
        const bench::Batch<TestType, Dynamic, Dynamic> data(32, 64, 10, 5);
        Eigen::VectorXi labels(32);
        for (Eigen::Index i = 0; i < 32; ++i) {
            labels(i) = int(i % 10);
        }
        const auto step = [&] {
            loss.forward(net.forward(data.X), labels);
            net.backward(loss.backward());
            optimizer.step(net);
        };
        step();
        return count_allocations([&] {
            for (int i = 0; i < 10; ++i) {
                step();
            }
        });
    };
    backprop::Momentum<TestType> nesterov(TestType(0.1), TestType(0.9), true);
    backprop::Adam<TestType> adam;
    backprop::AdamW<TestType> adamw;
    REQUIRE(nesterov.checks_finite());
    REQUIRE(adam.checks_finite());
    REQUIRE(adamw.checks_finite());
    for (const Counts& counts : {run(nesterov), run(adam), run(adamw)}) {
        CHECK(counts.mallocs == 0);
        CHECK(counts.news == 0);
    }
}

TEMPLATE_TEST_CASE("Allocation: past the first step, LeNet-5 allocates only Eigen's packing "
                   "buffers", "[allocation]", float, double) {
    // The Fashion-MNIST example's network at batch 64 (bench::LeNetStep): Conv2D's im2col and
    // col2im buffers, MaxPool2D's argmax, every Dense and ReLU output and the loss are the layers'
    // own, sized at the first step. What is left are the GEMMs' packing buffers, which Eigen
    // mallocs for each product whose blocks pass 128 KiB: at most two per product (the packed
    // left and right blocks), and the step has 14 products (forward, dW, and dX but the first
    // layer's: 2 + 3 for the convolutions, 3 × 3 for the dense layers). Every step must allocate
    // the same, nothing through new, and nothing below the threshold.
    bench::LeNetStep<TestType> step(TestType(1e-3));
    REQUIRE(step.sgd.checks_finite());
    step();
    const Counts first = count_allocations([&] { step(); });
    const Counts more = count_allocations([&] {
        for (int i = 0; i < 3; ++i) {
            step();
        }
    });
    std::printf("%-6s LeNet-5 batch 64, mallocs per step: %ld, the smallest %zu bytes\n",
                sizeof(TestType) == sizeof(float) ? "float" : "double", first.mallocs,
                first.smallest);
    CHECK(first.news == 0);
    CHECK(more.news == 0);
    CHECK(more.mallocs == 3 * first.mallocs);
    CHECK(first.mallocs <= 2 * 14);
    if (first.mallocs > 0) {
        CHECK(first.smallest > std::size_t{EIGEN_STACK_ALLOCATION_LIMIT});
    }
}

TEMPLATE_TEST_CASE("Allocation: past the first step, the data-parallel step on 2 threads "
                   "allocates only the packing buffers of its shards' products", "[allocation]",
                   float, double) {
    // 784 → ReLU(256) → 10 at batch 128 through DataParallel on 2 threads: two shards of 64 rows,
    // each computing the products of a one-thread step at batch 64 (its thread's own packing
    // buffers, malloc'd by Eigen past 128 KiB). The replicas' caches, the flat gradients and
    // their sum are sized at the first step; the pool passes the task without allocating. So a
    // step must allocate exactly twice what a one-thread step at batch 64 does, nothing through
    // new, and nothing below the packing threshold.
    using Step = bench::SequentialStep<TestType, Dynamic, Dynamic, Dynamic, true>;
    Step one(784, 256, 10, TestType(1e-3));
    const int steps = 4;
    const Counts shard_counts = count_steps<TestType, Dynamic, Dynamic>(one, 64, 784, 10, steps);

    Step two(784, 256, 10, TestType(1e-3));
    backprop::DataParallel<typename Step::Net, backprop::MSE<TestType>> parallel(two.net, 2);
    REQUIRE(parallel.shards(128) == 2);
    auto step = [&](const auto& X, const auto& y) {
        const TestType loss = parallel.step(X, y);
        two.sgd.step(two.net);
        return loss;
    };
    const Counts counts = count_steps<TestType, Dynamic, Dynamic>(step, 128, 784, 10, steps);
    CHECK(counts.news == 0);
    CHECK(counts.mallocs == 2 * shard_counts.mallocs);
    if (counts.mallocs > 0) {
        CHECK(counts.smallest > std::size_t{EIGEN_STACK_ALLOCATION_LIMIT});
    }
}

TEMPLATE_TEST_CASE("Allocation: predict(X, buffers) into reused buffers allocates nothing",
                   "[allocation][predict]", float, double) {
    // Inference on a const model: after the first call has sized the buffers, each further call
    // with the same batch writes into them and allocates nothing, through the Sequential and
    // through a layer alone. 16 → 32 → 10 at batch 8 keeps every product below the packing
    // threshold, so Eigen's GEMM allocates nothing of its own either.
    using T = TestType;
    using Net = backprop::Sequential<backprop::Dense<T>, backprop::ReLU<T>, backprop::Dense<T>,
                                     backprop::Tanh<T>>;
    const Net net(backprop::Dense<T>(16, 32, 1), backprop::ReLU<T>(), backprop::Dense<T>(32, 10, 2),
                  backprop::Tanh<T>());
    const Eigen::Matrix<T, Dynamic, Dynamic> X =
        Eigen::Matrix<T, Dynamic, Dynamic>::Random(8, 16);
    typename Net::Buffers buffers;
    const auto expected = net.predict(X);
    REQUIRE(net.predict(X, buffers) == expected);
    const auto& dense = net.template layer<0>();
    typename backprop::Dense<T>::Output Z;
    dense.predict(X, Z);
    const Counts counts = count_allocations([&] {
        for (int i = 0; i < 5; ++i) {
            net.predict(X, buffers);
            dense.predict(X, Z);
        }
    });
    CHECK(counts.mallocs == 0);
    CHECK(counts.news == 0);
    CHECK(net.predict(X, buffers) == expected);
    CHECK(Z == dense.predict(X));
}
