#pragma once
/// \file
/// Seeded, shuffled mini-batches of a data set, for the training loop.
///
/// Each epoch visits the samples in a new random order, cut into batches of `batch_size` rows:
///
///     bp::MiniBatches batches(train.X, train.labels, 32, 7, bp::LastBatch::drop);
///     for (int epoch = 0; epoch < epochs; ++epoch) {
///         for (const auto& batch : batches.epoch()) {      // batch.X (32, features), batch.y (32)
///             loss.forward(net.forward(batch.X), batch.y);  // forward
///             net.backward(loss.backward());                // backward
///             optimizer.step(net);                          // update
///         }
///     }
///
/// The order is the same on every platform for the same seed: one detail::SplitMix64(seed)
/// stream shuffles one permutation of the row indices in place by Fisher–Yates at the start of
/// every epoch, so epoch e's order is the identity shuffled e times. This is exactly the loop
/// examples/digits.cpp writes by hand (an index vector, SplitMix64, `rng.next() % i`), so
/// `MiniBatches(train.X, train.labels, 32, 7, LastBatch::drop)` gives it the same batches, and
/// the first epoch's order is the permutation train_test_split draws for the same seed and n.

#include "../detail/random.hpp"
#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <type_traits>
#include <utility>
#include <vector>

namespace backprop {

/// What happens to the samples left over when the batch size does not divide their number.
enum class LastBatch {
    drop,  ///< every batch is full; the n mod batch_size samples left over are not visited this
           ///< epoch (the shuffle picks other ones each epoch), as `DataLoader(drop_last=True)`
    keep   ///< the last batch is short and holds them, as PyTorch's `DataLoader` by default
};

namespace detail {

/// Shuffles `order` in place by Fisher–Yates, drawing from `rng`: for i = n … 2, swap entry
/// i − 1 with entry (rng.next() mod i). The modulo's bias is below 2⁻⁴⁰ for any realistic n.
inline void shuffle(std::vector<Eigen::Index>& order, SplitMix64& rng) {
    for (std::size_t i = order.size(); i > 1; --i) {
        std::swap(order[i - 1], order[static_cast<std::size_t>(rng.next() % i)]);
    }
}

}  // namespace detail

/// Shuffled mini-batches of samples X (n, features) with targets y: class labels (n), an
/// Eigen::VectorXi, or regression targets (n, outputs), a matrix.
///
/// Shapes (rows are samples): X is (n, features), y is (n) or (n, outputs); a batch's X is
/// (rows, features) and its y (rows) or (rows, outputs), where rows = batch_size except for the
/// short last batch of LastBatch::keep, which has n mod batch_size rows. Row r of a batch is
/// sample order[first + r] of the epoch's order, in X and y alike.
///
/// MiniBatches owns a copy of X and y (pass `std::move(X)` to avoid the copy), and two batch
/// buffers allocated in the constructor: one of batch_size rows, one for the short last batch.
/// Iterating allocates nothing, in the first epoch as in every later one; the batches returned
/// are these buffers, overwritten by the next batch.
///
/// The class template arguments are deduced from X and y:
/// `MiniBatches batches(X, labels, 32, seed, LastBatch::keep)` is a MiniBatches<float> for an
/// Eigen::MatrixXf X and an Eigen::VectorXi of labels.
///
/// The loop it feeds: \ref tutorial_digits_batches "Tutorial 10: Mini-batches".
///
/// \tparam Scalar float or double, the Scalar of X.
/// \tparam Target the type of y: Eigen::VectorXi (class labels, the default) or a matrix with
///         rows chosen at run time, such as Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>.
template <typename Scalar, typename Target = Eigen::VectorXi>
class MiniBatches {
    static_assert(std::is_floating_point_v<Scalar>, "MiniBatches needs a floating-point Scalar");
    static_assert(std::is_base_of_v<Eigen::PlainObjectBase<Target>, Target> &&
                      Target::RowsAtCompileTime == Eigen::Dynamic,
                  "MiniBatches: Target must be an Eigen vector or matrix with dynamic rows");

public:
    using Features = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;  ///< X: (n, features)

    /// One batch: rows of X and of y, gathered in the epoch's order.
    struct Batch {
        Features X;  ///< (rows, features)
        Target y;    ///< (rows) labels or (rows, outputs) targets, row r belonging to X's row r
    };

    /// Batches of `batch_size` rows of X (n, features) and y (n) or (n, outputs), shuffled with
    /// `seed`; `last` says what to do with the n mod batch_size samples left over.
    ///
    /// Throws std::invalid_argument, naming MiniBatches and the shapes, if batch_size < 1,
    /// X has no row or no column, y has not as many rows as X, or LastBatch::drop leaves no batch
    /// at all (n < batch_size): a training loop that never steps is a bug, not an empty epoch.
    MiniBatches(Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> X, Target y,
                Eigen::Index batch_size, std::uint64_t seed, LastBatch last)
        : X_(std::move(X)), y_(std::move(y)), batch_size_(batch_size), rng_(seed) {
        if (batch_size < 1) {
            detail::fail("MiniBatches: the batch size is ", batch_size, " but must be at least 1");
        }
        if (X_.rows() == 0 || X_.cols() == 0) {
            detail::fail("MiniBatches: X is ", detail::dims(X_), " but must have samples (rows) ",
                         "and features (columns)");
        }
        if (y_.rows() != X_.rows()) {
            detail::fail("MiniBatches: X is ", detail::dims(X_), " but y is ", detail::dims(y_),
                         "; they need one row per sample");
        }
        const Eigen::Index n = X_.rows();
        full_batches_ = n / batch_size;
        const Eigen::Index rest = last == LastBatch::keep ? n % batch_size : 0;
        if (full_batches_ == 0 && rest == 0) {
            detail::fail("MiniBatches: X is ", detail::dims(X_), " so batches of ", batch_size,
                         " rows with LastBatch::drop leave no batch; use a smaller batch size ",
                         "or LastBatch::keep");
        }
        resize(full_, full_batches_ > 0 ? batch_size : 0);
        resize(short_, rest);
        order_.resize(static_cast<std::size_t>(n));
        for (Eigen::Index i = 0; i < n; ++i) order_[static_cast<std::size_t>(i)] = i;
    }

    Eigen::Index size() const { return X_.rows(); }       ///< Number of samples n.
    Eigen::Index batch_size() const { return batch_size_; }  ///< Rows of a full batch.

    /// Batches in every epoch: ⌊n / batch_size⌋, plus one if a short last batch is kept.
    Eigen::Index batches_per_epoch() const { return full_batches_ + (short_.X.rows() > 0 ? 1 : 0); }

    const Features& X() const { return X_; }  ///< All samples, in their original order: (n, features).
    const Target& y() const { return y_; }    ///< All targets, in their original order.

    /// The row indices of the current epoch, in the order its batches visit them: batch k holds
    /// order()[k·batch_size …]. The identity before the first epoch.
    const std::vector<Eigen::Index>& order() const { return order_; }

    /// The batches of one epoch, a single-pass range: each step of its iterator gathers the next
    /// batch into MiniBatches' buffer and the iterator refers to that buffer, so a batch is valid
    /// until the iterator moves on.
    class Epoch {
    public:
        /// An input iterator over the epoch's batches (prefix ++ only: a batch lives in a buffer
        /// the next one overwrites).
        class iterator {
        public:
            using iterator_category = std::input_iterator_tag;  ///< Single pass.
            using value_type = Batch;                           ///< A batch.
            using difference_type = std::ptrdiff_t;             ///< As the standard asks.
            using pointer = const Batch*;                       ///< To the batch buffer.
            using reference = const Batch&;                     ///< To the batch buffer.

            reference operator*() const { return *batch_; }  ///< The current batch.
            pointer operator->() const { return batch_; }    ///< The current batch.
            /// Gathers the next batch into the buffer.
            iterator& operator++() {
                batch_ = owner_->gather(++k_);
                return *this;
            }
            /// Whether both are at the same batch of the epoch.
            bool operator==(const iterator& other) const { return k_ == other.k_; }
            /// Whether they are at different batches of the epoch.
            bool operator!=(const iterator& other) const { return k_ != other.k_; }

        private:
            friend class Epoch;
            iterator(MiniBatches* owner, Eigen::Index k) : owner_(owner), k_(k) {}
            MiniBatches* owner_;
            Eigen::Index k_;
            const Batch* batch_ = nullptr;
        };

        /// Gathers the first batch.
        iterator begin() const {
            iterator first(owner_, 0);
            first.batch_ = owner_->gather(0);
            return first;
        }
        /// Past the last batch.
        iterator end() const { return iterator(owner_, owner_->batches_per_epoch()); }
        Eigen::Index size() const { return owner_->batches_per_epoch(); }  ///< Batches in it.

    private:
        friend class MiniBatches;
        explicit Epoch(MiniBatches& owner) : owner_(&owner) {}
        MiniBatches* owner_;
    };

    /// Starts a new epoch: shuffles the order (see this file's comment) and returns the epoch's
    /// batches, to walk once with a range-for. Each call draws a new order, whether or not the
    /// previous epoch was walked to its end.
    Epoch epoch() {
        detail::shuffle(order_, rng_);
        return Epoch(*this);
    }

private:
    void resize(Batch& batch, Eigen::Index rows) {
        batch.X.resize(rows, X_.cols());
        batch.y.resize(rows, y_.cols());
    }

    /// Batch k of the epoch, gathered into a buffer; nullptr past the last batch.
    const Batch* gather(Eigen::Index k) {
        if (k >= batches_per_epoch()) return nullptr;
        Batch& batch = k < full_batches_ ? full_ : short_;
        const std::size_t first = static_cast<std::size_t>(k * batch_size_);
        const Eigen::Index rows = batch.X.rows();
        // Column by column: the writes and each column of X are contiguous (column-major).
        for (Eigen::Index j = 0; j < X_.cols(); ++j) {
            for (Eigen::Index r = 0; r < rows; ++r) {
                batch.X(r, j) = X_(order_[first + static_cast<std::size_t>(r)], j);
            }
        }
        for (Eigen::Index j = 0; j < y_.cols(); ++j) {
            for (Eigen::Index r = 0; r < rows; ++r) {
                batch.y(r, j) = y_(order_[first + static_cast<std::size_t>(r)], j);
            }
        }
        return &batch;
    }

    Features X_;
    Target y_;
    Eigen::Index batch_size_;
    Eigen::Index full_batches_ = 0;
    detail::SplitMix64 rng_;
    std::vector<Eigen::Index> order_;
    Batch full_;   // the buffer of every full batch: (batch_size, ·), or empty if n < batch_size
    Batch short_;  // the buffer of the short last batch: (n mod batch_size, ·), or empty
};

}  // namespace backprop
