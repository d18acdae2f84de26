// backprop::openblas: Eigen's products in OpenBLAS. This file and test_pytorch.cpp (PyTorch's
// float64 values to 1e-12) form their own executable, built with EIGEN_USE_BLAS in every
// translation unit. The link wraps sgemm_ and dgemm_ (-Wl,--wrap), so that this file can count
// the calls and prove that a Dense layer's products do reach OpenBLAS, and are right there.
#include "helpers.hpp"

#include <backprop/backprop.hpp>

#include <catch2/catch.hpp>

#ifndef EIGEN_USE_BLAS
#error "backprop::openblas must compile every file with EIGEN_USE_BLAS"
#endif

namespace {

int sgemm_calls = 0;
int dgemm_calls = 0;

}  // namespace

// The wrappers the linker puts between Eigen and OpenBLAS: count, then call the real GEMM.
extern "C" {
int __real_sgemm_(const char*, const char*, const int*, const int*, const int*, const float*,
                  const float*, const int*, const float*, const int*, const float*, float*,
                  const int*);
int __real_dgemm_(const char*, const char*, const int*, const int*, const int*, const double*,
                  const double*, const int*, const double*, const int*, const double*, double*,
                  const int*);

int __wrap_sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                  const float* alpha, const float* a, const int* lda, const float* b,
                  const int* ldb, const float* beta, float* c, const int* ldc) {
    ++sgemm_calls;
    return __real_sgemm_(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int __wrap_dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                  const double* alpha, const double* a, const int* lda, const double* b,
                  const int* ldb, const double* beta, double* c, const int* ldc) {
    ++dgemm_calls;
    return __real_dgemm_(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
}

namespace {

template <typename Scalar>
int gemm_calls() {
    return sizeof(Scalar) == sizeof(float) ? sgemm_calls : dgemm_calls;
}

/// a·b by the textbook triple loop, in double: the reference no BLAS computed.
template <typename A, typename B>
Eigen::MatrixXd loop_product(const A& a, const B& b) {
    Eigen::MatrixXd c = Eigen::MatrixXd::Zero(a.rows(), b.cols());
    for (Eigen::Index i = 0; i < a.rows(); ++i) {
        for (Eigen::Index j = 0; j < b.cols(); ++j) {
            for (Eigen::Index k = 0; k < a.cols(); ++k) {
                c(i, j) += double(a(i, k)) * double(b(k, j));
            }
        }
    }
    return c;
}

}  // namespace

TEMPLATE_TEST_CASE("backprop::openblas: a Dense layer's products run in OpenBLAS's GEMM",
                   "[openblas]", float, double) {
    using Scalar = TestType;
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
    backprop::Dense<Scalar> layer(40, 24, 1);
    const Matrix X = test::random_matrix<Scalar>(33, 40, 2);
    const Matrix dZ = test::random_matrix<Scalar>(33, 24, 3);
    const double tolerance = sizeof(Scalar) == sizeof(float) ? 1e-5 : 1e-12;

    const int before = gemm_calls<Scalar>();
    const Matrix Z = layer.forward(X);
    CHECK(gemm_calls<Scalar>() == before + 1);  // X·W
    const Eigen::MatrixXd XW = loop_product(X, layer.W);
    CHECK(test::relative_difference(Z, XW.rowwise() + layer.b.template cast<double>()) <
          tolerance);

    const auto& grads = layer.backward(dZ);
    CHECK(gemm_calls<Scalar>() == before + 3);  // Xᵀ·dZ and dZ·Wᵀ
    CHECK(test::relative_difference(grads.dW, loop_product(X.transpose(), dZ)) < tolerance);
    CHECK(test::relative_difference(grads.dX, loop_product(dZ, layer.W.transpose())) <
          tolerance);

    // Accumulated: dW += Xᵀ·dZ, GEMM's β = 1.
    layer.backward(dZ, backprop::GradientMode::accumulate);
    CHECK(gemm_calls<Scalar>() == before + 5);
    CHECK(test::relative_difference(layer.gradients().dW, 2 * loop_product(X.transpose(), dZ)) <
          tolerance);
}
