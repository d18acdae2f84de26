// Tests of the training loop's pieces: data/batches.hpp (shuffled mini-batches) and
// optim/schedule.hpp (learning-rate schedules, against PyTorch's values in
// reference/pytorch_reference_schedules.hpp, written by reference/make_reference_schedules.py).
#include <backprop/data/batches.hpp>
#include <backprop/data/csv.hpp>  // train_test_split draws the same first order
#include <backprop/optim/schedule.hpp>

#include "reference/pytorch_reference_schedules.hpp"

#include <backprop/detail/random.hpp>  // the examples' hand-written loop, to compare with

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using backprop::LastBatch;
using backprop::MiniBatches;
using Catch::Matchers::Contains;

namespace {

template <typename Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// n samples whose features say which row they are: X(i, j) = i + j/4 (exact in float), and
/// labels(i) = 1000 + i.
template <typename Scalar>
Matrix<Scalar> numbered_rows(Eigen::Index n, Eigen::Index features) {
    Matrix<Scalar> X(n, features);
    for (Eigen::Index i = 0; i < n; ++i) {
        for (Eigen::Index j = 0; j < features; ++j) X(i, j) = Scalar(i) + Scalar(j) / 4;
    }
    return X;
}

Eigen::VectorXi numbered_labels(Eigen::Index n) {
    Eigen::VectorXi labels(n);
    for (Eigen::Index i = 0; i < n; ++i) labels(i) = 1000 + static_cast<int>(i);
    return labels;
}

/// The rows one epoch visits, in order, read back from the batches' features; checks on the way
/// that every row of a batch is a whole row of X with its own label.
template <typename Scalar>
std::vector<Eigen::Index> walk_epoch(MiniBatches<Scalar>& batches,
                                     std::vector<Eigen::Index>* batch_rows = nullptr) {
    std::vector<Eigen::Index> rows;
    for (const auto& batch : batches.epoch()) {
        REQUIRE(batch.X.cols() == batches.X().cols());
        REQUIRE(batch.y.rows() == batch.X.rows());
        if (batch_rows) batch_rows->push_back(batch.X.rows());
        for (Eigen::Index r = 0; r < batch.X.rows(); ++r) {
            const auto row = static_cast<Eigen::Index>(batch.X(r, 0));
            REQUIRE(batch.X.row(r) == batches.X().row(row));
            REQUIRE(batch.y(r) == 1000 + row);
            rows.push_back(row);
        }
    }
    return rows;
}

std::vector<Eigen::Index> sorted(std::vector<Eigen::Index> v) {
    std::sort(v.begin(), v.end());
    return v;
}

std::vector<Eigen::Index> iota(Eigen::Index n) {
    std::vector<Eigen::Index> v(static_cast<std::size_t>(n));
    std::iota(v.begin(), v.end(), Eigen::Index(0));
    return v;
}

template <typename Call>
std::string error_of(Call call) {
    try {
        call();
    } catch (const std::invalid_argument& error) {
        return error.what();
    }
    return "no exception";
}

}  // namespace

// --- MiniBatches -------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("MiniBatches: each epoch visits every row once, labels following their rows",
                   "[batches]", float, double) {
    const auto X = numbered_rows<TestType>(23, 3);
    const auto labels = numbered_labels(23);

    SECTION("LastBatch::keep: every row exactly once, the last batch short") {
        MiniBatches<TestType> batches(X, labels, 5, 1, LastBatch::keep);
        CHECK(batches.size() == 23);
        CHECK(batches.batch_size() == 5);
        CHECK(batches.batches_per_epoch() == 5);
        for (int epoch = 0; epoch < 3; ++epoch) {
            std::vector<Eigen::Index> batch_rows;
            const auto rows = walk_epoch(batches, &batch_rows);
            CHECK(sorted(rows) == iota(23));
            CHECK(batch_rows == std::vector<Eigen::Index>{5, 5, 5, 5, 3});
            CHECK(rows == batches.order());  // batch k holds order()[k·batch_size …]
        }
    }
    SECTION("LastBatch::drop: full batches only, each row at most once, other rows left out") {
        MiniBatches<TestType> batches(X, labels, 5, 1, LastBatch::drop);
        CHECK(batches.batches_per_epoch() == 4);
        std::vector<std::vector<Eigen::Index>> left_out;
        for (int epoch = 0; epoch < 3; ++epoch) {
            std::vector<Eigen::Index> batch_rows;
            const auto rows = walk_epoch(batches, &batch_rows);
            CHECK(batch_rows == std::vector<Eigen::Index>{5, 5, 5, 5});
            const auto visited = sorted(rows);
            CHECK(std::adjacent_find(visited.begin(), visited.end()) == visited.end());
            CHECK(std::vector<Eigen::Index>(batches.order().begin(), batches.order().begin() + 20) ==
                  rows);
            left_out.emplace_back(batches.order().begin() + 20, batches.order().end());
        }
        // The shuffle leaves out other rows each epoch (for this seed).
        CHECK(sorted(left_out[0]) != sorted(left_out[1]));
        CHECK(sorted(left_out[1]) != sorted(left_out[2]));
    }
    SECTION("a batch size that divides n: drop and keep give the same batches") {
        MiniBatches<TestType> drop(X.topRows(20), labels.head(20), 4, 9, LastBatch::drop);
        MiniBatches<TestType> keep(X.topRows(20), labels.head(20), 4, 9, LastBatch::keep);
        CHECK(drop.batches_per_epoch() == 5);
        CHECK(keep.batches_per_epoch() == 5);
        CHECK(walk_epoch(drop) == walk_epoch(keep));
    }
    SECTION("fewer samples than the batch size, kept: one short batch of all of them") {
        MiniBatches<TestType> batches(X.topRows(3), labels.head(3), 8, 2, LastBatch::keep);
        std::vector<Eigen::Index> batch_rows;
        CHECK(sorted(walk_epoch(batches, &batch_rows)) == iota(3));
        CHECK(batch_rows == std::vector<Eigen::Index>{3});
    }
}

TEMPLATE_TEST_CASE("MiniBatches: regression targets (n, outputs) follow their rows", "[batches]",
                   float, double) {
    const auto X = numbered_rows<TestType>(11, 2);
    Matrix<TestType> Y(11, 3);
    for (Eigen::Index i = 0; i < 11; ++i) Y.row(i) << TestType(2 * i), TestType(-i), TestType(7);
    MiniBatches<TestType, Matrix<TestType>> batches(X, Y, 4, 3, LastBatch::keep);
    std::vector<Eigen::Index> rows;
    for (const auto& batch : batches.epoch()) {
        REQUIRE(batch.y.cols() == 3);
        REQUIRE(batch.y.rows() == batch.X.rows());
        for (Eigen::Index r = 0; r < batch.X.rows(); ++r) {
            const auto row = static_cast<Eigen::Index>(batch.X(r, 0));
            CHECK(batch.y.row(r) == Y.row(row));
            rows.push_back(row);
        }
    }
    CHECK(sorted(rows) == iota(11));
}

TEST_CASE("MiniBatches: the order is seeded, the same everywhere, and new each epoch",
          "[batches]") {
    const auto X = numbered_rows<double>(10, 2);
    const auto labels = numbered_labels(10);

    SECTION("the orders of seed 42, from an independent SplitMix64 and Fisher-Yates in Python") {
        MiniBatches<double> batches(X, labels, 3, 42, LastBatch::keep);
        CHECK(batches.order() == iota(10));  // before the first epoch
        CHECK(walk_epoch(batches) == std::vector<Eigen::Index>{0, 9, 5, 8, 6, 4, 7, 2, 1, 3});
        CHECK(walk_epoch(batches) == std::vector<Eigen::Index>{0, 3, 8, 5, 4, 2, 9, 7, 1, 6});
    }
    SECTION("the same seed gives the same epochs; each epoch differs; another seed differs") {
        MiniBatches<double> a(X, labels, 4, 5, LastBatch::keep);
        MiniBatches<double> b(X, labels, 4, 5, LastBatch::keep);
        MiniBatches<double> c(X, labels, 4, 6, LastBatch::keep);
        std::vector<std::vector<Eigen::Index>> epochs;
        for (int epoch = 0; epoch < 4; ++epoch) {
            epochs.push_back(walk_epoch(a));
            CHECK(walk_epoch(b) == epochs.back());
            CHECK(walk_epoch(c) != epochs.back());
        }
        for (std::size_t e = 1; e < epochs.size(); ++e) CHECK(epochs[e] != epochs[e - 1]);
    }
    SECTION("the first epoch's order is the permutation train_test_split draws") {
        // train_test_split's test set is the first ⌈0.3·10⌉ = 3 shuffled rows, its training set
        // the others, in shuffled order.
        MiniBatches<double> batches(X, labels, 3, 42, LastBatch::keep);
        const auto rows = walk_epoch(batches);
        const auto split = backprop::train_test_split(backprop::LabeledData<double>{X, labels, {}},
                                                      0.3, 42);
        std::vector<Eigen::Index> split_rows;
        for (const auto* part : {&split.test, &split.train}) {
            for (Eigen::Index r = 0; r < part->size(); ++r) {
                split_rows.push_back(static_cast<Eigen::Index>(part->X(r, 0)));
            }
        }
        CHECK(rows == split_rows);
    }
    SECTION("an epoch left early: the next one is a whole new epoch") {
        MiniBatches<double> batches(X, labels, 3, 42, LastBatch::keep);
        for (const auto& batch : batches.epoch()) {
            CHECK(batch.X.rows() == 3);
            break;
        }
        CHECK(walk_epoch(batches) == std::vector<Eigen::Index>{0, 3, 8, 5, 4, 2, 9, 7, 1, 6});
    }
}

TEST_CASE("MiniBatches: the same batches as the examples' hand-written loop", "[batches]") {
    // What examples/digits.cpp did before MiniBatches: an index vector shuffled in place each
    // epoch by Fisher–Yates from one SplitMix64, whole batches only.
    const Eigen::Index n = 37;
    const Eigen::Index batch = 8;
    const auto X = numbered_rows<float>(n, 4);
    const auto labels = numbered_labels(n);
    std::vector<Eigen::Index> order = iota(n);
    backprop::detail::SplitMix64 rng(7);

    MiniBatches<float> batches(X, labels, batch, 7, LastBatch::drop);
    for (int epoch = 0; epoch < 3; ++epoch) {
        for (std::size_t i = order.size(); i > 1; --i) {
            std::swap(order[i - 1], order[static_cast<std::size_t>(rng.next() % i)]);
        }
        std::size_t start = 0;
        for (const auto& b : batches.epoch()) {
            REQUIRE(start + batch <= order.size());
            for (Eigen::Index i = 0; i < batch; ++i) {
                const Eigen::Index row = order[start + static_cast<std::size_t>(i)];
                CHECK(b.X.row(i) == X.row(row));
                CHECK(b.y(i) == labels(row));
            }
            start += batch;
        }
        CHECK(start + batch > order.size());  // and no batch was left out
    }
}

TEST_CASE("MiniBatches: the batch buffers are reused, never reallocated", "[batches]") {
    const auto X = numbered_rows<double>(23, 3);
    const auto labels = numbered_labels(23);
    for (const LastBatch last : {LastBatch::keep, LastBatch::drop}) {
        MiniBatches<double> batches(X, labels, 5, 4, last);
        // Where each batch of the first epoch lives; every later batch must live there too.
        std::vector<std::pair<const double*, const int*>> first;
        for (int epoch = 0; epoch < 4; ++epoch) {
            std::size_t k = 0;
            for (const auto& batch : batches.epoch()) {
                const std::pair<const double*, const int*> at{batch.X.data(), batch.y.data()};
                if (epoch == 0) {
                    first.push_back(at);
                } else {
                    CHECK(at == first[k]);
                }
                ++k;
            }
        }
        REQUIRE(first.size() == (last == LastBatch::keep ? 5u : 4u));
        // All full batches share one buffer; a kept short batch has its own.
        for (std::size_t k = 1; k < 4; ++k) CHECK(first[k] == first[0]);
        if (last == LastBatch::keep) CHECK(first[4].first != first[0].first);
    }
}

TEST_CASE("MiniBatches: deduced from X and y; the iterator is an input iterator", "[batches]") {
    const Eigen::MatrixXf X = numbered_rows<float>(6, 2);
    const Eigen::VectorXi labels = numbered_labels(6);
    backprop::MiniBatches batches(X, labels, 2, 0, LastBatch::drop);
    STATIC_REQUIRE(std::is_same_v<decltype(batches), MiniBatches<float, Eigen::VectorXi>>);
    auto epoch = batches.epoch();
    CHECK(epoch.size() == 3);
    CHECK(std::distance(epoch.begin(), epoch.end()) == 3);
    STATIC_REQUIRE(std::is_same_v<std::iterator_traits<decltype(epoch.begin())>::iterator_category,
                                  std::input_iterator_tag>);
}

TEST_CASE("MiniBatches: bad input throws, naming the call and the shapes", "[batches]") {
    const auto X = numbered_rows<double>(10, 3);
    const auto labels = numbered_labels(10);
    CHECK_THAT(error_of([&] { MiniBatches<double>(X, labels, 0, 1, LastBatch::keep); }),
               Contains("MiniBatches: the batch size is 0 but must be at least 1"));
    CHECK_THAT(error_of([&] { MiniBatches<double>(X, labels, -3, 1, LastBatch::keep); }),
               Contains("MiniBatches: the batch size is -3"));
    CHECK_THAT(error_of([&] { MiniBatches<double>(X, labels.head(9), 2, 1, LastBatch::keep); }),
               Contains("MiniBatches: X is 10x3 but y is 9x1"));
    CHECK_THAT(error_of([&] { MiniBatches<double>(X.topRows(0), labels.head(0), 2, 1,
                                                  LastBatch::keep); }),
               Contains("MiniBatches: X is 0x3 but must have samples"));
    CHECK_THAT(error_of([&] { MiniBatches<double>(X.leftCols(0), labels, 2, 1,
                                                  LastBatch::keep); }),
               Contains("MiniBatches: X is 10x0"));
    CHECK_THAT(error_of([&] { MiniBatches<double>(X, labels, 11, 1, LastBatch::drop); }),
               Contains("MiniBatches: X is 10x3 so batches of 11 rows with LastBatch::drop "
                        "leave no batch"));
    CHECK_NOTHROW(MiniBatches<double>(X, labels, 11, 1, LastBatch::keep));
    CHECK_NOTHROW(MiniBatches<double>(X, labels, 10, 1, LastBatch::drop));
}

// --- Schedules ---------------------------------------------------------------------------------

namespace {

/// schedule(t) against PyTorch's lr[t] for every t, to 1e-12 relative (zeros exactly).
template <typename Schedule>
void check_against_pytorch(const char* name, const Schedule& schedule,
                           const std::vector<double>& lr) {
    REQUIRE(lr.size() >= 30);
    for (std::size_t t = 0; t < lr.size(); ++t) {
        const double ours = schedule(static_cast<std::int64_t>(t));
        INFO(name << " at t = " << t << ": ours " << ours << ", PyTorch " << lr[t]);
        CHECK(std::abs(ours - lr[t]) <= 1e-12 * std::abs(lr[t]));
    }
}

}  // namespace

TEST_CASE("StepLR: PyTorch's values, by hand, and bad arguments", "[schedule]") {
    SECTION("against torch.optim.lr_scheduler.StepLR") {
        REQUIRE(reference::step_lr_cases.size() == 4);
        for (const auto& c : reference::step_lr_cases) {
            check_against_pytorch(c.name, backprop::StepLR(c.base_lr, c.step_size, c.gamma), c.lr);
        }
    }
    SECTION("by hand: lr(t) = base_lr · gamma^⌊t / step_size⌋") {
        const backprop::StepLR schedule(0.1, 3, 0.5);
        CHECK(schedule(0) == 0.1);
        CHECK(schedule(2) == 0.1);
        CHECK(schedule(3) == 0.05);
        CHECK(schedule(8) == 0.025);
        CHECK(backprop::StepLR(1.0, 1)(2) == Approx(0.01).epsilon(1e-15));  // gamma = 0.1
    }
    SECTION("bad arguments") {
        CHECK_THAT(error_of([] { backprop::StepLR(0.0, 3); }),
                   Contains("StepLR: base_lr is 0 but must be finite and positive"));
        CHECK_THAT(error_of([] { backprop::StepLR(0.1, 0); }),
                   Contains("StepLR: step_size is 0 but must be at least 1"));
        CHECK_THAT(error_of([] { backprop::StepLR(0.1, 3, 1.5); }),
                   Contains("StepLR: gamma is 1.5 but must be in (0, 1]"));
        CHECK_THAT(error_of([] { backprop::StepLR(0.1, 3, 0.0); }), Contains("StepLR: gamma is 0"));
        CHECK_THAT(error_of([] { backprop::StepLR(0.1, 3)(-1); }),
                   Contains("StepLR: the step t is -1 but must be at least 0"));
    }
}

TEST_CASE("CosineAnnealingLR: PyTorch's values, by hand, and bad arguments", "[schedule]") {
    SECTION("against torch.optim.lr_scheduler.CosineAnnealingLR, past T_max too") {
        REQUIRE(reference::cosine_annealing_lr_cases.size() == 4);
        for (const auto& c : reference::cosine_annealing_lr_cases) {
            check_against_pytorch(c.name, backprop::CosineAnnealingLR(c.base_lr, c.T_max, c.eta_min),
                                  c.lr);
        }
    }
    SECTION("by hand: base_lr at 0, halfway at T_max/2, eta_min at T_max, base_lr at 2·T_max") {
        const backprop::CosineAnnealingLR schedule(0.5, 10, 0.1);
        CHECK(schedule(0) == 0.5);
        CHECK(schedule(5) == Approx(0.3).epsilon(1e-15));
        CHECK(schedule(10) == 0.1);
        CHECK(schedule(20) == 0.5);
        CHECK(schedule(15) == Approx(0.3).epsilon(1e-15));
    }
    SECTION("bad arguments") {
        CHECK_THAT(error_of([] { backprop::CosineAnnealingLR(-0.1, 10); }),
                   Contains("CosineAnnealingLR: base_lr is -0.1 but must be finite and positive"));
        CHECK_THAT(error_of([] { backprop::CosineAnnealingLR(0.1, 0); }),
                   Contains("CosineAnnealingLR: T_max is 0 but must be at least 1"));
        CHECK_THAT(error_of([] { backprop::CosineAnnealingLR(0.1, 10, 0.2); }),
                   Contains("CosineAnnealingLR: eta_min is 0.2 but must be in [0, base_lr = 0.1]"));
        CHECK_THAT(error_of([] { backprop::CosineAnnealingLR(0.1, 10, -1e-3); }),
                   Contains("CosineAnnealingLR: eta_min is -0.001"));
        CHECK_THAT(error_of([] { backprop::CosineAnnealingLR(0.1, 10)(-2); }),
                   Contains("CosineAnnealingLR: the step t is -2"));
    }
}

TEST_CASE("LinearLR: PyTorch's values, by hand, and bad arguments", "[schedule]") {
    SECTION("against torch.optim.lr_scheduler.LinearLR, warming up and decaying") {
        REQUIRE(reference::linear_lr_cases.size() == 4);
        for (const auto& c : reference::linear_lr_cases) {
            check_against_pytorch(
                c.name, backprop::LinearLR(c.base_lr, c.start_factor, c.end_factor, c.total_iters),
                c.lr);
        }
    }
    SECTION("by hand: PyTorch's defaults 1/3, 1, 5") {
        const backprop::LinearLR schedule(0.3);
        CHECK(schedule(0) == Approx(0.1).epsilon(1e-15));
        CHECK(schedule(1) == Approx(0.14).epsilon(1e-15));
        CHECK(schedule(5) == Approx(0.3).epsilon(1e-15));
        CHECK(schedule(500) == schedule(5));
    }
    SECTION("bad arguments, with PyTorch's limits on the factors") {
        CHECK_THAT(error_of([] { backprop::LinearLR(std::nan(""), 0.5); }),
                   Contains("LinearLR: base_lr is nan but must be finite and positive"));
        CHECK_THAT(error_of([] { backprop::LinearLR(0.1, 0.0); }),
                   Contains("LinearLR: start_factor is 0 but must be in (0, 1]"));
        CHECK_THAT(error_of([] { backprop::LinearLR(0.1, 0.5, 1.5); }),
                   Contains("LinearLR: end_factor is 1.5 but must be in [0, 1]"));
        CHECK_NOTHROW(backprop::LinearLR(0.1, 0.5, 0.0));
        CHECK_THAT(error_of([] { backprop::LinearLR(0.1, 0.5, 1.0, 0); }),
                   Contains("LinearLR: total_iters is 0 but must be at least 1"));
        CHECK_THAT(error_of([] { backprop::LinearLR(0.1)(-1); }),
                   Contains("LinearLR: the step t is -1"));
    }
}

TEST_CASE("WarmupCosineLR: PyTorch's SequentialLR values, by hand, and bad arguments",
          "[schedule]") {
    SECTION("against SequentialLR([LinearLR, CosineAnnealingLR], milestones=[warmup])") {
        REQUIRE(reference::warmup_cosine_lr_cases.size() == 3);
        for (const auto& c : reference::warmup_cosine_lr_cases) {
            check_against_pytorch(c.name,
                                  backprop::WarmupCosineLR(c.base_lr, c.start_factor, c.warmup,
                                                           c.T_max, c.eta_min),
                                  c.lr);
        }
    }
    SECTION("by hand: the ramp stops short of base_lr, the cosine starts there") {
        const backprop::WarmupCosineLR schedule(1.0, 0.2, 4, 10, 0.1);
        CHECK(schedule(0) == Approx(0.2).epsilon(1e-15));
        CHECK(schedule(3) == Approx(0.8).epsilon(1e-15));
        CHECK(schedule(4) == 1.0);
        CHECK(schedule(9) == Approx(0.55).epsilon(1e-15));
        CHECK(schedule(14) == Approx(0.1).epsilon(1e-15));
        CHECK(schedule(4 + 3) == backprop::CosineAnnealingLR(1.0, 10, 0.1)(3));
        CHECK(schedule(2) == backprop::LinearLR(1.0, 0.2, 1.0, 4)(2));
    }
    SECTION("bad arguments") {
        CHECK_THAT(error_of([] { backprop::WarmupCosineLR(0.0, 0.1, 5, 10); }),
                   Contains("WarmupCosineLR: base_lr is 0"));
        CHECK_THAT(error_of([] { backprop::WarmupCosineLR(0.1, 1.1, 5, 10); }),
                   Contains("WarmupCosineLR: start_factor is 1.1 but must be in (0, 1]"));
        CHECK_THAT(error_of([] { backprop::WarmupCosineLR(0.1, 0.1, 0, 10); }),
                   Contains("WarmupCosineLR: warmup is 0 but must be at least 1"));
        CHECK_THAT(error_of([] { backprop::WarmupCosineLR(0.1, 0.1, 5, 0); }),
                   Contains("WarmupCosineLR: T_max is 0 but must be at least 1"));
        CHECK_THAT(error_of([] { backprop::WarmupCosineLR(0.1, 0.1, 5, 10, 0.5); }),
                   Contains("WarmupCosineLR: eta_min is 0.5 but must be in [0, base_lr = 0.1]"));
        CHECK_THAT(error_of([] { backprop::WarmupCosineLR(0.1, 0.1, 5, 10)(-1); }),
                   Contains("WarmupCosineLR: the step t is -1"));
    }
}
