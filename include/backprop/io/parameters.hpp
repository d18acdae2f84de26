#pragma once
/// \file
/// The visiting contract: how generic code (saving, loading, counting) reaches every parameter
/// tensor of a model without knowing its type.
///
/// For a model type M, `for_each_parameter(M& model, F&& f)` calls `f(name, tensor)` once for
/// each parameter tensor, in a fixed order, where `name` is a `const char*` naming the tensor
/// within its layer ("W", "b") and `tensor` is a writable Eigen matrix (with a const overload
/// taking `const M&` that passes const matrices). Layers without parameters (activations) visit
/// nothing; a container of layers visits its layers in order. Any type with such an overload,
/// found by argument-dependent lookup (declare it in the type's namespace), can be saved and
/// loaded by io/serialize.hpp. The order is the file's order: changing it breaks saved files.

#include "../layers/dense.hpp"

#include <Eigen/Core>

namespace backprop {

/// Visits a Dense layer's parameters: f("W", W) with W (in, out), then f("b", b) with b (1, out).
template <typename Scalar, int In, int Out, typename F>
void for_each_parameter(Dense<Scalar, In, Out>& layer, F&& f) {
    f("W", layer.W);
    f("b", layer.b);
}

/// Visits a Dense layer's parameters read-only: f("W", W) then f("b", b).
template <typename Scalar, int In, int Out, typename F>
void for_each_parameter(const Dense<Scalar, In, Out>& layer, F&& f) {
    f("W", layer.W);
    f("b", layer.b);
}

/// The number of scalar parameters of `model`: the sum of rows·cols over what
/// for_each_parameter visits.
template <typename Model>
Eigen::Index parameter_count(const Model& model) {
    Eigen::Index count = 0;
    for_each_parameter(model,
                       [&count](const char*, const auto& tensor) { count += tensor.size(); });
    return count;
}

}  // namespace backprop
