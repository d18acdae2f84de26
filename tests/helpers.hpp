#pragma once
// Small helpers shared by the test files.

#include <backprop/detail/random.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace test {

template <typename Scalar, int Rows = Eigen::Dynamic, int Cols = Eigen::Dynamic>
Eigen::Matrix<Scalar, Rows, Cols> random_matrix(Eigen::Index rows, Eigen::Index cols,
                                                std::uint64_t seed) {
    Eigen::Matrix<Scalar, Rows, Cols> m(rows, cols);
    backprop::detail::SplitMix64 rng(seed);
    backprop::detail::fill_uniform(m, rng, Scalar(-1), Scalar(1));
    return m;
}

/// max |a − b| / max |b|: how far a is from the reference b, relative to b's scale.
/// (A plain loop: GCC 12 at -O3 warns falsely inside Eigen's vectorised reductions of 1x1 casts.)
template <typename A, typename B>
double relative_difference(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
    if (a.rows() != b.rows() || a.cols() != b.cols()) {
        return std::numeric_limits<double>::infinity();
    }
    double difference = 0;
    double scale = 1e-300;
    for (Eigen::Index i = 0; i < b.rows(); ++i) {
        for (Eigen::Index j = 0; j < b.cols(); ++j) {
            difference = std::max(difference, std::abs(double(a(i, j)) - double(b(i, j))));
            scale = std::max(scale, std::abs(double(b(i, j))));
        }
    }
    return difference / scale;
}

/// A matrix stored row by row in `values`, viewed as (rows, cols).
inline Eigen::MatrixXd from_rows(const std::vector<double>& values, Eigen::Index rows,
                                 Eigen::Index cols) {
    return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        values.data(), rows, cols);
}

/// The tolerance of a gradient check on the scalar type a gradient was computed in. In double the
/// central difference's rounding (about ε·Σ|terms of L|/h) limits the small gradient elements to
/// a few 1e-8; a wrong gradient is off by far more.
template <typename Scalar>
constexpr double gradient_tolerance = sizeof(Scalar) == sizeof(double) ? 1e-6 : 1e-4;

/// How far two computations of the same value in Scalar may differ by rounding alone (for
/// example fixed-size and dynamic Eigen products, which sum in different orders).
template <typename Scalar>
constexpr double rounding_tolerance = sizeof(Scalar) == sizeof(double) ? 1e-13 : 1e-5;

}  // namespace test
