#pragma once
/// \file
/// What data-parallel training needs, whether the shards run on threads or on MPI ranks: a batch
/// split into shards, and a model's gradients and parameters as one flat vector.
///
/// Why it works: a layer's parameter gradient is a sum over the rows of its batch (dW = Xᵀ·dZ,
/// db = Σ_rows dZ), and a mean loss over N rows weights each row by 1/N. A shard of n rows whose
/// own loss is the mean over its n rows has gradient g, so the gradient of the whole batch is
/// the sum over shards of (n/N)·g: shard_weight() gives n/N.

#include "../detail/shape.hpp"
#include "model.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace backprop {

/// Rows [begin, begin + rows) of a batch: one shard of it.
struct Shard {
    Eigen::Index begin = 0;  ///< The first row.
    Eigen::Index rows = 0;   ///< How many rows; 0 when the batch has fewer rows than shards.
};

/// Shard `index` of a batch of `rows` rows split into `parts` shards as evenly as possible: the
/// first rows % parts shards have one row more than the others, and the shards are consecutive,
/// in order. The same on every thread and rank, so each knows its rows without talking.
///
/// Throws std::invalid_argument unless rows ≥ 0, parts > 0 and 0 ≤ index < parts.
inline Shard shard_of(Eigen::Index rows, Eigen::Index parts, Eigen::Index index) {
    if (rows < 0 || parts <= 0 || index < 0 || index >= parts) {
        detail::fail("shard_of: shard ", index, " of ", parts, " of a batch of ", rows,
                     " rows does not exist");
    }
    const Eigen::Index base = rows / parts;
    const Eigen::Index longer = rows % parts;  // shards 0 .. longer-1 have base + 1 rows
    return Shard{index * base + (index < longer ? index : longer), base + (index < longer ? 1 : 0)};
}

/// n/N: the weight of a shard's gradient of its mean loss in the gradient of the whole batch's
/// mean loss (0 for an empty shard). Throws std::invalid_argument unless 0 ≤ shard.rows ≤ rows.
template <typename Scalar>
Scalar shard_weight(const Shard& shard, Eigen::Index rows) {
    if (shard.rows < 0 || shard.rows > rows || rows == 0) {
        detail::fail("shard_weight: a shard of ", shard.rows, " rows of a batch of ", rows,
                     " rows");
    }
    return static_cast<Scalar>(shard.rows) / static_cast<Scalar>(rows);
}

namespace detail {

// One tensor of every parameter of `model`, `part(parameter)` (its value or its gradient), into
// `flat`, one after another in the order of for_each_parameter, each in its storage order.
template <typename Model, typename Vector, typename Part>
void gather(const Model& model, Vector& flat, Part part) {
    using Column = Eigen::Matrix<typename Vector::Scalar, Eigen::Dynamic, 1>;
    flat.resize(parameter_count(model));
    Eigen::Index offset = 0;
    for_each_parameter(model, [&](const auto& parameter) {
        const auto& tensor = part(parameter);
        const Eigen::Map<const Column> column(tensor.data(), tensor.size());
        flat.segment(offset, tensor.size()) = column;
        offset += tensor.size();
    });
}

// The inverse of gather(): `part(parameter)` of every parameter of `model` from `flat`.
template <typename Vector, typename Model, typename Part>
void scatter(const Vector& flat, Model& model, Part part) {
    using Column = Eigen::Matrix<typename Vector::Scalar, Eigen::Dynamic, 1>;
    Eigen::Index offset = 0;
    for_each_parameter(model, [&](auto parameter) {
        auto& tensor = part(parameter);
        Eigen::Map<Column>(tensor.data(), tensor.size()) = flat.segment(offset, tensor.size());
        offset += tensor.size();
    });
}

// The parts gather() and scatter() move: a parameter's value, or its gradient.
struct Value {
    template <typename P>
    auto& operator()(P& parameter) const { return parameter.value; }
};
struct Gradient {
    template <typename P>
    auto& operator()(P& parameter) const { return parameter.gradient; }
};

template <typename Model, typename Vector>
void require_flat_size(const char* call, const Model& model, const Vector& flat) {
    if (flat.size() != parameter_count(model)) {
        fail(call, ": the vector has ", flat.size(), " values but the model has ",
             parameter_count(model), " parameters");
    }
}

}  // namespace detail

/// Every gradient of `model` (a layer or a Sequential) into `flat`, one after another in the
/// order of for_each_parameter, each tensor in its storage order: (parameter_count, 1). `flat`
/// is resized only if its size differs, so a reused vector allocates nothing.
///
/// Throws std::logic_error, writing nothing, if a layer with parameters has no gradients.
template <typename Model, typename Vector>
void gather_gradients(const Model& model, Vector& flat) {
    detail::require_gradients("gather_gradients", model);
    detail::gather(model, flat, detail::Gradient{});
}

/// The inverse of gather_gradients(): every gradient of `model` from `flat`. The model's layers
/// must already hold gradients (of a backward(), in the shapes `flat` was gathered from).
///
/// Throws std::invalid_argument if `flat` does not have parameter_count(model) values, or
/// std::logic_error if a layer has no gradients; either way changing nothing.
template <typename Vector, typename Model>
void scatter_gradients(const Vector& flat, Model& model) {
    detail::require_flat_size("scatter_gradients", model, flat);
    detail::require_gradients("scatter_gradients", model);
    detail::scatter(flat, model, detail::Gradient{});
}

/// Every parameter value of `model` into `flat`, in the order of gather_gradients(); `flat` is
/// resized only if its size differs.
template <typename Model, typename Vector>
void gather_parameters(const Model& model, Vector& flat) {
    detail::gather(model, flat, detail::Value{});
}

/// The inverse of gather_parameters(): every parameter value of `model` from `flat` (gradients
/// and optimiser state untouched). Throws std::invalid_argument, changing nothing, if `flat`
/// does not have parameter_count(model) values.
template <typename Vector, typename Model>
void scatter_parameters(const Vector& flat, Model& model) {
    detail::require_flat_size("scatter_parameters", model, flat);
    detail::scatter(flat, model, detail::Value{});
}

}  // namespace backprop
