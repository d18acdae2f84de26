#pragma once
/// \file
/// A small random generator that gives the same numbers on every compiler and standard library.
/// Not public API.
///
/// `std::uniform_real_distribution` is implemented differently by libstdc++ and libc++, so a
/// seed would not reproduce the same weights everywhere. SplitMix64 (Steele, Lea and Flood,
/// 2014) is fully specified by a few integer operations, and its 53 (or 24) high bits map
/// exactly onto a double (or float) in [0, 1).

#include <Eigen/Core>

#include <cstdint>
#include <type_traits>

namespace backprop::detail {

class SplitMix64 {
public:
    explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }

    /// Uniform in [0, 1): the top mantissa-width bits of next(), scaled exactly.
    template <typename Scalar>
    Scalar uniform01() {
        static_assert(std::is_floating_point_v<Scalar>, "uniform01 needs float or double");
        if constexpr (std::is_same_v<Scalar, float>) {
            return static_cast<float>(next() >> 40) * 0x1.0p-24f;
        } else {
            return static_cast<Scalar>(next() >> 11) * static_cast<Scalar>(0x1.0p-53);
        }
    }

    /// Uniform in [lo, hi).
    template <typename Scalar>
    Scalar uniform(Scalar lo, Scalar hi) {
        return lo + (hi - lo) * uniform01<Scalar>();
    }

private:
    std::uint64_t state_;
};

/// Fills every coefficient of `m` from `rng`, row by row, uniform in [lo, hi).
template <typename Matrix, typename Scalar>
void fill_uniform(Matrix& m, SplitMix64& rng, Scalar lo, Scalar hi) {
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        for (Eigen::Index j = 0; j < m.cols(); ++j) {
            m(i, j) = rng.uniform(lo, hi);
        }
    }
}

}  // namespace backprop::detail
