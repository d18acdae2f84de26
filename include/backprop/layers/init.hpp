#pragma once
/// \file
/// How a layer's parameters are first drawn.

#include "../detail/random.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>

namespace backprop {

/// The distribution a Dense layer draws W and b from.
enum class Init {
    /// U(−1/√in, 1/√in) for W and b, as `torch.nn.Linear` does by default.
    pytorch,
    /// U[0, 1) for W and b, as the seed notebook's `np.random.rand`.
    unit_uniform,
};

namespace detail {

/// Draws W (in × out) and then b (1 × out) from `init`, row by row, with a SplitMix64
/// generator seeded by `seed`: the same seed gives the same parameters on every platform.
template <typename Weights, typename Bias>
void initialize(Weights& W, Bias& b, Init init, std::uint64_t seed) {
    using Scalar = typename Weights::Scalar;
    Scalar lo = 0;
    Scalar hi = 1;
    if (init == Init::pytorch) {
        hi = Scalar(1) / std::sqrt(static_cast<Scalar>(W.rows()));
        lo = -hi;
    }
    SplitMix64 rng(seed);
    fill_uniform(W, rng, lo, hi);
    fill_uniform(b, rng, lo, hi);
}

}  // namespace detail
}  // namespace backprop
