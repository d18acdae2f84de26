#pragma once
/// \file
/// DataParallel: one training step's forward and backward split over the threads of a pool, the
/// shards' gradients summed in a fixed order, so that the result is the same from run to run.

#include "../detail/random.hpp"
#include "../detail/shape.hpp"
#include "../layers/dropout.hpp"
#include "../nn/model.hpp"
#include "../nn/sequential.hpp"
#include "../nn/shards.hpp"
#include "thread_pool.hpp"

#include <Eigen/Core>

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace backprop {

namespace detail {

template <typename L>
struct is_dropout : std::false_type {};
template <typename S>
struct is_dropout<Dropout<S>> : std::true_type {};

template <typename Model, typename F, std::size_t... I>
void for_each_layer_pair(const Model& from, Model& to, F& f, std::index_sequence<I...>) {
    (f(I, from.template layer<I>(), to.template layer<I>()), ...);
}

// f(index, layer of `from`, the same layer of `to`) for every layer of two models of one type.
template <typename Model, typename F>
void for_each_layer_pair(const Model& from, Model& to, F&& f) {
    if constexpr (is_container<Model>::value) {
        for_each_layer_pair(from, to, f, std::make_index_sequence<Model::size>{});
    } else {
        f(std::size_t{0}, from, to);
    }
}

// Every buffer of layer `to` (BatchNorm's running statistics) set to that of `from`, a layer of
// the same type: the buffers of `from` are listed, then assigned in the same order. Allocates
// nothing once the shapes agree.
template <typename Layer>
void copy_buffers(const Layer& from, Layer& to) {
    if constexpr (has_buffers<Layer>::value) {
        std::array<const void*, 8> sources{};
        std::size_t count = 0;
        from.for_each_buffer([&](const char*, const auto& tensor) {
            eigen_assert(count < sources.size());
            sources[count++] = &tensor;
        });
        count = 0;
        to.for_each_buffer([&](const char*, auto& tensor) {
            tensor = *static_cast<const std::decay_t<decltype(tensor)>*>(sources[count++]);
        });
    }
}

}  // namespace detail

/// Data-parallel training on the threads of one machine: each step's batch is split into shards
/// (shard_of), each shard's forward, loss and backward run at once on a thread of their own, and
/// the model's gradients become those of the whole batch. The optimiser then steps the model
/// once, as after a plain backward():
///
///     Net net(...);
///     backprop::Adam<double> adam;
///     backprop::DataParallel<Net, backprop::SoftmaxCrossEntropy<double>> parallel(net, 2);
///     for (...) {
///         const double loss = parallel.step(X, labels);  // net's gradients: the whole batch's
///         adam.step(net);
///     }
///
/// **How.** The model given (the master) computes shard 0 on the calling thread; thread t ≥ 1
/// computes shard t on replica t, a copy of the model made at construction, with a loss object
/// of its own, so that no two threads share a cache. Each step:
/// 1. the master's parameter values are copied into the replicas (gather_parameters, then
///    scatter_parameters on each thread), with its buffers (BatchNorm's running statistics), its
///    mode and (a Sequential's) anomaly detection;
/// 2. shard t, rows [begin_t, begin_t + n_t) of X and of the targets, runs forward, loss and
///    backward (Sequential::backward skips the first layer's dX), and its gradients g_t are
///    gathered into one flat vector (gather_gradients);
/// 3. the caller sums g = Σ_t (n_t/N)·g_t for t = 0, 1, …, T − 1 in that order, and writes g into
///    the master's gradients (scatter_gradients).
///
/// Each shard's loss is the mean over its n_t rows, so (shards.hpp) g is the gradient of the
/// mean loss over the N rows of the batch, and step() returns that mean, Σ_t (n_t/N)·L_t.
///
/// **Deterministic.** Which rows a shard has depends only on N and the number of shards, each
/// shard's arithmetic is that of a one-thread step on those rows, and the sum's order is fixed:
/// for a given number of threads, every step gives the same bits from run to run, whatever the
/// timing. Against one thread the results differ only by rounding (the tests check 1e-12
/// relative in double, over several steps of SGD and of Adam).
///
/// **Small batches.** Each extra shard costs a copy of the parameters, a gather of its gradients
/// and their sum, and waking a thread, whatever its size; its arithmetic shrinks with its rows.
/// So a batch of N rows runs on S = min(T, max(1, N / min_rows())) shards: every shard has at
/// least min_rows() rows, and a batch of fewer than 2·min_rows() rows runs on the calling
/// thread alone, exactly as a plain step (no copy, no sum), so it is never slower than one
/// thread. The default, 64 rows, comes from the 784 → ReLU(256) → 10 network in float on two
/// shared cores (docs/performance.md, "Threads"): split in two, a step took 1.5x the CPU time
/// of one thread at batch 64, 1.3x at 128 and 1.02x at 1024; at batch 64 the saving on free
/// cores (≈ 1.3x) turned into a loss when the other core was busy. A network that does more
/// arithmetic per row and parameter (LeNet-5: 1.06x the CPU time at batch 64) may set it lower.
///
/// **Dropout** draws a mask per shard: shard 0 from the master's generators, shard t ≥ 1 from
/// replica t's, reseeded at construction from `seed`, t and the layer's index. The masks differ
/// from those of a one-thread step but are the same from run to run for a given T. (PyTorch's
/// DistributedDataParallel has the same behaviour: each process draws its masks from its own
/// generator.)
///
/// **BatchNorm** normalises each shard with that shard's statistics, as DistributedDataParallel
/// does without SyncBatchNorm: the gradients are not those of one normalisation over the whole
/// batch, and the step does not match one thread's. Its running statistics are updated from shard
/// 0 only (the master's), and copied to the replicas before each step: DistributedDataParallel
/// likewise broadcasts rank 0's buffers at each forward.
///
/// **Failures.** step() never changes a parameter or an optimiser state. If a shard throws (a
/// shape error, an anomaly), step() rethrows the exception of the smallest shard that threw,
/// after every shard has finished; if the master's backward had begun, its gradients are
/// cleared (has_gradients() is false, so an optimiser step that follows throws rather than
/// apply a partial sum), otherwise only its forward caches have changed.
///
/// Memory: T − 1 copies of the model (with their caches) and T + 1 vectors of
/// parameter_count(model) values. Past the first step of a batch size, a step allocates nothing
/// but Eigen's GEMM packing buffers. The model must outlive the DataParallel, must keep its
/// architecture, and must not be used by another thread during step(). The target backprop::backprop
/// links the platform's threads (Threads::Threads).
///
/// \tparam Model a Sequential or a single layer: copyable, forward(X), backward(dY).
/// \tparam Loss MSE or SoftmaxCrossEntropy (anything with forward(pred, target) → Scalar,
///         backward() → dpred, default-constructible and copyable).
template <typename Model, typename Loss>
class DataParallel {
public:
    using Scalar = typename Loss::Matrix::Scalar;             ///< float or double
    using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;  ///< a flat gradient

    /// Trains `model` on `threads` threads (the caller's and threads − 1 workers, started here
    /// and kept until destruction): makes threads − 1 replicas of the model, each with a copy of
    /// `loss`; replica t's Dropout layers are reseeded from `seed`, t and their index.
    ///
    /// Throws std::invalid_argument, changing nothing, unless threads ≥ 1.
    DataParallel(Model& model, int threads, const Loss& loss = Loss(), std::uint64_t seed = 0)
        : model_(model), pool_(checked_threads(threads)) {
        replicas_.reserve(static_cast<std::size_t>(threads - 1));
        for (int t = 1; t < threads; ++t) {
            replicas_.push_back(model);
            reseed_dropout(replicas_.back(), seed, t);
        }
        losses_.assign(static_cast<std::size_t>(threads), loss);
        values_.assign(static_cast<std::size_t>(threads), Scalar(0));
        gradients_.resize(static_cast<std::size_t>(threads));
    }

    /// The model's gradients of the mean loss of the batch (X, target), computed over the
    /// threads; returns that loss:
    ///
    ///     L = Σ_t (n_t/N)·L_t,   g = Σ_t (n_t/N)·g_t   (t = 0, …, S − 1 in order)
    ///
    /// where shard t has n_t of the N rows, L_t is its mean loss and g_t its gradient, and S is
    /// shards(N). The optimiser's step(model) comes next, as after a plain backward().
    ///
    /// X is (N, in); target is (N, out) for MSE, or N integer labels for SoftmaxCrossEntropy.
    /// Throws std::invalid_argument, changing nothing, if X is empty or target does not have N
    /// rows; rethrows what a shard's forward(), loss or backward() throws (see the class
    /// comment: a shape error of X is found by the model's forward() before anything changes).
    template <typename DX, typename DT>
    Scalar step(const Eigen::MatrixBase<DX>& X, const Eigen::MatrixBase<DT>& target) {
        if (X.rows() == 0 || X.cols() == 0 || target.rows() != X.rows()) {
            detail::fail("DataParallel::step: X is ", detail::dims(X), " and the target ",
                         detail::dims(target), ", but X must be a non-empty batch and the target",
                         " must have one row (or label) per row of X");
        }
        const int shards = this->shards(X.rows());
        if (shards > 1) {
            gather_parameters(model_, parameters_);
            for (int t = 1; t < shards; ++t) {
                prepare_replica(replicas_[static_cast<std::size_t>(t - 1)]);
            }
        }
        master_backward_ = false;
        try {
            if (shards == 1) {
                run_shard(0, 1, X.derived(), target.derived());
            } else {
                pool_.run(shards, [&](int t) {
                    run_shard(t, shards, X.derived(), target.derived());
                });
            }
        } catch (...) {
            if (master_backward_) {
                model_.clear_gradients();
            }
            throw;
        }
        if (shards == 1) {
            return values_[0];
        }
        return reduce(shards, X.rows());
    }

    /// S = min(T, max(1, rows / min_rows())): how many shards (and threads) a batch of `rows`
    /// rows runs on. Throws std::invalid_argument unless rows ≥ 1.
    int shards(Eigen::Index rows) const {
        if (rows < 1) {
            detail::fail("DataParallel::shards: a batch of ", rows, " rows");
        }
        const Eigen::Index by_size = rows / min_rows_;
        return static_cast<int>(by_size < 1 ? 1 : by_size < threads() ? by_size : threads());
    }

    int threads() const { return pool_.size(); }  ///< T: the most shards a step runs on.

    /// The fewest rows a shard may have (64 at first): see "Small batches" in the class comment.
    Eigen::Index min_rows() const { return min_rows_; }

    /// Sets min_rows(): 1 splits any batch into as many shards as it has rows, up to T. Throws
    /// std::invalid_argument, changing nothing, unless rows ≥ 1.
    void set_min_rows(Eigen::Index rows) {
        if (rows < 1) {
            detail::fail("DataParallel::set_min_rows: ", rows, " rows, but a shard needs 1");
        }
        min_rows_ = rows;
    }

private:
    static int checked_threads(int threads) {
        if (threads < 1) {
            detail::fail("DataParallel: ", threads, " threads, but a step needs at least 1");
        }
        return threads;
    }

    // Replica t's Dropout layers draw their masks from a generator of their own.
    static void reseed_dropout(Model& replica, std::uint64_t seed, int t) {
        for_each_layer(replica, [&](std::size_t index, auto& layer) {
            using Layer = std::decay_t<decltype(layer)>;
            if constexpr (detail::is_dropout<Layer>::value) {
                detail::SplitMix64 mix(seed ^ (std::uint64_t(t) << 32) ^ std::uint64_t(index));
                layer = Layer(layer.p(), mix.next());
            }
        });
    }

    // On the calling thread, before the shards start: the master's buffers and mode.
    void prepare_replica(Model& replica) const {
        detail::for_each_layer_pair(model_, replica, [](std::size_t, const auto& from, auto& to) {
            detail::copy_buffers(from, to);
        });
        if constexpr (detail::has_mode<Model>::value) {
            replica.set_mode(model_.mode());
        }
        if constexpr (detail::is_container<Model>::value) {
            replica.detect_anomalies(model_.detects_anomalies());
        }
    }

    // Shard t of `shards` on the current thread: the master for t = 0, replica t otherwise.
    template <typename X, typename T>
    void run_shard(int t, int shards, const X& x, const T& target) {
        const Shard shard = shard_of(x.rows(), shards, t);
        Model& model = t == 0 ? model_ : replicas_[static_cast<std::size_t>(t - 1)];
        if (t > 0) {
            scatter_parameters(parameters_, model);
        }
        Loss& loss = losses_[static_cast<std::size_t>(t)];
        values_[static_cast<std::size_t>(t)] =
            loss.forward(model.forward(x.middleRows(shard.begin, shard.rows)),
                         target.middleRows(shard.begin, shard.rows));
        if (t == 0) {
            master_backward_ = true;
        }
        model.backward(loss.backward());
        if (shards > 1) {
            gather_gradients(model, gradients_[static_cast<std::size_t>(t)]);
        }
    }

    // g = Σ_t (n_t/N)·g_t in the order t = 0, 1, …, into the master's gradients; the mean loss.
    Scalar reduce(int shards, Eigen::Index rows) {
        double loss = 0;
        for (int t = 0; t < shards; ++t) {
            const Scalar weight = shard_weight<Scalar>(shard_of(rows, shards, t), rows);
            const Vector& g = gradients_[static_cast<std::size_t>(t)];
            if (t == 0) {
                sum_.noalias() = weight * g;
            } else {
                sum_.noalias() += weight * g;
            }
            loss += static_cast<double>(weight) *
                    static_cast<double>(values_[static_cast<std::size_t>(t)]);
        }
        scatter_gradients(sum_, model_);
        return static_cast<Scalar>(loss);
    }

    Model& model_;
    ThreadPool pool_;
    std::vector<Model> replicas_;       // replica t is replicas_[t − 1]
    std::vector<Loss> losses_;          // shard t's loss
    std::vector<Scalar> values_;        // shard t's mean loss
    std::vector<Vector> gradients_;     // shard t's gradients, flat
    Vector parameters_;                 // the master's parameter values, flat
    Vector sum_;                        // Σ_t (n_t/N)·g_t
    Eigen::Index min_rows_ = 64;
    bool master_backward_ = false;      // whether the master's backward began in this step
};

}  // namespace backprop
