#pragma once
/// \file
/// Softmax followed by the cross-entropy of integer class labels, and its gradient.

#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <cmath>
#include <string>
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
/// what backward() needs; value() computes the same loss keeping nothing. The loss is summed in
/// double whatever Scalar is.
///
/// Labels are any Eigen vector of an integer type, typically `Eigen::VectorXi`: the features of
/// a dataset are an Eigen matrix, so the labels are an Eigen vector whose rows are the same
/// samples, and a mini-batch of both is taken the same way (`X(rows, Eigen::all)`,
/// `y(rows)`). A `std::vector<int>` can be passed as `Eigen::Map<const Eigen::VectorXi>`.
///
/// Derived, with its gradient (p − onehot(y))/B and the stable log-sum-exp:
/// \ref tutorial_softmax "Tutorial 8: Softmax cross-entropy".
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
        check("SoftmaxCrossEntropy::forward", logits, labels);
        const Eigen::Index batch = logits.rows();
        labels_.resize(batch);
        for (Eigen::Index i = 0; i < batch; ++i) {
            labels_(i) = static_cast<int>(labels(i));
        }
        row_max_ = logits.rowwise().maxCoeff();
        p_ = (logits.colwise() - row_max_).array().exp();  // exp(Zᵢₖ − mᵢ) ∈ (0, 1]
        row_sum_ = p_.rowwise().sum();                     // Σₖ exp(Zᵢₖ − mᵢ) ≥ 1
        double total = 0;  // in double whatever Scalar is: a float sum of millions of rows drifts
        for (Eigen::Index i = 0; i < batch; ++i) {
            // −log pᵢ,yᵢ = log Σₖ exp(Zᵢₖ − mᵢ) − (Zᵢ,yᵢ − mᵢ)
            total += std::log(static_cast<double>(row_sum_(i))) -
                     static_cast<double>(logits(i, labels_(i)) - row_max_(i));
        }
        p_.array().colwise() /= row_sum_.array();  // now the softmax p
        return static_cast<Scalar>(total / static_cast<double>(batch));
    }

    /// L as forward() computes it, keeping nothing: backward() still sees the last forward().
    /// Thread-safe on one loss; allocates nothing. Throws as forward() does.
    template <typename D, typename L>
    Scalar value(const Eigen::MatrixBase<D>& logits, const Eigen::MatrixBase<L>& labels) const {
        check("SoftmaxCrossEntropy::value", logits, labels);
        double total = 0;
        for (Eigen::Index i = 0; i < logits.rows(); ++i) {
            const Scalar m = logits.row(i).maxCoeff();
            double sum = 0;
            for (Eigen::Index k = 0; k < logits.cols(); ++k) {
                sum += static_cast<double>(std::exp(logits(i, k) - m));
            }
            total += std::log(sum) - static_cast<double>(logits(i, labels(i)) - m);
        }
        return static_cast<Scalar>(total / static_cast<double>(logits.rows()));
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
        detail::require_forward(p_.size() != 0, "SoftmaxCrossEntropy::backward");
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
    // The logits are a non-empty batch (of Cols classes when fixed), with one label in
    // [0, classes) per row.
    template <typename D, typename L>
    static void check(const char* call, const Eigen::MatrixBase<D>& logits,
                      const Eigen::MatrixBase<L>& labels) {
        static_assert(std::is_integral_v<typename L::Scalar>,
                      "SoftmaxCrossEntropy: the labels must be integers");
        static_assert(L::IsVectorAtCompileTime,
                      "SoftmaxCrossEntropy: the labels must be an Eigen vector");
        const Eigen::Index batch = logits.rows();
        const Eigen::Index classes = logits.cols();
        if (logits.size() == 0 || (Cols != Eigen::Dynamic && classes != Cols)) {
            detail::fail(call, ": logits are ", detail::dims(logits),
                         " but must be a non-empty batch",
                         Cols == Eigen::Dynamic ? "" : " of width ",
                         Cols == Eigen::Dynamic ? "" : std::to_string(Cols));
        }
        if (labels.size() != batch) {
            detail::fail(call, ": there are ", labels.size(), " labels but the logits are ",
                         detail::dims(logits), ": one label per row");
        }
        for (Eigen::Index i = 0; i < batch; ++i) {
            const auto label = static_cast<long long>(labels(i));
            if (label < 0 || label >= classes) {
                detail::fail(call, ": label ", label, " of row ", i, " is outside [0, ", classes,
                             ")");
            }
        }
    }

    Matrix p_;        // exp(Z − m), then the softmax p: backward needs it
    Labels labels_;   // the labels of the last forward(): backward needs them
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> row_max_;
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> row_sum_;
    Matrix dlogits_;
};

}  // namespace backprop
