#pragma once
/// \file
/// The seed notebook's synthetic dataset: a noiseless linear map of uniform inputs.

#include "../detail/random.hpp"
#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <cstdint>

namespace backprop {

/// Inputs and targets; rows are samples.
template <typename Scalar>
struct Dataset {
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> X;  ///< (n, d)
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> y;  ///< (n, 1)
};

/// n samples of y = x·w_true + bias, each x drawn uniform in [0, 1)ᵈ with `seed`.
///
/// w_true is (d, 1) → X is (n, d), y is (n, 1). The same seed gives the same data on every
/// platform. Throws std::invalid_argument if n or d is not positive.
template <typename Derived>
Dataset<typename Derived::Scalar> make_linear_dataset(Eigen::Index n,
                                                      const Eigen::MatrixBase<Derived>& w_true,
                                                      typename Derived::Scalar bias,
                                                      std::uint64_t seed) {
    using Scalar = typename Derived::Scalar;
    if (n <= 0 || w_true.cols() != 1 || w_true.rows() == 0) {
        detail::fail("make_linear_dataset: n is ", n, " and w_true is ", detail::dims(w_true),
                     " but they must be positive and a non-empty column");
    }
    Dataset<Scalar> data;
    data.X.resize(n, w_true.rows());
    detail::SplitMix64 rng(seed);
    detail::fill_uniform(data.X, rng, Scalar(0), Scalar(1));
    data.y = (data.X * w_true).array() + bias;
    return data;
}

/// The notebook's dataset: n samples (10 in the notebook) of
/// y = x·[0.8, 0.3, 0.75, 0.5, 0.2]ᵀ + 0.43, x uniform in [0, 1)⁵.
template <typename Scalar>
Dataset<Scalar> make_notebook_dataset(Eigen::Index n = 10, std::uint64_t seed = 0) {
    Eigen::Matrix<Scalar, 5, 1> w_true;
    w_true << Scalar(0.8), Scalar(0.3), Scalar(0.75), Scalar(0.5), Scalar(0.2);
    return make_linear_dataset(n, w_true, Scalar(0.43), seed);
}

}  // namespace backprop
