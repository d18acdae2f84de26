#pragma once
/// \file
/// Saving and loading a model's parameters in a small binary format (docs/file_format.md).
///
/// Works for any model for which for_each_parameter is defined (nn/model.hpp): Dense, and
/// whatever visits its layers' parameters in order. All integers and values are little-endian,
/// whatever the machine:
///
///     offset  size  field
///     0       8     magic: the ASCII bytes "BACKPROP"
///     8       4     format version, uint32: 1
///     12      4     dtype, uint32: 1 = float32, 2 = float64 (0 = none: a model without tensors)
///     16      8     number of tensors T, uint64
///     24      16·T  the shape of each tensor in visiting order: rows, cols, two uint64
///     24+16·T       the values of each tensor in visiting order, row by row (row-major),
///                   IEEE-754 binary32 or binary64: 4 or 8 bytes each
///
/// Loading checks, in this order, the magic, the version, the dtype against the model's scalar
/// type, the number of tensors and each shape against the model, and that every value is there;
/// any mismatch throws std::runtime_error naming what was expected and what the file holds, and
/// leaves the model unchanged: the values are read into a scratch buffer first and copied into
/// the model only once the whole file has been read. A round trip is bit-exact (NaN payloads and
/// signed zeros included), and a file reads the same on any platform.

#include "../detail/shape.hpp"
#include "../nn/model.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

namespace backprop {

/// The format version that save_parameters writes and load_parameters reads.
inline constexpr std::uint32_t parameter_format_version = 1;

namespace detail {

inline constexpr char parameter_magic[8] = {'B', 'A', 'C', 'K', 'P', 'R', 'O', 'P'};
inline constexpr std::size_t parameter_header_bytes = 24;  // magic, version, dtype, count
inline constexpr std::size_t parameter_shape_bytes = 16;   // rows, cols

inline constexpr std::uint32_t dtype_none = 0;
inline constexpr std::uint32_t dtype_float32 = 1;
inline constexpr std::uint32_t dtype_float64 = 2;

template <typename Scalar>
constexpr std::uint32_t dtype_of() {
    static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                  "parameters are saved as float32 or float64 only");
    static_assert(std::numeric_limits<Scalar>::is_iec559, "the format stores IEEE-754 values");
    return std::is_same_v<Scalar, float> ? dtype_float32 : dtype_float64;
}

inline std::string dtype_name(std::uint32_t dtype) {
    switch (dtype) {
        case dtype_none: return "none (no tensors)";
        case dtype_float32: return "float32";
        case dtype_float64: return "float64";
        default: return "unknown (" + std::to_string(dtype) + ")";
    }
}

inline std::size_t dtype_bytes(std::uint32_t dtype) {
    return dtype == dtype_float32 ? 4 : dtype == dtype_float64 ? 8 : 0;
}

/// What a model holds: each tensor's name and shape, and the one dtype of them all.
struct ParameterLayout {
    struct Tensor {
        std::string name;
        std::uint64_t rows;
        std::uint64_t cols;
    };
    std::vector<Tensor> tensors;
    std::uint32_t dtype = dtype_none;
    std::size_t value_bytes = 0;  // the size of all the values in the file
};

/// The layout of `model`; throws std::invalid_argument (naming `call`) if its tensors do not all
/// have the same scalar type.
template <typename Model>
ParameterLayout parameter_layout(const Model& model, const char* call) {
    ParameterLayout layout;
    for_each_parameter(model, [&](const auto& parameter) {
        const char* name = parameter.name;
        const auto& tensor = parameter.value;
        using Scalar = typename std::decay_t<decltype(tensor)>::Scalar;
        constexpr std::uint32_t dtype = dtype_of<Scalar>();
        if (layout.dtype != dtype_none && layout.dtype != dtype) {
            fail(call, ": tensor ", layout.tensors.size(), " ('", name, "') is ",
                 dtype_name(dtype), " but the tensors before it are ", dtype_name(layout.dtype),
                 "; a file holds one dtype");
        }
        layout.dtype = dtype;
        layout.tensors.push_back({name, static_cast<std::uint64_t>(tensor.rows()),
                                  static_cast<std::uint64_t>(tensor.cols())});
        layout.value_bytes += static_cast<std::size_t>(tensor.size()) * sizeof(Scalar);
    });
    return layout;
}

/// Appends the `count` low bytes of `value`, least significant first.
inline void put_le(std::string& out, std::uint64_t value, int count) {
    for (int byte = 0; byte < count; ++byte) out.push_back(static_cast<char>(value >> (8 * byte)));
}

/// The unsigned integer whose `count` bytes start at `bytes`, least significant first.
inline std::uint64_t get_le(const unsigned char* bytes, int count) {
    std::uint64_t value = 0;
    for (int byte = count - 1; byte >= 0; --byte) value = (value << 8) | bytes[byte];
    return value;
}

/// Appends the bits of `value`, little-endian.
template <typename Scalar>
void put_value(std::string& out, Scalar value) {
    if constexpr (std::is_same_v<Scalar, float>) {
        std::uint32_t bits;
        std::memcpy(&bits, &value, sizeof bits);
        put_le(out, bits, 4);
    } else {
        std::uint64_t bits;
        std::memcpy(&bits, &value, sizeof bits);
        put_le(out, bits, 8);
    }
}

/// The value whose little-endian bits start at `bytes`.
template <typename Scalar>
Scalar get_value(const unsigned char* bytes) {
    Scalar value;
    if constexpr (std::is_same_v<Scalar, float>) {
        const auto bits = static_cast<std::uint32_t>(get_le(bytes, 4));
        std::memcpy(&value, &bits, sizeof value);
    } else {
        const std::uint64_t bits = get_le(bytes, 8);
        std::memcpy(&value, &bits, sizeof value);
    }
    return value;
}

/// Reads exactly `count` bytes into `buffer`, or throws std::runtime_error saying the file is
/// truncated where `what` was expected.
inline void read_exact(std::istream& in, const std::string& name, unsigned char* buffer,
                       std::size_t count, std::size_t offset, const std::string& what) {
    if (count == 0) return;
    in.read(reinterpret_cast<char*>(buffer), static_cast<std::streamsize>(count));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got != count) {
        throw std::runtime_error(name + ": truncated file: expected " + std::to_string(count) +
                                 " bytes of " + what + " at byte " + std::to_string(offset) +
                                 " but found " + std::to_string(got));
    }
}

/// Reads and checks a parameter file against `layout` and returns the bytes of its values
/// (not yet decoded). Throws std::runtime_error at the first mismatch.
inline std::vector<unsigned char> read_parameter_values(std::istream& in, const std::string& name,
                                                        const ParameterLayout& layout) {
    unsigned char header[parameter_header_bytes];
    read_exact(in, name, header, sizeof parameter_magic, 0, "magic");
    if (std::memcmp(header, parameter_magic, sizeof parameter_magic) != 0) {
        std::string found;
        for (std::size_t i = 0; i < sizeof parameter_magic; ++i) {
            const unsigned char c = header[i];
            if (c >= 0x20 && c < 0x7f) {
                found.push_back(static_cast<char>(c));
            } else {
                const char* hex = "0123456789abcdef";
                found += std::string("\\x") + hex[c >> 4] + hex[c & 15];
            }
        }
        throw std::runtime_error(name + ": not a backprop parameter file: the magic is '" +
                                 found + "' but should be 'BACKPROP'");
    }
    read_exact(in, name, header + 8, 16, 8, "version, dtype and tensor count");
    const auto version = static_cast<std::uint32_t>(get_le(header + 8, 4));
    if (version != parameter_format_version) {
        throw std::runtime_error(name + ": format version " + std::to_string(version) +
                                 ", but this library reads version " +
                                 std::to_string(parameter_format_version));
    }
    const auto dtype = static_cast<std::uint32_t>(get_le(header + 12, 4));
    if (dtype != layout.dtype) {
        throw std::runtime_error(name + ": the file's dtype is " + dtype_name(dtype) +
                                 " but the model's parameters are " + dtype_name(layout.dtype));
    }
    const std::uint64_t count = get_le(header + 16, 8);
    if (count != layout.tensors.size()) {
        throw std::runtime_error(name + ": the file holds " + std::to_string(count) +
                                 " tensors but the model has " +
                                 std::to_string(layout.tensors.size()));
    }

    std::size_t offset = parameter_header_bytes;
    for (std::size_t t = 0; t < layout.tensors.size(); ++t) {
        const auto& tensor = layout.tensors[t];
        unsigned char shape[parameter_shape_bytes];
        const std::string what = "tensor " + std::to_string(t) + " ('" + tensor.name + "')";
        read_exact(in, name, shape, sizeof shape, offset, "the shape of " + what);
        const std::uint64_t rows = get_le(shape, 8);
        const std::uint64_t cols = get_le(shape + 8, 8);
        if (rows != tensor.rows || cols != tensor.cols) {
            throw std::runtime_error(name + ": " + what + " is " + std::to_string(rows) + "x" +
                                     std::to_string(cols) + " in the file but " +
                                     std::to_string(tensor.rows) + "x" +
                                     std::to_string(tensor.cols) + " in the model");
        }
        offset += sizeof shape;
    }

    std::vector<unsigned char> values(layout.value_bytes);
    if (!values.empty()) {
        read_exact(in, name, values.data(), values.size(), offset,
                   "values (" + std::to_string(values.size() / dtype_bytes(dtype)) + " " +
                       dtype_name(dtype) + " values)");
    }
    return values;
}

/// Copies the decoded values into the model's tensors, in visiting order. Cannot fail: the
/// shapes were checked against the same layout.
template <typename Model>
void commit_parameter_values(Model& model, const std::vector<unsigned char>& values) {
    const unsigned char* next = values.data();
    for_each_parameter(model, [&next](const auto& parameter) {
        auto& tensor = parameter.value;
        using Scalar = typename std::decay_t<decltype(tensor)>::Scalar;
        for (Eigen::Index i = 0; i < tensor.rows(); ++i) {
            for (Eigen::Index j = 0; j < tensor.cols(); ++j) {
                tensor(i, j) = get_value<Scalar>(next);
                next += sizeof(Scalar);
            }
        }
    });
}

}  // namespace detail

/// Writes the parameters of `model` to `out` in the format of this file's comment.
///
/// Every tensor that for_each_parameter(model, …) visits is written with its shape, in visiting
/// order. Throws std::invalid_argument (before writing anything) if the tensors mix float and
/// double, std::runtime_error if the stream fails.
template <typename Model>
void save_parameters(std::ostream& out, const Model& model) {
    const auto layout = detail::parameter_layout(model, "save_parameters");
    std::string bytes(detail::parameter_magic, sizeof detail::parameter_magic);
    detail::put_le(bytes, parameter_format_version, 4);
    detail::put_le(bytes, layout.dtype, 4);
    detail::put_le(bytes, layout.tensors.size(), 8);
    for (const auto& tensor : layout.tensors) {
        detail::put_le(bytes, tensor.rows, 8);
        detail::put_le(bytes, tensor.cols, 8);
    }
    bytes.reserve(bytes.size() + layout.value_bytes);
    for_each_parameter(model, [&bytes](const auto& parameter) {
        const auto& tensor = parameter.value;
        for (Eigen::Index i = 0; i < tensor.rows(); ++i) {
            for (Eigen::Index j = 0; j < tensor.cols(); ++j) detail::put_value(bytes, tensor(i, j));
        }
    });
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
        throw std::runtime_error("save_parameters: writing " + std::to_string(bytes.size()) +
                                 " bytes to the stream failed");
    }
}

/// Writes the parameters of `model` to the file at `path` (see the stream overload).
///
/// The file is written beside `path` under a temporary name and then renamed over it, so an
/// existing file is replaced whole or not at all. Throws std::runtime_error if it cannot be
/// written.
template <typename Model>
void save_parameters(const std::string& path, const Model& model) {
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) {
            throw std::runtime_error(temporary + ": cannot open the file for writing");
        }
        try {
            save_parameters(out, model);
        } catch (...) {
            out.close();
            std::error_code ignored;
            std::filesystem::remove(temporary, ignored);
            throw;
        }
    }
    std::error_code error;
    std::filesystem::rename(temporary, path, error);
    if (error) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        throw std::runtime_error(path + ": cannot replace the file: " + error.message());
    }
}

/// Reads parameters written by save_parameters from `in` into `model`; `name` is the file name
/// that error messages start with.
///
/// Reads exactly the bytes that save_parameters wrote and leaves the stream after them. Throws
/// std::runtime_error, saying what was expected and what was found, if the magic, version,
/// dtype, tensor count or a shape differs from what `model` needs or the stream ends early;
/// std::invalid_argument if the model's tensors mix float and double. A call that throws leaves
/// `model` unchanged.
template <typename Model>
void load_parameters(std::istream& in, Model& model, const std::string& name = "<stream>") {
    const auto layout = detail::parameter_layout(model, "load_parameters");
    const auto values = detail::read_parameter_values(in, name, layout);
    detail::commit_parameter_values(model, values);
}

/// Reads parameters written by save_parameters from the file at `path` into `model`.
///
/// As the stream overload; in addition the file must end after the last value. Throws
/// std::runtime_error if it cannot be opened or is malformed; a call that throws leaves `model`
/// unchanged.
template <typename Model>
void load_parameters(const std::string& path, Model& model) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(path + ": cannot open the file for reading");
    }
    const auto layout = detail::parameter_layout(model, "load_parameters");
    const auto values = detail::read_parameter_values(in, path, layout);
    if (in.peek() != std::char_traits<char>::eof()) {
        const auto expected = static_cast<long long>(in.tellg());
        throw std::runtime_error(path + ": unexpected bytes after the last value: the file " +
                                 "should end after " + std::to_string(expected) + " bytes");
    }
    detail::commit_parameter_values(model, values);
}

}  // namespace backprop
