#pragma once
/// \file
/// Builders for the messages of shape errors. Not public API.

#include <Eigen/Core>

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

namespace backprop::detail {

/// "rows x cols" of any Eigen object, e.g. "10x4".
inline std::string dims(Eigen::Index rows, Eigen::Index cols) {
    return std::to_string(rows) + "x" + std::to_string(cols);
}

template <typename Derived>
std::string dims(const Eigen::EigenBase<Derived>& m) {
    return dims(m.rows(), m.cols());
}

/// Throws std::invalid_argument with the pieces of the message joined,
/// e.g. fail("Dense::forward: X is ", dims(X), " but the layer expects ", 5, " inputs").
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
    std::ostringstream message;
    (message << ... << parts);
    throw std::invalid_argument(message.str());
}

/// Throws std::invalid_argument unless `actual` has the shape of `expected`:
/// "<call>: <what> is 3x4 but <expected_what> is 5x4".
template <typename A, typename B>
void require_same_shape(const char* call, const char* what, const Eigen::EigenBase<A>& actual,
                        const char* expected_what, const Eigen::EigenBase<B>& expected) {
    if (actual.rows() != expected.rows() || actual.cols() != expected.cols()) {
        fail(call, ": ", what, " is ", dims(actual), " but ", expected_what, " is ",
             dims(expected));
    }
}

/// Whether every coefficient of m is finite: x − x is 0 for a finite x and NaN for ±inf or NaN,
/// so the sum is 0 exactly when all are. One vectorised pass: Eigen 3.4's allFinite() ends in
/// DenseBase::all(), a scalar loop with a branch per coefficient, 12x slower on a 784x256 float
/// dW (85 µs against 7 with AVX-512), 20 % of a training step at batch 64
/// (docs/performance.md). Like allFinite(), it sees nothing under -ffinite-math-only.
template <typename Derived>
bool all_finite(const Eigen::MatrixBase<Derived>& m) {
    return (m.array() - m.array()).sum() == 0;
}

/// The first element of `m` that is not finite, as "(row, col) is nan", or "" if all are.
/// For messages, once all_finite() has said there is one.
template <typename Derived>
std::string first_non_finite(const Eigen::MatrixBase<Derived>& m) {
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        for (Eigen::Index j = 0; j < m.cols(); ++j) {
            if (!std::isfinite(m(i, j))) {
                std::ostringstream where;
                where << "(" << i << ", " << j << ") is " << m(i, j);
                return where.str();
            }
        }
    }
    return "";
}

/// The check every layer's forward() and predict() make: X is a non-empty batch, `cols` wide
/// when `cols` is known (≥ 0). Throws std::invalid_argument
/// "<call>: X is 0x5 but the layer expects a non-empty batch of 5 inputs".
template <typename D>
void require_batch(const char* call, const Eigen::EigenBase<D>& X, Eigen::Index cols) {
    if (X.rows() == 0 || X.cols() == 0 || (cols >= 0 && X.cols() != cols)) {
        if (cols >= 0) {
            fail(call, ": X is ", dims(X), " but the layer expects a non-empty batch of ", cols,
                 " inputs");
        }
        fail(call, ": X is ", dims(X), " but must be a non-empty batch");
    }
}

/// The check every backward() makes first: throws std::logic_error
/// "<call>: called before forward()" unless a forward() came first. `call` is given in pieces
/// (e.g. "ReLU", "::backward"), joined only when it throws.
template <typename... Call>
void require_forward(bool forward_done, const Call&... call) {
    if (!forward_done) {
        std::ostringstream message;
        (message << ... << call);
        throw std::logic_error(message.str() + ": called before forward()");
    }
}

}  // namespace backprop::detail
