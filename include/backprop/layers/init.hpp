#pragma once
/// \file
/// How a layer's parameters are first drawn.

#include "../detail/random.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>

namespace backprop {

/// The distribution a layer draws its weights W and bias b from.
///
/// fan_in is the number of inputs each output sums (a Dense layer's in, a Conv2D's C·kh·kw),
/// fan_out the number of outputs each input reaches (out, F·kh·kw), as torch.nn.init counts them.
enum class Init {
    /// U(−1/√fan_in, 1/√fan_in) for W and b, as `torch.nn.Linear` and `torch.nn.Conv2d` do by
    /// default (their kaiming_uniform_ with a = √5 reduces to this bound).
    pytorch,
    /// U[0, 1) for W and b, as the seed notebook's `np.random.rand`.
    unit_uniform,
    /// He (Kaiming) for ReLU networks: W ~ U(−√(6/fan_in), √(6/fan_in)), so Var W = 2/fan_in;
    /// b = 0. As `torch.nn.init.kaiming_uniform_(W, nonlinearity="relu")`.
    he_uniform,
    /// He (Kaiming) normal: W ~ N(0, 2/fan_in); b = 0. As `kaiming_normal_(W,
    /// nonlinearity="relu")`.
    he_normal,
    /// Xavier (Glorot) for tanh and sigmoid networks: W ~ U(−a, a) with
    /// a = √(6/(fan_in + fan_out)), so Var W = 2/(fan_in + fan_out); b = 0. As
    /// `torch.nn.init.xavier_uniform_`.
    xavier_uniform,
    /// Xavier (Glorot) normal: W ~ N(0, 2/(fan_in + fan_out)); b = 0. As `xavier_normal_`.
    xavier_normal,
};

namespace detail {

/// Fills every coefficient of `m` from `rng`, row by row, with N(0, std²): Box–Muller, one
/// normal number from each two uniform ones, computed in double so that float and double
/// layers draw the same numbers.
template <typename Matrix>
void fill_normal(Matrix& m, SplitMix64& rng, double std) {
    using Scalar = typename Matrix::Scalar;
    const double two_pi = 6.283185307179586476925286766559;
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        for (Eigen::Index j = 0; j < m.cols(); ++j) {
            const double u1 = 1.0 - rng.uniform01<double>();  // in (0, 1]: the log is finite
            const double u2 = rng.uniform01<double>();
            m(i, j) = static_cast<Scalar>(std * std::sqrt(-2.0 * std::log(u1)) *
                                          std::cos(two_pi * u2));
        }
    }
}

/// Draws W and then b (1 × out) from `init`, row by row, with a SplitMix64 generator seeded by
/// `seed`: the same seed gives the same parameters on every platform. `fan_in` and `fan_out`
/// are counted as Init describes; the inits that set b = 0 draw nothing for it.
template <typename Weights, typename Bias>
void initialize(Weights& W, Bias& b, Init init, std::uint64_t seed, Eigen::Index fan_in,
                Eigen::Index fan_out) {
    using Scalar = typename Weights::Scalar;
    SplitMix64 rng(seed);
    const double in = static_cast<double>(fan_in);
    const double both = static_cast<double>(fan_in + fan_out);
    switch (init) {
        case Init::pytorch:
        case Init::unit_uniform: {
            Scalar lo = 0;
            Scalar hi = 1;
            if (init == Init::pytorch) {
                hi = Scalar(1) / std::sqrt(static_cast<Scalar>(fan_in));
                lo = -hi;
            }
            fill_uniform(W, rng, lo, hi);
            fill_uniform(b, rng, lo, hi);
            return;
        }
        case Init::he_uniform:
        case Init::xavier_uniform: {
            const Scalar bound = static_cast<Scalar>(
                std::sqrt(6.0 / (init == Init::he_uniform ? in : both)));
            fill_uniform(W, rng, -bound, bound);
            break;
        }
        case Init::he_normal: fill_normal(W, rng, std::sqrt(2.0 / in)); break;
        case Init::xavier_normal: fill_normal(W, rng, std::sqrt(2.0 / both)); break;
    }
    b.setZero();
}

/// Draws a Dense layer's W (in × out) and b (1 × out): fan_in = in, fan_out = out.
template <typename Weights, typename Bias>
void initialize(Weights& W, Bias& b, Init init, std::uint64_t seed) {
    initialize(W, b, init, seed, W.rows(), W.cols());
}

}  // namespace detail
}  // namespace backprop
