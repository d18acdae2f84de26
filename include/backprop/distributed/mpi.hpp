#pragma once
/// \file
/// Data-parallel training over MPI: every rank (a process, on this machine or another) holds a
/// whole replica of the model, computes the gradient of its shard of each global mini-batch, and
/// the ranks add their shards' gradients before every rank takes the same optimiser step.
///
/// Optional: not included by backprop.hpp. It needs an MPI library (Open MPI on Debian:
/// `libopenmpi-dev`, `openmpi-bin`) and is used through the CMake target `backprop::mpi`, which
/// exists only when find_package(MPI) finds one (`find_package(backprop COMPONENTS mpi)` after
/// install). Only MPI's C API is used.
///
/// A training loop, the same program on every rank (`mpiexec -n 4 ./train`):
///
///     backprop::mpi::Environment mpi(argc, argv);
///     return backprop::mpi::run_or_abort(MPI_COMM_WORLD, [&] {
///         backprop::mpi::DataParallel<float> parallel;     // MPI_COMM_WORLD
///         parallel.broadcast_parameters(net);              // rank 0's parameters everywhere
///         for (const auto& batch : batches.epoch()) {      // the same batches on every rank
///             // forward and backward of this rank's rows, then the gradients averaged
///             const float batch_loss = parallel.compute_gradients(net, loss, batch.X, batch.y);
///             adam.step(net);                              // the same step on every rank
///         }
///         return 0;
///     });
///
/// compute_gradients() is, on each rank,
///
///     const backprop::Shard shard = parallel.shard(batch.X.rows());   // this rank's rows
///     float mean = 0;
///     if (shard.rows > 0) {                                            // none if rows < ranks
///         mean = loss.forward(net.forward(batch.X.middleRows(shard.begin, shard.rows)),
///                             batch.y.middleRows(shard.begin, shard.rows));
///         net.backward(loss.backward());
///     }
///     parallel.average_gradients(net, batch.X.rows(), mean);          // one all-reduce
///
/// With `parallel.overlap(true)` (off at first), compute_gradients() instead starts summing the
/// gradients of the upper layers of a Sequential while the backward pass of the lower ones still
/// runs, in buckets of consecutive layers (DataParallel::overlap): the same result, and time
/// saved when the network is slow and the lower layers' backward pass is long.
///
/// Why the result is the single-process one: a mean loss over the N rows of a batch has the
/// gradient Σ_r (n_r/N)·g_r, where g_r is the gradient of rank r's mean loss over its n_r rows
/// (nn/shards.hpp). average_gradients() sums exactly that, so up to the order of the additions
/// every rank holds the gradient one process would compute on the whole batch.
///
/// What every rank must do alike: build the same architecture, walk the same global batches in
/// the same order (the same data, the same shuffling seed; each rank reads its own rows of each
/// batch), and call the collective functions (broadcast_parameters, average_gradients,
/// save_checkpoint, load_checkpoint, sum) in the same order. Then no rank waits for another that
/// has run out of data: they all run out together. average_gradients() checks that the shards
/// add up to the batch, which catches ranks that walk different batches.
///
/// Layers whose forward pass depends on the whole batch compute it per shard: BatchNorm
/// normalises each shard with its own statistics (as PyTorch's DistributedDataParallel without
/// SyncBatchNorm), so such a model trains differently from one process, and its running
/// statistics differ from rank to rank. Dropout draws its masks per rank.

#include "../io/serialize.hpp"
#include "../layers/parameter.hpp"
#include "../nn/model.hpp"
#include "../nn/shards.hpp"

#include <Eigen/Core>
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace backprop {

namespace detail {

/// Throws std::runtime_error naming `call` unless `code` is MPI_SUCCESS (reached only when the
/// communicator's error handler returns errors instead of aborting, MPI's default).
inline void mpi_check(int code, const char* call) {
    if (code != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING];
        int length = 0;
        MPI_Error_string(code, text, &length);
        throw std::runtime_error(std::string(call) + " failed: " + std::string(text, length));
    }
}

/// The MPI datatype of float or double.
template <typename Scalar>
MPI_Datatype mpi_datatype() {
    static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                  "MPI data-parallel training needs float or double");
    return std::is_same_v<Scalar, float> ? MPI_FLOAT : MPI_DOUBLE;
}

}  // namespace detail

namespace mpi {

/// MPI for the lifetime of the object: MPI_Init on construction (unless MPI is initialised
/// already), MPI_Finalize on destruction (if this object initialised it). Create one at the top
/// of main(), before anything else that uses MPI.
class Environment {
public:
    /// MPI_Init(&argc, &argv): MPI may take its own options out of the command line.
    /// Throws std::runtime_error if it fails.
    Environment(int& argc, char**& argv) {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (!initialized) {
            detail::mpi_check(MPI_Init(&argc, &argv), "MPI_Init");
            owner_ = true;
        }
    }

    /// MPI_Finalize, if this object called MPI_Init.
    ~Environment() {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (owner_ && !finalized) {
            MPI_Finalize();
        }
    }

    Environment(const Environment&) = delete;             ///< One per program.
    Environment& operator=(const Environment&) = delete;  ///< One per program.

private:
    bool owner_ = false;
};

/// The rank of this process in `comm`: 0 … size − 1.
inline int rank(MPI_Comm comm = MPI_COMM_WORLD) {
    int r = 0;
    detail::mpi_check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank");
    return r;
}

/// The number of processes in `comm`.
inline int size(MPI_Comm comm = MPI_COMM_WORLD) {
    int n = 0;
    detail::mpi_check(MPI_Comm_size(comm, &n), "MPI_Comm_size");
    return n;
}

/// Returns f(), or, if f throws, ends every rank of `comm`: prints "rank r: what()" to stderr
/// and calls MPI_Abort(comm, 1), so that the run exits with a non-zero status and the failing
/// rank's message within moments, instead of the other ranks waiting forever in a collective
/// call for a rank that will never come. Wrap the whole of a rank's work in it.
///
/// f takes no arguments and returns an int (main's status).
template <typename F>
int run_or_abort(MPI_Comm comm, F&& f) {
    const auto abort = [comm](const char* what) {
        int r = -1;
        MPI_Comm_rank(comm, &r);
        std::fprintf(stderr, "rank %d: %s\n", r, what);
        std::fflush(stderr);
        MPI_Abort(comm, 1);
    };
    try {
        return f();
    } catch (const std::exception& e) {
        abort(e.what());
    } catch (...) {
        abort("an exception that is not a std::exception");
    }
    return 1;  // MPI_Abort does not return
}

/// The ranks of a communicator training one model together, data-parallel.
///
/// Every collective call here is made by all ranks of the communicator, in the same order.
/// Sums are computed so that every rank receives the same bits: the flat vector is split into
/// one block per rank, each block is summed on one rank only (MPI_Reduce_scatter_block) and the
/// sums are copied to every rank (MPI_Allgather). Two calls of a ring all-reduce, whose sums are
/// identical on every rank by construction rather than by trusting MPI_Allreduce's algorithm;
/// hence the optimiser steps, and the parameters, stay bitwise identical on every rank. (With
/// overlap() on, compute_gradients() sums with MPI_Iallreduce instead: see there.)
///
/// The buffers are kept from call to call: once the model's size is known, a step allocates
/// nothing here (MPI may allocate inside its calls).
///
/// \tparam Scalar float or double: the Scalar of the model's parameters.
template <typename Scalar>
class DataParallel {
public:
    using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;  ///< A flat vector of values.

    /// The ranks of `comm` (not duplicated: the caller keeps it alive).
    explicit DataParallel(MPI_Comm comm = MPI_COMM_WORLD)
        : comm_(comm), rank_(mpi::rank(comm)), ranks_(mpi::size(comm)) {}

    int rank() const { return rank_; }    ///< This process's rank: 0 … ranks() − 1.
    int ranks() const { return ranks_; }  ///< The number of ranks.

    /// This rank's rows of a global batch of `rows` rows: shard_of(rows, ranks(), rank()).
    /// Empty when the batch has fewer rows than there are ranks.
    Shard shard(Eigen::Index rows) const { return shard_of(rows, ranks_, rank_); }

    /// Sets every parameter of `model` on every rank to rank 0's (MPI_Bcast), so that training
    /// starts from one model whatever seed each rank built its replica with. Gradients,
    /// optimiser state and buffers (BatchNorm's running statistics) are not sent.
    ///
    /// Collective. Throws std::invalid_argument on every rank whose model has another number of
    /// parameters than rank 0's, changing nothing there.
    template <typename Model>
    void broadcast_parameters(Model& model) {
        std::int64_t count = parameter_count(model);
        const std::int64_t own = count;
        detail::mpi_check(MPI_Bcast(&count, 1, MPI_INT64_T, 0, comm_), "MPI_Bcast");
        if (count != own) {
            backprop::detail::fail("DataParallel::broadcast_parameters: rank 0's model has ",
                                   count, " parameters but rank ", rank_, "'s has ", own);
        }
        gather_parameters(model, parameters_);
        detail::mpi_check(MPI_Bcast(parameters_.data(), static_cast<int>(parameters_.size()),
                                    detail::mpi_datatype<Scalar>(), 0, comm_),
                          "MPI_Bcast");
        scatter_parameters(parameters_, model);
    }

    /// Replaces the gradients of `model` on every rank by the gradient of the mean loss over a
    /// whole global batch of `rows` rows, and returns that mean loss. One all-reduce of one
    /// flat vector per step, whatever the number of layers.
    ///
    /// Each rank gives the gradients of the last backward() on its shard(rows), of the mean
    /// loss `loss` over the shard's n_r rows; a rank whose shard is empty gives nothing (its
    /// layers get zero_gradients(), and `loss` is ignored). The result, the same bits on every
    /// rank:
    ///
    ///     g = Σ_r (n_r/N)·g_r          loss = Σ_r (n_r/N)·loss_r          (N = rows)
    ///
    /// Collective. Throws std::logic_error if this rank's shard is not empty and a layer holds
    /// no gradients (before any MPI call), or, after the sum, on each rank whose `rows` differs
    /// from the rows of all the ranks' shards, as when ranks walk different batches;
    /// std::invalid_argument if rows < 1.
    template <typename Model>
    Scalar average_gradients(Model& model, Eigen::Index rows, Scalar loss) {
        if (rows < 1) {
            backprop::detail::fail("DataParallel::average_gradients: a batch of ", rows,
                                   " rows");
        }
        const Shard own = shard(rows);
        if (own.rows == 0) {
            model.zero_gradients();
        }
        const Eigen::Index count = start_sum(model, own, rows, loss);
        auto gradients = flat_.head(count);
        gather_gradients(model, gradients);  // throws if a layer has none, before any MPI call
        gradients *= shard_weight<Scalar>(own, rows);
        reduce(count + 2);
        return finish_sum(model, count, rows);
    }

    /// One data-parallel forward and backward of a global batch: `model` and `loss` on this
    /// rank's shard(rows) of X and y (when it has rows), then average_gradients(). Afterwards
    /// every rank holds the gradient of the mean loss over the whole batch, and the returned
    /// value is that mean loss; the optimiser's step is the caller's.
    ///
    ///     loss_r = loss.forward(model.forward(X_r), y_r),  model.backward(loss.backward())
    ///
    /// where X_r and y_r are the shard's rows; with overlap() on, the sums of the gradients run
    /// during that backward(). X is (rows, in), y (rows) labels or (rows, out)
    /// targets: the whole batch, the same on every rank. Collective. Throws
    /// std::invalid_argument if X has no rows or y has not as many as X (on every rank), and
    /// whatever the model, the loss and average_gradients() throw.
    template <typename Model, typename Loss, typename X, typename Y>
    Scalar compute_gradients(Model& model, Loss& loss, const Eigen::MatrixBase<X>& x,
                             const Eigen::MatrixBase<Y>& y) {
        if (x.rows() == 0 || y.rows() != x.rows()) {
            backprop::detail::fail("DataParallel::compute_gradients: X is ",
                                   backprop::detail::dims(x), " and y is ",
                                   backprop::detail::dims(y), "; they need the same rows, at "
                                   "least one");
        }
        const Shard own = shard(x.rows());
        Scalar mean = 0;
        if (own.rows > 0) {
            mean = loss.forward(model.forward(x.middleRows(own.begin, own.rows)),
                                y.middleRows(own.begin, own.rows));
        }
        if constexpr (backprop::detail::is_container<Model>::value) {
            if (overlap_) {
                return backward_overlapped(model, loss, own, x.rows(), mean);
            }
        }
        if (own.rows > 0) {
            model.backward(loss.backward());
        }
        return average_gradients(model, x.rows(), mean);
    }

    /// Whether compute_gradients() overlaps the sum of the gradients with the backward pass
    /// (off at first), and from how many gradient values on a bucket's sum starts.
    ///
    /// Off, compute_gradients() runs the whole backward pass, then sums all the gradients in
    /// one fused all-reduce (average_gradients()). On, and when the model is a Sequential, the
    /// backward pass walks down the layers and, as soon as the gradients of the layers above
    /// hold at least `bucket` values not yet sent, starts a non-blocking all-reduce
    /// (MPI_Iallreduce) of that bucket while the layers below compute theirs; the last bucket
    /// (whatever the first layers hold) starts after layer 0, and all are awaited before
    /// compute_gradients() returns. The buckets are consecutive slices of the same fused
    /// vector, laid out as average_gradients() lays it out (layer 0's parameters first), so
    /// they are sent from its end to its start. default_bucket makes two buckets of LeNet-5
    /// (its dense layers, then its convolutions) and one of a 784 → 256 → 10 network, whose
    /// first layer holds nearly all of its gradient.
    ///
    /// The result is the gradient of the fused sum up to the order of the additions: bitwise
    /// the same on 2 ranks, to rounding on more. MPI_Iallreduce gives every rank the same sum
    /// in Open MPI and MPICH (each element is added on one rank and copied to the others),
    /// which MPI recommends but does not require, unlike the fused sum's reduce-scatter and
    /// all-gather: one reason it is off at first; the other is that on one machine, or on a
    /// few, there is nothing to win (docs/distributed.md). Open MPI advances a non-blocking
    /// sum only inside MPI calls, so each layer's turn ends with an MPI_Testall; a sum of many
    /// rounds may still finish only at the final wait, unless the MPI progresses on its own.
    ///
    /// The same setting on every rank (the ranks must make the same MPI calls). Throws
    /// std::invalid_argument if bucket < 1, changing nothing.
    void overlap(bool on, Eigen::Index bucket = default_bucket) {
        if (bucket < 1) {
            backprop::detail::fail("DataParallel::overlap: a bucket of ", bucket, " values");
        }
        overlap_ = on;
        bucket_ = bucket;
    }

    bool overlaps() const { return overlap_; }  ///< Whether compute_gradients() overlaps.

    /// overlap()'s bucket unless told otherwise: 16384 values (64 KB in float).
    static constexpr Eigen::Index default_bucket = 16384;

    /// Replaces `values` on every rank by their element-wise sum over the ranks, the same bits
    /// on every rank (the all-reduce average_gradients() makes). `values` is (n, 1), the same n
    /// on every rank. Collective.
    void sum(Vector& values) {
        reserve(values.size());
        flat_.head(values.size()) = values;
        reduce(values.size());
        values = flat_.head(values.size());
    }

    /// backprop::save_checkpoint(path, model, optimizer) on rank 0 only: the ranks' models and
    /// optimisers are identical, so one file records them all, and it resumes on any number of
    /// ranks (load_checkpoint).
    ///
    /// Collective: the other ranks wait for it, and if rank 0 cannot write the file, every rank
    /// throws std::runtime_error with rank 0's message.
    template <typename Model, typename Optimizer>
    void save_checkpoint(const std::string& path, const Model& model,
                         const Optimizer& optimizer) {
        std::string problem;
        if (rank_ == 0) {
            try {
                backprop::save_checkpoint(path, model, optimizer);
            } catch (const std::exception& e) {
                problem = e.what();
            }
        }
        share_from_rank_0(problem);
        if (!problem.empty()) {
            throw std::runtime_error("rank 0: " + problem);
        }
    }

    /// Resumes every rank from the checkpoint at `path`, read by rank 0 alone (the other ranks
    /// need not see the file: its bytes are broadcast), then backprop::load_checkpoint on every
    /// rank. The number of ranks may differ from the run that wrote it.
    ///
    /// Collective. Throws std::runtime_error on every rank, changing nothing, if rank 0 cannot
    /// read the file or it does not fit the model and optimiser (see backprop::load_checkpoint).
    template <typename Model, typename Optimizer>
    void load_checkpoint(const std::string& path, Model& model, Optimizer& optimizer) {
        std::string bytes;
        std::string problem;
        if (rank_ == 0) {
            std::ifstream in(path, std::ios::binary);
            if (in) {
                bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            } else {
                problem = path + ": cannot open the file for reading";
            }
        }
        share_from_rank_0(problem);
        if (!problem.empty()) {
            throw std::runtime_error(problem);
        }
        share_from_rank_0(bytes);
        std::istringstream in(bytes);
        backprop::load_checkpoint(in, model, optimizer, path);
        backprop::detail::require_end(in, path);
    }

private:
    // Reserves flat_ for `model`'s gradients and puts this rank's share of the loss and its
    // rows after them; returns parameter_count(model).
    template <typename Model>
    Eigen::Index start_sum(const Model& model, const Shard& own, Eigen::Index rows, Scalar loss) {
        const Eigen::Index count = parameter_count(model);
        reserve(count + 2);
        flat_(count) = own.rows > 0 ? shard_weight<Scalar>(own, rows) * loss : Scalar(0);
        flat_(count + 1) = static_cast<Scalar>(own.rows);
        return count;
    }

    // After the sum of flat_.head(count + 2): checks that the ranks' rows add up to `rows`,
    // gives `model` the summed gradients and returns the summed loss.
    template <typename Model>
    Scalar finish_sum(Model& model, Eigen::Index count, Eigen::Index rows) {
        if (flat_(count + 1) != static_cast<Scalar>(rows)) {
            throw std::logic_error(
                "DataParallel::average_gradients: the ranks' shards hold " +
                std::to_string(static_cast<long long>(flat_(count + 1))) + " rows but rank " +
                std::to_string(rank_) + "'s batch has " + std::to_string(rows) +
                ": every rank must walk the same batches");
        }
        scatter_gradients(flat_.head(count), model);
        return flat_(count);
    }

    // compute_gradients() with overlap on, after the forward pass: the backward pass of the
    // shard (zero gradients if it is empty) with the buckets' sums started on the way down.
    // A rank with an empty shard starts the same buckets, in the same order, with no backward.
    template <typename Model, typename Loss>
    Scalar backward_overlapped(Model& model, Loss& loss, const Shard& own, Eigen::Index rows,
                               Scalar mean) {
        const Eigen::Index count = start_sum(model, own, rows, mean);
        const Scalar weight = shard_weight<Scalar>(own, rows);
        offsets_.resize(Model::size + 1);  // offsets_[i]: layer i's first value in flat_
        offsets_[0] = 0;
        for_each_layer(model, [&](std::size_t i, const auto& layer) {
            offsets_[i + 1] = offsets_[i] + parameter_count(layer);
        });
        requests_.clear();
        Eigen::Index unsent = count + 2;  // flat_.head(unsent) is not being summed yet
        const auto after_layer = [&](std::size_t index) {
            for_each_layer(model, [&](std::size_t i, const auto& layer) {
                if constexpr (has_parameters_v<decltype(layer)>) {
                    if (i == index) {
                        auto gradients = flat_.segment(offsets_[i], parameter_count(layer));
                        gather_gradients(layer, gradients);
                        gradients *= weight;
                    }
                }
            });
            const Eigen::Index begin = offsets_[index];
            if (unsent - begin >= bucket_ || (index == 0 && unsent > 0)) {
                start_reduce(begin, unsent - begin);
                unsent = begin;
            }
            progress();
        };
        if (own.rows > 0) {
            model.backward(loss.backward(), GradientMode::replace, after_layer);
        } else {
            model.zero_gradients();
            for (std::size_t index = Model::size; index-- > 0;) {
                after_layer(index);
            }
        }
        detail::mpi_check(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(),
                                      MPI_STATUSES_IGNORE),
                          "MPI_Waitall");
        return finish_sum(model, count, rows);
    }

    // Starts the sum over the ranks of flat_.segment(begin, length), in place.
    void start_reduce(Eigen::Index begin, Eigen::Index length) {
        requests_.push_back(MPI_REQUEST_NULL);
        detail::mpi_check(MPI_Iallreduce(MPI_IN_PLACE, flat_.data() + begin,
                                         static_cast<int>(length), detail::mpi_datatype<Scalar>(),
                                         MPI_SUM, comm_, &requests_.back()),
                          "MPI_Iallreduce");
    }

    // Lets MPI advance the sums started (Open MPI does so only inside MPI calls).
    void progress() {
        int done = 0;
        detail::mpi_check(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(),
                                      &done, MPI_STATUSES_IGNORE),
                          "MPI_Testall");
    }

    // flat_ with room for `count` values padded to a multiple of ranks_; allocates only when
    // that size changes.
    void reserve(Eigen::Index count) {
        const Eigen::Index padded = (count + ranks_ - 1) / ranks_ * ranks_;
        if (flat_.size() != padded) {
            flat_.resize(padded);
            block_.resize(padded / ranks_);
        }
    }

    // flat_.head(count) summed over the ranks: block r of the padded vector is summed on rank r
    // alone, then every block is copied to every rank.
    void reduce(Eigen::Index count) {
        flat_.tail(flat_.size() - count).setZero();
        const int block = static_cast<int>(block_.size());
        const MPI_Datatype type = detail::mpi_datatype<Scalar>();
        detail::mpi_check(MPI_Reduce_scatter_block(flat_.data(), block_.data(), block, type,
                                                   MPI_SUM, comm_),
                          "MPI_Reduce_scatter_block");
        detail::mpi_check(
            MPI_Allgather(block_.data(), block, type, flat_.data(), block, type, comm_),
            "MPI_Allgather");
    }

    // `text` on every rank as rank 0 has it.
    void share_from_rank_0(std::string& text) const {
        std::int64_t length = static_cast<std::int64_t>(text.size());
        detail::mpi_check(MPI_Bcast(&length, 1, MPI_INT64_T, 0, comm_), "MPI_Bcast");
        if (length > std::numeric_limits<int>::max()) {  // the same on every rank
            throw std::runtime_error("DataParallel: " + std::to_string(length) +
                                     " bytes are more than one MPI call sends");
        }
        text.resize(static_cast<std::size_t>(length));
        detail::mpi_check(MPI_Bcast(text.data(), static_cast<int>(length), MPI_CHAR, 0, comm_),
                          "MPI_Bcast");
    }

    MPI_Comm comm_;
    int rank_;
    int ranks_;
    Vector flat_;        // the vector being summed, padded to a multiple of ranks_
    Vector block_;       // this rank's block of its sum
    Vector parameters_;  // what broadcast_parameters sends
    bool overlap_ = false;                   // see overlap()
    Eigen::Index bucket_ = default_bucket;   // see overlap()
    std::vector<Eigen::Index> offsets_;      // where each layer's gradients start in flat_
    std::vector<MPI_Request> requests_;      // the buckets' sums started, in order
};

}  // namespace mpi

}  // namespace backprop
