#pragma once
/// \file
/// Files of a model: its parameters (save_parameters, load_parameters), and training checkpoints
/// (save_checkpoint, load_checkpoint), which add the optimiser's state of every parameter and the
/// optimiser's settings. The format is in docs/file_format.md; in short, all integers and values
/// little-endian, whatever the machine:
///
///     header    magic "BACKPROP", format version (uint32: 2), dtype (uint32: 1 = float32,
///               2 = float64, 0 = no tensors), contents (uint32: 1 = parameters,
///               2 = checkpoint), number of layers (uint32)
///     layers    for each layer: its kind ("Dense"), its settings (name, float64 value: "in",
///               "out", LeakyReLU's "slope"), its tensors (name, rows, cols)
///     optimiser (checkpoints only) its kind (uint32, OptimizerKind) and settings ("lr", …)
///     values    every tensor's values in visiting order, row by row, binary32 or binary64
///     states    (checkpoints only) every parameter's OptimizerState: kind, steps, and the
///               moments that kind uses, each of the tensor's shape
///
/// A layer's tensors are its parameters (for_each_parameter), then its buffers when it has
/// for_each_buffer (BatchNorm's running_mean and running_var): state that is not trained by
/// gradients but that inference needs. Buffers are recorded and saved as parameters are, but have
/// no optimiser state; a model without buffers is written exactly as before they existed.
///
/// Version 1 files (parameters only: no kinds, no settings) still load with load_parameters.
///
/// Works for any model that for_each_layer() and for_each_parameter() accept (nn/model.hpp): a
/// layer or a Sequential. Every layer must name its `kind`. Loading checks the file against the
/// model (and, for a checkpoint, the optimiser) before changing anything: a mismatch throws
/// std::runtime_error naming the file, what it holds and what the model expects, and leaves model
/// and optimiser unchanged. A round trip is bit-exact (NaN payloads and signed zeros included).

#include "../detail/shape.hpp"
#include "../detail/text.hpp"
#include "../layers/parameter.hpp"
#include "../nn/model.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace backprop {

/// The format version that save_parameters and save_checkpoint write. load_parameters also reads
/// version 1.
inline constexpr std::uint32_t parameter_format_version = 2;

namespace detail {

inline constexpr char parameter_magic[8] = {'B', 'A', 'C', 'K', 'P', 'R', 'O', 'P'};

inline constexpr std::uint32_t dtype_none = 0;
inline constexpr std::uint32_t dtype_float32 = 1;
inline constexpr std::uint32_t dtype_float64 = 2;

/// What a version 2 file holds after its layers.
inline constexpr std::uint32_t contents_parameters = 1;  ///< values only
inline constexpr std::uint32_t contents_checkpoint = 2;  ///< optimiser, values, states

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

/// How many running averages (moments) a state written by `kind` holds.
inline int moments_of(OptimizerKind kind) {
    switch (kind) {
        case OptimizerKind::momentum:
        case OptimizerKind::nesterov: return 1;
        case OptimizerKind::adam:
        case OptimizerKind::adamw: return 2;
        default: return 0;
    }
}


/// The shortest decimal that reads back as `value` (as a float, when `value` is one: a float
/// model's slope of 0.2f reads "0.2", not "0.20000000298023224"), for messages.
inline std::string format_number(double value) {
    const auto fits_float = [](double x) {
        return std::isfinite(x) && std::fabs(x) <= std::numeric_limits<float>::max();
    };
    const bool is_float =
        fits_float(value) && static_cast<double>(static_cast<float>(value)) == value;
    char text[40];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(text, sizeof text, "%.*g", precision, value);
        const double back = std::strtod(text, nullptr);
        if (back == value ||
            (is_float && fits_float(back) && static_cast<float>(back) == static_cast<float>(value))) {
            break;
        }
    }
    return text;
}

/// A named number that a file records: a layer's setting ("slope") or an optimiser's ("lr").
struct Setting {
    std::string name;
    double value;
};

/// "LeakyReLU(slope=0.01)", "ReLU": a layer or optimiser as messages name it.
inline std::string describe(const std::string& kind, const std::vector<Setting>& settings) {
    std::string text = escape_bytes(kind);
    for (std::size_t s = 0; s < settings.size(); ++s) {
        text += (s == 0 ? "(" : ", ") + escape_bytes(settings[s].name) + "=" +
                format_number(settings[s].value);
    }
    return settings.empty() ? text : text + ")";
}

/// Whether two lists of settings have the same names and the same values, bit for bit.
inline bool same_settings(const std::vector<Setting>& a, const std::vector<Setting>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t s = 0; s < a.size(); ++s) {
        if (a[s].name != b[s].name ||
            std::memcmp(&a[s].value, &b[s].value, sizeof(double)) != 0) {
            return false;
        }
    }
    return true;
}

/// What a model holds, as a file records it: its layers, each with its kind, settings and
/// tensors, and the one dtype of all its tensors.
struct ModelLayout {
    struct Tensor {
        std::string name;
        std::uint64_t rows;
        std::uint64_t cols;
    };
    struct Layer {
        std::string kind;
        std::vector<Setting> settings;
        std::vector<Tensor> tensors;
    };
    std::vector<Layer> layers;
    std::uint32_t dtype = dtype_none;
    std::size_t tensor_count = 0;
    std::size_t value_bytes = 0;  // the size of all the values in the file
};

/// f(name, tensor) for every tensor of `layer` that a file holds: its parameters' values, then
/// its buffers. The tensors are const when `layer` is.
template <typename Layer, typename F>
void for_each_tensor(Layer& layer, F&& f) {
    using L = std::decay_t<Layer>;
    if constexpr (has_parameters_v<L>) {
        layer.for_each_parameter(
            [&f](const auto& parameter) { f(parameter.name, parameter.value); });
    }
    if constexpr (has_buffers<L>::value) {
        layer.for_each_buffer(f);
    }
}

/// f(name, tensor) for every tensor of every layer of `model`, in the order a file holds them.
template <typename Model, typename F>
void for_each_model_tensor(Model& model, F&& f) {
    for_each_layer(model, [&f](std::size_t, auto& layer) { for_each_tensor(layer, f); });
}

/// "layer 2 (Dense)", for messages.
inline std::string layer_name(std::size_t index, const std::string& kind) {
    return "layer " + std::to_string(index) + " (" + escape_bytes(kind) + ")";
}

/// The layout of `model`; throws std::invalid_argument (naming `call`) if its tensors do not all
/// have the same scalar type.
template <typename Model>
ModelLayout model_layout(const Model& model, const char* call) {
    ModelLayout layout;
    for_each_layer(model, [&](std::size_t, const auto& layer) {
        using Layer = std::decay_t<decltype(layer)>;
        ModelLayout::Layer record{Layer::kind, {}, {}};
        if constexpr (has_settings_v<Layer>) {
            layer.for_each_setting([&record](const char* name, double value) {
                record.settings.push_back({name, value});
            });
        }
        for_each_tensor(layer, [&](const char* name, const auto& tensor) {
            using Scalar = typename std::decay_t<decltype(tensor)>::Scalar;
            constexpr std::uint32_t dtype = dtype_of<Scalar>();
            if (layout.dtype != dtype_none && layout.dtype != dtype) {
                fail(call, ": tensor ", layout.tensor_count, " ('", name, "') is ",
                     dtype_name(dtype), " but the tensors before it are ",
                     dtype_name(layout.dtype), "; a file holds one dtype");
            }
            layout.dtype = dtype;
            record.tensors.push_back({name, static_cast<std::uint64_t>(tensor.rows()),
                                      static_cast<std::uint64_t>(tensor.cols())});
            ++layout.tensor_count;
            layout.value_bytes += static_cast<std::size_t>(tensor.size()) * sizeof(Scalar);
        });
        layout.layers.push_back(std::move(record));
    });
    return layout;
}

// ---------------------------------------------------------------------------------------------
// Writing

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

/// Appends a name: its length (one byte, so at most 255), then its bytes.
inline void put_name(std::string& out, const std::string& name) {
    if (name.size() > 255) {
        fail("save: the name '", escape_bytes(name), "' is ", name.size(),
             " bytes long; a file holds names of at most 255");
    }
    put_le(out, name.size(), 1);
    out += name;
}

/// Appends a list of settings: their number (uint32), then each name and float64 value.
inline void put_settings(std::string& out, const std::vector<Setting>& settings) {
    put_le(out, settings.size(), 4);
    for (const auto& setting : settings) {
        put_name(out, setting.name);
        put_value(out, setting.value);
    }
}

/// The header and the layers of a version 2 file.
inline std::string architecture_bytes(const ModelLayout& layout, std::uint32_t contents) {
    std::string out(parameter_magic, sizeof parameter_magic);
    put_le(out, parameter_format_version, 4);
    put_le(out, layout.dtype, 4);
    put_le(out, contents, 4);
    put_le(out, layout.layers.size(), 4);
    for (const auto& layer : layout.layers) {
        put_name(out, layer.kind);
        put_settings(out, layer.settings);
        put_le(out, layer.tensors.size(), 4);
        for (const auto& tensor : layer.tensors) {
            put_name(out, tensor.name);
            put_le(out, tensor.rows, 8);
            put_le(out, tensor.cols, 8);
        }
    }
    return out;
}

/// Appends the values of `tensor`, row by row.
template <typename Matrix>
void put_tensor(std::string& out, const Matrix& tensor) {
    for (Eigen::Index i = 0; i < tensor.rows(); ++i) {
        for (Eigen::Index j = 0; j < tensor.cols(); ++j) put_value(out, tensor(i, j));
    }
}

/// Sets the values of `tensor`, row by row, from the bytes at `next`; moves `next` past them.
template <typename Matrix>
void get_tensor(const unsigned char*& next, Matrix& tensor) {
    using Scalar = typename Matrix::Scalar;
    for (Eigen::Index i = 0; i < tensor.rows(); ++i) {
        for (Eigen::Index j = 0; j < tensor.cols(); ++j) {
            tensor(i, j) = get_value<Scalar>(next);
            next += sizeof(Scalar);
        }
    }
}

/// Writes `bytes` to `out`, or throws std::runtime_error naming `call`.
inline void write_all(std::ostream& out, const std::string& bytes, const char* call) {
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
        throw std::runtime_error(std::string(call) + ": writing " + std::to_string(bytes.size()) +
                                 " bytes to the stream failed");
    }
}

/// Calls save(stream) on `path`.tmp, then renames it over `path`: an existing file is replaced
/// whole or not at all. Throws std::runtime_error if the file cannot be written.
template <typename Save>
void save_file(const std::string& path, Save&& save) {
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) {
            throw std::runtime_error(temporary + ": cannot open the file for writing");
        }
        try {
            save(out);
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

// ---------------------------------------------------------------------------------------------
// Reading

/// Reads a file front to back, counting bytes for its messages, which all start with the file's
/// name. Every read throws std::runtime_error if the stream ends early.
class Reader {
public:
    Reader(std::istream& in, const std::string& name) : in_(in), name_(name) {}

    /// Exactly `count` bytes into `buffer`; `what` names them if they are missing.
    void bytes(unsigned char* buffer, std::size_t count, const std::string& what) {
        if (count == 0) return;
        in_.read(reinterpret_cast<char*>(buffer), static_cast<std::streamsize>(count));
        const auto got = static_cast<std::size_t>(in_.gcount());
        if (got != count) {
            fail("truncated file: expected " + std::to_string(count) + " bytes of " + what +
                 " at byte " + std::to_string(offset_) + " but found " + std::to_string(got));
        }
        offset_ += count;
    }

    /// An unsigned integer of `count` bytes (4 or 8).
    std::uint64_t integer(int count, const std::string& what) {
        unsigned char buffer[8];
        bytes(buffer, static_cast<std::size_t>(count), what);
        return get_le(buffer, count);
    }

    /// A float64.
    double number(const std::string& what) {
        unsigned char buffer[8];
        bytes(buffer, 8, what);
        return get_value<double>(buffer);
    }

    /// A name: one byte of length, then that many bytes.
    std::string name(const std::string& what) {
        unsigned char length = 0;
        bytes(&length, 1, "the length of " + what);
        std::string text(length, '\0');
        bytes(reinterpret_cast<unsigned char*>(text.data()), length, what);
        return text;
    }

    /// A list of settings, as put_settings wrote it. Each takes at least 9 bytes of the file, so
    /// what a corrupt count makes it hold is bounded by the file's size.
    std::vector<Setting> settings(const std::string& what) {
        const auto count = integer(4, "the number of settings of " + what);
        std::vector<Setting> settings;
        for (std::uint64_t s = 0; s < count; ++s) {
            const std::string setting = "setting " + std::to_string(s) + " of " + what;
            std::string name = this->name("the name of " + setting);
            const double value = number("the value of " + setting);
            settings.push_back({std::move(name), value});
        }
        return settings;
    }

    /// Throws std::runtime_error "<file name>: <message>".
    [[noreturn]] void fail(const std::string& message) const {
        throw std::runtime_error(name_ + ": " + message);
    }

    std::istream& stream() { return in_; }

private:
    std::istream& in_;
    const std::string& name_;
    std::size_t offset_ = 0;
};

/// The optimiser a checkpoint must have been written by, as load_checkpoint is given it.
struct ExpectedOptimizer {
    const char* name;               ///< "Adam", for messages
    OptimizerKind kind;             ///< optimizer.kind()
    std::vector<Setting> settings;  ///< optimizer.for_each_setting(), "lr" included
    bool (*accepts_lr)(double);     ///< whether set_lr() takes the value, cast to its Scalar
};

/// What the first phase of a load decoded from the file, none of it in the model yet.
struct Decoded {
    std::uint32_t version = 0;
    std::uint32_t contents = contents_parameters;
    std::vector<Setting> optimizer_settings;    ///< a checkpoint's, from the file
    std::vector<unsigned char> values;          ///< every tensor's values, still encoded
    std::vector<std::shared_ptr<void>> states;  ///< an OptimizerState<Matrix> per tensor
};

/// The magic; throws if it is not "BACKPROP".
inline void read_magic(Reader& in) {
    unsigned char magic[sizeof parameter_magic];
    in.bytes(magic, sizeof magic, "magic");
    if (std::memcmp(magic, parameter_magic, sizeof magic) != 0) {
        in.fail("not a backprop parameter file: the magic is '" +
                escape_bytes(std::string(reinterpret_cast<const char*>(magic), sizeof magic)) +
                "' but should be 'BACKPROP'");
    }
}

/// Version 1 after its version field: dtype, the number of tensors and their shapes, checked
/// against the model's.
inline void read_version_1(Reader& in, const ModelLayout& layout) {
    const auto dtype = static_cast<std::uint32_t>(in.integer(4, "dtype"));
    if (dtype != layout.dtype) {
        in.fail("the file's dtype is " + dtype_name(dtype) + " but the model's parameters are " +
                dtype_name(layout.dtype));
    }
    const std::uint64_t count = in.integer(8, "tensor count");
    if (count != layout.tensor_count) {
        in.fail("the file holds " + std::to_string(count) + " tensors but the model has " +
                std::to_string(layout.tensor_count));
    }
    std::size_t t = 0;
    for (const auto& layer : layout.layers) {
        for (const auto& tensor : layer.tensors) {
            const std::string what = "tensor " + std::to_string(t++) + " ('" + tensor.name + "')";
            const std::uint64_t rows = in.integer(8, "the shape of " + what);
            const std::uint64_t cols = in.integer(8, "the shape of " + what);
            if (rows != tensor.rows || cols != tensor.cols) {
                in.fail(what + " is " + std::to_string(rows) + "x" + std::to_string(cols) +
                        " in the file but " + std::to_string(tensor.rows) + "x" +
                        std::to_string(tensor.cols) + " in the model");
            }
        }
    }
}

/// Version 2 after its version field: dtype, contents, and every layer's kind, settings and
/// tensors, checked against the model's. Returns the contents.
inline std::uint32_t read_architecture(Reader& in, const ModelLayout& layout) {
    const auto dtype = static_cast<std::uint32_t>(in.integer(4, "dtype"));
    if (dtype != layout.dtype) {
        in.fail("the file's dtype is " + dtype_name(dtype) + " but the model's parameters are " +
                dtype_name(layout.dtype));
    }
    const auto contents = static_cast<std::uint32_t>(in.integer(4, "contents"));
    if (contents != contents_parameters && contents != contents_checkpoint) {
        in.fail("the contents code is " + std::to_string(contents) +
                " but should be 1 (parameters) or 2 (checkpoint)");
    }
    const std::uint64_t count = in.integer(4, "layer count");
    if (count != layout.layers.size()) {
        in.fail("the file holds " + std::to_string(count) + " layers but the model has " +
                std::to_string(layout.layers.size()));
    }
    for (std::size_t l = 0; l < layout.layers.size(); ++l) {
        const auto& layer = layout.layers[l];
        const std::string where = "layer " + std::to_string(l);
        const std::string kind = in.name("the kind of " + where);
        const auto settings = in.settings(where);
        if (kind != layer.kind || !same_settings(settings, layer.settings)) {
            in.fail(where + " is " + describe(kind, settings) + " in the file but " +
                    describe(layer.kind, layer.settings) + " in the model");
        }
        const std::string named = layer_name(l, layer.kind);
        const std::uint64_t tensors = in.integer(4, "the number of tensors of " + named);
        if (tensors != layer.tensors.size()) {
            in.fail(named + " has " + std::to_string(tensors) + " tensors in the file but " +
                    std::to_string(layer.tensors.size()) + " in the model");
        }
        for (std::size_t t = 0; t < layer.tensors.size(); ++t) {
            const auto& tensor = layer.tensors[t];
            const std::string name = in.name("the name of tensor " + std::to_string(t) + " of " +
                                             named);
            if (name != tensor.name) {
                in.fail(named + " tensor " + std::to_string(t) + " is '" + escape_bytes(name) +
                        "' in the file but '" + tensor.name + "' in the model");
            }
            const std::string what = named + " tensor '" + tensor.name + "'";
            const std::uint64_t rows = in.integer(8, "the shape of " + what);
            const std::uint64_t cols = in.integer(8, "the shape of " + what);
            if (rows != tensor.rows || cols != tensor.cols) {
                in.fail(what + " is " + std::to_string(rows) + "x" + std::to_string(cols) +
                        " in the file but " + std::to_string(tensor.rows) + "x" +
                        std::to_string(tensor.cols) + " in the model");
            }
        }
    }
    return contents;
}

/// A checkpoint's optimiser record, checked against `expected` when there is one: the same
/// kind, the same settings but "lr", and a learning rate that set_lr accepts exactly. Returns the file's
/// settings.
inline std::vector<Setting> read_optimizer(Reader& in, const ExpectedOptimizer* expected,
                                    OptimizerKind& kind) {
    const auto code = in.integer(4, "the optimiser kind");
    if (code < 1 || code > 5) {
        in.fail("the optimiser kind is " + std::to_string(code) +
                " but should be 1 to 5 (SGD, Momentum, Nesterov, Adam, AdamW)");
    }
    kind = static_cast<OptimizerKind>(code);
    auto settings = in.settings("the optimiser");
    if (expected == nullptr) return settings;

    if (kind != expected->kind) {
        in.fail("the file's optimiser is " + std::string(name_of(kind)) +
                " but the given optimiser is " + name_of(expected->kind));
    }
    const auto names = [](const std::vector<Setting>& list) {
        std::string text;
        for (const auto& setting : list) text += (text.empty() ? "" : ", ") + escape_bytes(setting.name);
        return "(" + text + ")";
    };
    bool same_names = settings.size() == expected->settings.size();
    for (std::size_t s = 0; same_names && s < settings.size(); ++s) {
        same_names = settings[s].name == expected->settings[s].name;
    }
    if (!same_names) {
        in.fail("the file's " + std::string(expected->name) + " has the settings " +
                names(settings) + " but the given one has " + names(expected->settings));
    }
    for (std::size_t s = 0; s < settings.size(); ++s) {
        const auto& file = settings[s];
        const auto& given = expected->settings[s];
        if (file.name == "lr") {
            if (!expected->accepts_lr(file.value)) {
                in.fail("the file's learning rate is " + format_number(file.value) +
                        " but must be finite and positive, and a value of the optimiser's scalar "
                        "type");
            }
        } else if (std::memcmp(&file.value, &given.value, sizeof(double)) != 0) {
            in.fail("the file's " + std::string(expected->name) + " has " + file.name + " = " +
                    format_number(file.value) + " but the given one has " + given.name + " = " +
                    format_number(given.value) +
                    " (a checkpoint restores the learning rate only: build the optimiser with "
                    "the settings it was saved with)");
        }
    }
    return settings;
}

/// Why a state of `kind` with `steps` cannot have been written by `optimizer`, or "" if it can.
inline std::string state_problem(OptimizerKind kind, std::int64_t steps, OptimizerKind optimizer) {
    if (kind == OptimizerKind::none) {
        return steps == 0 ? "" : "is fresh (kind 0) but counts " + std::to_string(steps) + " steps";
    }
    if (kind != optimizer) {
        const auto code = static_cast<std::uint32_t>(kind);
        return "holds the state of " +
               (code <= 5 ? std::string(name_of(kind)) : "unknown kind " + std::to_string(code)) +
               ", not of " + name_of(optimizer);
    }
    return steps >= 1 ? "" : "has the state of " + std::string(name_of(kind)) + " but counts " +
                                 std::to_string(steps) + " steps";
}

/// Every tensor's state from a checkpoint, each checked against the optimiser kind of the file;
/// decoded into a new OptimizerState of the tensor's own type when `keep`, else read and dropped.
template <typename Model>
std::vector<std::shared_ptr<void>> read_states(Reader& in, const Model& model,
                                               OptimizerKind optimizer, bool keep) {
    std::vector<std::shared_ptr<void>> states;
    std::vector<unsigned char> buffer;
    for_each_layer(model, [&](std::size_t index, const auto& layer) {
        using Layer = std::decay_t<decltype(layer)>;
        if constexpr (has_parameters_v<Layer>) {
            layer.for_each_parameter([&](const auto& parameter) {
                using Matrix = std::decay_t<decltype(parameter.value)>;
                using Scalar = typename Matrix::Scalar;
                const std::string what = "the optimiser state of " +
                                         layer_name(index, Layer::kind) + " tensor '" +
                                         parameter.name + "'";
                const auto code = static_cast<std::uint32_t>(in.integer(4, "the kind of " + what));
                const auto kind = static_cast<OptimizerKind>(code);
                const auto steps = static_cast<std::int64_t>(in.integer(8, "the steps of " + what));
                const std::string problem = state_problem(kind, steps, optimizer);
                if (!problem.empty()) in.fail(what + " " + problem);

                auto state = std::make_shared<OptimizerState<Matrix>>();
                state->kind = kind;
                state->steps = steps;
                Matrix* moments[] = {&state->moment1, &state->moment2};
                for (int m = 0; m < 2; ++m) {
                    if (m < moments_of(kind)) {
                        moments[m]->resize(parameter.value.rows(), parameter.value.cols());
                        buffer.resize(static_cast<std::size_t>(parameter.value.size()) *
                                      sizeof(Scalar));
                        in.bytes(buffer.data(), buffer.size(),
                                 "moment " + std::to_string(m + 1) + " of " + what);
                        const unsigned char* next = buffer.data();
                        get_tensor(next, *moments[m]);
                    } else if constexpr (Matrix::SizeAtCompileTime != Eigen::Dynamic) {
                        moments[m]->setZero();  // a fixed-size moment exists even when unused
                    }
                }
                if (keep) states.push_back(std::move(state));
            });
        }
    });
    return states;
}

/// The first phase of every load: reads the whole file and checks it against the model (and
/// the optimiser, when `expected` is given, for load_checkpoint), throwing std::runtime_error
/// at the first mismatch. Changes nothing: what it decodes is returned.
template <typename Model>
Decoded read_file(std::istream& stream, const std::string& name, const Model& model,
                  const char* call, const ExpectedOptimizer* expected) {
    const auto layout = model_layout(model, call);
    Reader in(stream, name);
    Decoded file;
    read_magic(in);
    file.version = static_cast<std::uint32_t>(in.integer(4, "format version"));
    if (file.version == 1) {
        if (expected != nullptr) {
            in.fail("a parameter file of version 1 holds no optimiser state: load it with "
                    "load_parameters, not load_checkpoint");
        }
        read_version_1(in, layout);
    } else if (file.version == 2) {
        file.contents = read_architecture(in, layout);
        if (expected != nullptr && file.contents != contents_checkpoint) {
            in.fail("a parameter file holds no optimiser state: load it with load_parameters, "
                    "not load_checkpoint");
        }
    } else {
        in.fail("format version " + std::to_string(file.version) +
                ", but this library reads versions 1 and 2");
    }

    OptimizerKind optimizer = OptimizerKind::none;
    if (file.contents == contents_checkpoint) {
        file.optimizer_settings = read_optimizer(in, expected, optimizer);
    }

    file.values.resize(layout.value_bytes);
    if (!file.values.empty()) {
        in.bytes(file.values.data(), file.values.size(),
                 "values (" + std::to_string(file.values.size() / dtype_bytes(layout.dtype)) +
                     " " + dtype_name(layout.dtype) + " values)");
    }
    if (file.contents == contents_checkpoint) {
        file.states = read_states(in, model, optimizer, expected != nullptr);
    }
    return file;
}

/// Throws std::runtime_error if `in`, a whole file read up to the end of its format, has more.
inline void require_end(std::istream& in, const std::string& name) {
    if (in.peek() != std::char_traits<char>::eof()) {
        const auto end = static_cast<long long>(in.tellg());
        throw std::runtime_error(name + ": unexpected bytes after the last value: the file " +
                                 "should end after " + std::to_string(end) + " bytes");
    }
}

/// read_file on the file at `path`, which must also end where the format does.
template <typename Model>
Decoded read_path(const std::string& path, const Model& model, const char* call,
                  const ExpectedOptimizer* expected) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(path + ": cannot open the file for reading");
    }
    Decoded file = read_file(in, path, model, call, expected);
    require_end(in, path);
    return file;
}

/// The second phase: copies the decoded values into the model's tensors (parameters and
/// buffers), in visiting order. Cannot fail: the shapes were checked against the same layout,
/// so nothing is allocated.
template <typename Model>
void commit_values(Model& model, const Decoded& file) {
    const unsigned char* next = file.values.data();
    for_each_model_tensor(model, [&next](const char*, auto& tensor) { get_tensor(next, tensor); });
}

/// The second phase of a checkpoint: swaps each decoded state into its tensor's. Cannot fail:
/// each state was built as the type of the same tensor, visited in the same order.
template <typename Model>
void commit_states(Model& model, Decoded& file) {
    std::size_t t = 0;
    for_each_parameter(model, [&](const auto& parameter) {
        using Matrix = std::decay_t<decltype(parameter.value)>;
        auto& decoded = *static_cast<OptimizerState<Matrix>*>(file.states[t++].get());
        parameter.state.kind = decoded.kind;
        parameter.state.steps = decoded.steps;
        parameter.state.moment1.swap(decoded.moment1);
        parameter.state.moment2.swap(decoded.moment2);
    });
}

/// The optimiser as load_checkpoint checks a file against it.
template <typename Optimizer>
ExpectedOptimizer expected_optimizer(const Optimizer& optimizer) {
    using Scalar = std::decay_t<decltype(optimizer.lr())>;
    const auto accepts_lr = [](double lr) {  // what set_lr takes, and no rounding on the way
        return std::isfinite(lr) && lr > 0 && lr <= std::numeric_limits<Scalar>::max() &&
               static_cast<double>(static_cast<Scalar>(lr)) == lr;
    };
    ExpectedOptimizer expected{Optimizer::name, optimizer.kind(), {}, accepts_lr};
    optimizer.for_each_setting(
        [&expected](const char* name, double value) { expected.settings.push_back({name, value}); });
    return expected;
}

/// The second phase of load_checkpoint: the model's values and states, and the learning rate.
template <typename Model, typename Optimizer>
void commit_checkpoint(Model& model, Optimizer& optimizer, Decoded& file) {
    using Scalar = std::decay_t<decltype(optimizer.lr())>;
    for (const auto& setting : file.optimizer_settings) {
        if (setting.name == "lr") {
            optimizer.set_lr(static_cast<Scalar>(setting.value));  // read_optimizer checked it
        }
    }
    commit_values(model, file);
    commit_states(model, file);
}

/// The bytes of a checkpoint of `model` stepped by `optimizer`. Throws std::invalid_argument if a
/// parameter's state was written by another optimiser or does not fit its tensor.
template <typename Model, typename Optimizer>
std::string checkpoint_bytes(const Model& model, const Optimizer& optimizer) {
    const auto layout = model_layout(model, "save_checkpoint");
    const auto expected = expected_optimizer(optimizer);
    std::string out = architecture_bytes(layout, contents_checkpoint);
    put_le(out, static_cast<std::uint32_t>(expected.kind), 4);
    put_settings(out, expected.settings);
    out.reserve(out.size() + 3 * layout.value_bytes + 12 * layout.tensor_count);
    for_each_model_tensor(model,
                          [&out](const char*, const auto& tensor) { put_tensor(out, tensor); });
    for_each_layer(model, [&](std::size_t index, const auto& layer) {
        using Layer = std::decay_t<decltype(layer)>;
        if constexpr (has_parameters_v<Layer>) {
            layer.for_each_parameter([&](const auto& parameter) {
                const auto& state = parameter.state;
                const auto what = [&] {
                    return "save_checkpoint: " + layer_name(index, Layer::kind) + " tensor '" +
                           parameter.name + "'";
                };
                const std::string problem = state_problem(state.kind, state.steps, expected.kind);
                if (!problem.empty()) {
                    fail(what(), " ", problem, ": save it with the optimiser that stepped it");
                }
                put_le(out, static_cast<std::uint32_t>(state.kind), 4);
                put_le(out, static_cast<std::uint64_t>(state.steps), 8);
                using Matrix = std::decay_t<decltype(state.moment1)>;
                const Matrix* moments[] = {&state.moment1, &state.moment2};
                int m = 0;
                for (const auto* moment : moments) {
                    if (m++ >= moments_of(state.kind)) break;
                    if (moment->rows() != parameter.value.rows() ||
                        moment->cols() != parameter.value.cols()) {
                        fail(what(), " is ", dims(parameter.value), " but moment ", m,
                             " of its state is ", dims(*moment));
                    }
                    put_tensor(out, *moment);
                }
            });
        }
    });
    return out;
}

}  // namespace detail

/// Writes the parameters of `model` (a layer or a Sequential) to `out`, in version 2 of the
/// format (docs/file_format.md): every layer's kind and settings, every tensor's name and shape,
/// then every tensor's values in visiting order. A layer's tensors are its parameters, then its
/// buffers (BatchNorm's running statistics), so that a loaded model predicts as the saved one.
///
/// Throws std::invalid_argument (before writing anything) if the tensors mix float and double,
/// std::runtime_error if the stream fails.
template <typename Model>
void save_parameters(std::ostream& out, const Model& model) {
    const auto layout = detail::model_layout(model, "save_parameters");
    std::string bytes = detail::architecture_bytes(layout, detail::contents_parameters);
    bytes.reserve(bytes.size() + layout.value_bytes);
    detail::for_each_model_tensor(
        model, [&bytes](const char*, const auto& tensor) { detail::put_tensor(bytes, tensor); });
    detail::write_all(out, bytes, "save_parameters");
}

/// Writes the parameters of `model` to the file at `path` (see the stream overload).
///
/// The file is written beside `path` under a temporary name and then renamed over it, so an
/// existing file is replaced whole or not at all. Throws std::runtime_error if it cannot be
/// written.
template <typename Model>
void save_parameters(const std::string& path, const Model& model) {
    detail::save_file(path, [&model](std::ostream& out) { save_parameters(out, model); });
}

/// Reads parameters written by save_parameters (version 2 or 1), or the parameters of a
/// checkpoint written by save_checkpoint, from `in` into `model`; `name` is the file name that
/// error messages start with.
///
/// Reads exactly the bytes that were written (a checkpoint's optimiser state is read, checked and
/// dropped) and leaves the stream after them. Throws std::runtime_error, saying what was expected
/// and what was found, if the magic, version, dtype, a layer's kind or settings (version 2), the
/// number of tensors or a shape differs from what `model` needs, or the stream ends early;
/// std::invalid_argument if the model's tensors mix float and double. A call that throws leaves
/// `model` unchanged: the whole file is read before the first value is copied into the model.
template <typename Model>
void load_parameters(std::istream& in, Model& model, const std::string& name = "<stream>") {
    const auto file = detail::read_file(in, name, model, "load_parameters", nullptr);
    detail::commit_values(model, file);
}

/// Reads parameters from the file at `path` into `model`.
///
/// As the stream overload; in addition the file must end after its last byte. Throws
/// std::runtime_error if it cannot be opened or is malformed; a call that throws leaves `model`
/// unchanged.
template <typename Model>
void load_parameters(const std::string& path, Model& model) {
    const auto file = detail::read_path(path, model, "load_parameters", nullptr);
    detail::commit_values(model, file);
}

/// Writes a checkpoint of training to `out`: what save_parameters writes, plus the optimiser's
/// kind and settings (learning rate, betas, ε, momentum, Nesterov, weight decay: its
/// for_each_setting()) and every parameter's OptimizerState (kind, step count, and the moments
/// that kind uses). Training resumed from it with load_checkpoint is bit-identical to training
/// that never stopped.
///
/// Throws std::invalid_argument (before writing anything) if the tensors mix float and double,
/// or a parameter's state was written by another kind of optimiser than `optimizer` (or does not
/// fit its tensor); std::runtime_error if the stream fails.
template <typename Model, typename Optimizer>
void save_checkpoint(std::ostream& out, const Model& model, const Optimizer& optimizer) {
    detail::write_all(out, detail::checkpoint_bytes(model, optimizer), "save_checkpoint");
}

/// Writes a checkpoint to the file at `path`, replacing an existing file whole or not at all
/// (see save_parameters).
template <typename Model, typename Optimizer>
void save_checkpoint(const std::string& path, const Model& model, const Optimizer& optimizer) {
    detail::save_file(path,
                      [&](std::ostream& out) { save_checkpoint(out, model, optimizer); });
}

/// Resumes training from a checkpoint written by save_checkpoint: sets the parameters and every
/// parameter's optimiser state of `model`, and the learning rate of `optimizer` (a schedule may
/// have changed it with set_lr).
///
/// `model` must have the architecture the file records, as for load_parameters, and `optimizer`
/// the kind (Nesterov and classical momentum differ) and every setting but the learning rate
/// that the file records: a checkpoint continues a run, it does not change its
/// hyper-parameters. Throws std::runtime_error naming the file's value and the given one
/// otherwise, and for a parameter file (which holds no optimiser state) or a malformed or
/// truncated file. A call that throws changes neither `model` nor `optimizer`.
template <typename Model, typename Optimizer>
void load_checkpoint(std::istream& in, Model& model, Optimizer& optimizer,
                     const std::string& name = "<stream>") {
    const auto expected = detail::expected_optimizer(optimizer);
    auto file = detail::read_file(in, name, model, "load_checkpoint", &expected);
    detail::commit_checkpoint(model, optimizer, file);
}

/// Resumes training from the checkpoint file at `path` (see the stream overload); the file must
/// also end after its last byte.
template <typename Model, typename Optimizer>
void load_checkpoint(const std::string& path, Model& model, Optimizer& optimizer) {
    const auto expected = detail::expected_optimizer(optimizer);
    auto file = detail::read_path(path, model, "load_checkpoint", &expected);
    detail::commit_checkpoint(model, optimizer, file);
}

}  // namespace backprop
