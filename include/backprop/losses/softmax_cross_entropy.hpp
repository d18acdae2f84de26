#pragma once
/// \file
/// Softmax followed by the cross-entropy of integer class labels, and its gradient.

#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace backprop {

/// The softmax cross-entropy of logits against integer class labels, averaged over the batch, as
/// PyTorch's `CrossEntropyLoss()` (reduction 'mean', no weights, no label smoothing):
///
///     pᵢⱼ = exp(Zᵢⱼ) / Σₖ exp(Zᵢₖ)            (softmax of row i)
///     L   = (1/B)·Σᵢ −log pᵢ,yᵢ = (1/B)·Σᵢ (log Σₖ exp(Zᵢₖ) − Zᵢ,yᵢ)
///
/// Shapes: logits Z are (batch, classes); labels y are `batch` integers in [0, classes).
///
/// Numerically stable: with mᵢ = maxₖ Zᵢₖ, log Σₖ exp(Zᵢₖ) = mᵢ + log Σₖ exp(Zᵢₖ − mᵢ), where every
/// exponent is ≤ 0 (no overflow) and the largest is exactly 0 (the sum is ≥ 1, its log finite).
/// Logits of ±1000 therefore give a finite loss and gradient. forward() keeps p and y, which is
/// what backward() needs.
///
/// Labels are any Eigen vector of an integer type, typically `Eigen::VectorXi`: the features of
/// a dataset are an Eigen matrix, so the labels are an Eigen vector whose rows are the same
/// samples, and a mini-batch of both is taken the same way (`X(rows, Eigen::all)`,
/// `y(rows)`). A `std::vector<int>` can be passed as `Eigen::Map<const Eigen::VectorXi>`.
///
/// \tparam Scalar float or double.
/// \tparam Cols number of classes, or Eigen::Dynamic; fix it to match a fixed-size Dense
///         layer's `Out`.
template <typename Scalar, int Cols = Eigen::Dynamic>
class SoftmaxCrossEntropy {
    static_assert(std::is_floating_point_v<Scalar>,
                  "SoftmaxCrossEntropy needs a floating-point Scalar");

public:
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Cols>;  ///< logits, p, dlogits
    using Labels = Eigen::VectorXi;                              ///< the labels it keeps

    /// L = (1/B)·Σᵢ (mᵢ + log Σₖ exp(Zᵢₖ − mᵢ) − Zᵢ,yᵢ), with mᵢ the largest logit of row i.
    ///
    /// logits are (batch, classes), labels a vector of `batch` integers → a scalar. Throws
    /// std::invalid_argument, changing nothing, if the logits are empty, the number of labels is
    /// not the batch size, or a label is outside [0, classes).
    template <typename D, typename L>
    Scalar forward(const Eigen::MatrixBase<D>& logits, const Eigen::MatrixBase<L>& labels) {
        static_assert(std::is_integral_v<typename L::Scalar>,
                      "SoftmaxCrossEntropy::forward: the labels must be integers");
        static_assert(L::IsVectorAtCompileTime,
                      "SoftmaxCrossEntropy::forward: the labels must be an Eigen vector");
        const Eigen::Index batch = logits.rows();
        const Eigen::Index classes = logits.cols();
        if (logits.size() == 0 || (Cols != Eigen::Dynamic && classes != Cols)) {
            detail::fail("SoftmaxCrossEntropy::forward: logits are ", detail::dims(logits),
                         " but must be a non-empty batch",
                         Cols == Eigen::Dynamic ? "" : " of width ",
                         Cols == Eigen::Dynamic ? "" : std::to_string(Cols));
        }
        if (labels.size() != batch) {
            detail::fail("SoftmaxCrossEntropy::forward: there are ", labels.size(),
                         " labels but the logits are ", detail::dims(logits), ": one label per row");
        }
        for (Eigen::Index i = 0; i < batch; ++i) {
            const auto label = static_cast<long long>(labels(i));
            if (label < 0 || label >= classes) {
                detail::fail("SoftmaxCrossEntropy::forward: label ", label, " of row ", i,
                             " is outside [0, ", classes, ")");
            }
        }

        labels_.resize(batch);
        for (Eigen::Index i = 0; i < batch; ++i) {
            labels_(i) = static_cast<int>(labels(i));
        }
        row_max_ = logits.rowwise().maxCoeff();
        p_ = (logits.colwise() - row_max_).array().exp();  // exp(Zᵢₖ − mᵢ) ∈ (0, 1]
        row_sum_ = p_.rowwise().sum();                     // Σₖ exp(Zᵢₖ − mᵢ) ≥ 1
        Scalar total = 0;
        for (Eigen::Index i = 0; i < batch; ++i) {
            // −log pᵢ,yᵢ = log Σₖ exp(Zᵢₖ − mᵢ) − (Zᵢ,yᵢ − mᵢ)
            total += std::log(row_sum_(i)) - (logits(i, labels_(i)) - row_max_(i));
        }
        p_.array().colwise() /= row_sum_.array();  // now the softmax p
        return total / static_cast<Scalar>(batch);
    }

    /// dlogits = ∂L/∂Z = (p − onehot(y)) / B.
    ///
    /// Returns (batch, classes), the shape of the logits. In the forward pass row i contributed
    /// (1/B)·(log Σₖ exp(Zᵢₖ) − Zᵢ,yᵢ). The derivative of log Σₖ exp(Zᵢₖ) by Zᵢⱼ is
    /// exp(Zᵢⱼ)/Σₖ exp(Zᵢₖ) = pᵢⱼ, and that of Zᵢ,yᵢ is [j = yᵢ], so
    ///
    ///     ∂L/∂Zᵢⱼ = (pᵢⱼ − [j = yᵢ]) / B.
    ///
    /// Throws std::logic_error before the first forward().
    const Matrix& backward() {
        if (p_.size() == 0) {
            throw std::logic_error("SoftmaxCrossEntropy::backward: called before forward()");
        }
        dlogits_ = p_;
        for (Eigen::Index i = 0; i < dlogits_.rows(); ++i) {
            dlogits_(i, labels_(i)) -= Scalar(1);
        }
        dlogits_ /= static_cast<Scalar>(dlogits_.rows());
        return dlogits_;
    }

    /// The softmax p of the last forward(), (batch, classes): each row sums to 1. Empty before
    /// the first forward().
    const Matrix& probabilities() const { return p_; }

private:
    Matrix p_;        // exp(Z − m), then the softmax p: backward needs it
    Labels labels_;   // the labels of the last forward(): backward needs them
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> row_max_;
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> row_sum_;
    Matrix dlogits_;
};

}  // namespace backprop
