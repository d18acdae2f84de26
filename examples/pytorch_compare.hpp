#pragma once
// How the tutorial's programs set the library's results beside PyTorch's: the numbers that
// tests/reference/make_reference*.py stored (row by row, in float64) read into Eigen matrices,
// and one line per comparison, as llm.c's tests print them.

#include <Eigen/Core>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace example {

/// A (rows, cols) matrix from PyTorch's values, stored row by row.
inline Eigen::MatrixXd from_torch(const std::vector<double>& values, Eigen::Index rows,
                                  Eigen::Index cols) {
    return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        values.data(), rows, cols);
}

/// Prints `name`, the shape and the largest |ours − torch|; true if that is within 1e-12 of the
/// largest |torch| (or of 1, for values below 1).
template <typename Ours>
bool compare(const char* name, const Eigen::MatrixBase<Ours>& ours, const Eigen::MatrixXd& torch) {
    const double diff = (ours.template cast<double>() - torch).cwiseAbs().maxCoeff();
    const bool ok = diff <= 1e-12 * std::max(1.0, torch.cwiseAbs().maxCoeff());
    std::printf("%-5s (%2ld, %2ld)  %s  max |ours - torch| = %.1e\n", name, long(ours.rows()),
                long(ours.cols()), ok ? "OK " : "BAD", diff);
    return ok;
}

/// A 1 × 1 matrix, to compare a scalar (a loss) the same way.
inline Eigen::MatrixXd scalar(double value) { return Eigen::MatrixXd::Constant(1, 1, value); }

}  // namespace example
