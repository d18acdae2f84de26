#pragma once
/// \file
/// Builders for the messages of shape errors. Not public API.

#include <Eigen/Core>

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

}  // namespace backprop::detail
