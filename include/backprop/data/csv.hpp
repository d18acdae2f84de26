#pragma once
/// \file
/// Loading a numeric CSV file of labelled samples, and a seeded train/test split.
///
/// The format read: one sample per line, fields separated by commas, every field but the last a
/// number (the features), the last a non-negative integer (the class label). Spaces and tabs
/// around a field, a trailing carriage return (Windows line ends) and blank lines are ignored.
/// Numbers are read with std::from_chars (locale-independent, correctly rounded to Scalar):
/// `-1.5`, `2e-3`, `7` are numbers; a leading `+`, quotes, `nan`, `inf` and numbers beyond the
/// largest Scalar are not accepted; numbers too small for Scalar become 0 (with their sign).
///
/// Errors in the file throw std::runtime_error whose message starts with
/// `<name>:<line>:<column>: ` (1-based; the column counts characters and points at the field),
/// then says what was expected and what was found, e.g.
/// `digits.csv:12:17: field 5 is 'abc', which is not a number`.

#include "../detail/random.hpp"
#include "../detail/shape.hpp"

#include <Eigen/Core>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <istream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace backprop {

/// Samples with integer class labels; rows are samples.
template <typename Scalar>
struct LabeledData {
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> X;  ///< the features: (n, features)
    Eigen::VectorXi labels;                                    ///< the class of each row: (n)
    std::vector<std::string> header;  ///< the header line's fields, or empty without a header

    Eigen::Index size() const { return X.rows(); }  ///< Number of samples n.

    /// The number of classes the labels imply: 1 + the largest label (0 when there is no sample).
    int classes() const { return labels.size() == 0 ? 0 : labels.maxCoeff() + 1; }
};

/// Whether a CSV file starts with a header line.
enum class CsvHeader {
    detect,   ///< the first non-blank line is a header if any of its fields is not a number
    present,  ///< the first non-blank line is a header, whatever it holds
    absent    ///< every non-blank line is a sample
};

namespace detail {

/// The text of a field with the spaces and tabs around it removed, and where it starts.
struct CsvField {
    std::string_view text;
    std::size_t column;  // 1-based position of the field's first character (after trimming)
};

inline std::vector<CsvField> split_csv_line(std::string_view line) {
    std::vector<CsvField> fields;
    std::size_t start = 0;
    while (true) {
        const std::size_t comma = line.find(',', start);
        const std::size_t end = comma == std::string_view::npos ? line.size() : comma;
        std::size_t first = start;
        std::size_t last = end;
        while (first < last && (line[first] == ' ' || line[first] == '\t')) ++first;
        while (last > first && (line[last - 1] == ' ' || line[last - 1] == '\t')) --last;
        fields.push_back({line.substr(first, last - first), first + 1});
        if (comma == std::string_view::npos) return fields;
        start = comma + 1;
    }
}

/// Parses the whole of `text` as a finite Scalar; false if it is not one.
template <typename Scalar>
bool parse_number(std::string_view text, Scalar& value) {
    const char* end = text.data() + text.size();
    const auto result = std::from_chars(text.data(), end, value);
    if (result.ptr != end || text.empty()) return false;
    if (result.ec == std::errc::result_out_of_range) {
        // from_chars reports a number too small for Scalar (1e-50 as float) as out of range, like
        // one too large. Keep the small ones, rounded to (signed) zero as a cast would: only
        // magnitudes beyond Scalar's largest are errors.
        long double wide = 0;
        const auto retry = std::from_chars(text.data(), end, wide);
        if (retry.ec != std::errc() || retry.ptr != end ||
            !(std::fabs(wide) <= static_cast<long double>(std::numeric_limits<Scalar>::max()))) {
            return false;
        }
        value = static_cast<Scalar>(wide);
        return true;
    }
    return result.ec == std::errc() && std::isfinite(value);
}

/// Parses the whole of `text` as a non-negative int; false if it is not one.
inline bool parse_label(std::string_view text, int& value) {
    const char* end = text.data() + text.size();
    const auto result = std::from_chars(text.data(), end, value);
    return result.ec == std::errc() && result.ptr == end && value >= 0;
}

template <typename... Parts>
[[noreturn]] void csv_fail(const std::string& name, std::size_t line, std::size_t column,
                           const Parts&... parts) {
    std::ostringstream message;
    message << name << ':' << line << ':' << column << ": ";
    (message << ... << parts);
    throw std::runtime_error(message.str());
}

}  // namespace detail

/// Reads labelled samples from a CSV stream (format in this file's comment); `name` is the file
/// name that error messages start with.
///
/// → X is (n, features) and labels is (n), n the number of non-blank lines after the header.
/// Throws std::runtime_error, naming `name`, the line and the column, if a row has another number
/// of fields than the first row, fewer than two fields, a feature that is not a finite number or a
/// label that is not a non-negative int, or if there is no sample at all.
template <typename Scalar>
LabeledData<Scalar> load_csv(std::istream& in, const std::string& name = "<stream>",
                             CsvHeader header = CsvHeader::detect) {
    static_assert(std::is_floating_point_v<Scalar>, "load_csv needs a floating-point Scalar");
    LabeledData<Scalar> data;
    std::vector<Scalar> values;  // row by row
    std::vector<int> labels;
    std::size_t fields_per_row = 0;
    std::size_t first_row_line = 0;
    bool first_line = true;
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        const auto fields = detail::split_csv_line(line);

        if (first_line) {
            first_line = false;
            bool is_header = header == CsvHeader::present;
            if (header == CsvHeader::detect) {
                Scalar ignored{};
                for (const auto& field : fields) {
                    is_header = is_header || !detail::parse_number(field.text, ignored);
                }
            }
            if (is_header) {
                for (const auto& field : fields) data.header.emplace_back(field.text);
                continue;
            }
        }

        if (fields_per_row == 0) {
            if (fields.size() < 2) {
                detail::csv_fail(name, number, line.size() + 1, "the row has 1 field, but a ",
                                 "sample needs at least one feature and a label");
            }
            fields_per_row = fields.size();
            first_row_line = number;
        } else if (fields.size() != fields_per_row) {
            const std::size_t column = fields.size() > fields_per_row
                                           ? fields[fields_per_row].column
                                           : line.size() + 1;
            detail::csv_fail(name, number, column, "the row has ", fields.size(),
                             " fields but the first row (line ", first_row_line, ") has ",
                             fields_per_row);
        }

        for (std::size_t i = 0; i + 1 < fields.size(); ++i) {
            Scalar value{};
            if (!detail::parse_number(fields[i].text, value)) {
                detail::csv_fail(name, number, fields[i].column, "field ", i + 1, " is '",
                                 fields[i].text, "', which is not a finite number");
            }
            values.push_back(value);
        }
        int label = 0;
        if (!detail::parse_label(fields.back().text, label)) {
            detail::csv_fail(name, number, fields.back().column, "the label (field ",
                             fields.size(), ") is '", fields.back().text,
                             "', which is not a non-negative integer");
        }
        labels.push_back(label);
    }
    if (in.bad()) {
        throw std::runtime_error(name + ": reading failed");
    }
    if (labels.empty()) {
        throw std::runtime_error(name + ": no samples (expected rows of numbers with the " +
                                 "integer class label last)");
    }

    const auto n = static_cast<Eigen::Index>(labels.size());
    const auto features = static_cast<Eigen::Index>(fields_per_row - 1);
    data.X = Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic,
                                            Eigen::RowMajor>>(values.data(), n, features);
    data.labels = Eigen::Map<const Eigen::VectorXi>(labels.data(), n);
    return data;
}

/// Reads labelled samples from the CSV file at `path` (format in this file's comment).
///
/// → X is (n, features) and labels is (n). Throws std::runtime_error if the file cannot be opened,
/// and as the stream overload, with `path` as the name, if its content is malformed.
template <typename Scalar>
LabeledData<Scalar> load_csv(const std::string& path, CsvHeader header = CsvHeader::detect) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(path + ": cannot open the file for reading");
    }
    return load_csv<Scalar>(in, path, header);
}

/// A training set and a test set.
template <typename Scalar>
struct TrainTestSplit {
    LabeledData<Scalar> train;  ///< (n − n_test) samples
    LabeledData<Scalar> test;   ///< n_test = ⌈test_fraction·n⌉ samples
};

/// Splits the samples at random, the same way for the same seed on every platform.
///
/// The rows are shuffled by a Fisher–Yates permutation drawn from detail::SplitMix64(seed); the
/// first n_test = ⌈test_fraction·n⌉ shuffled rows form the test set, the rest the training set,
/// both in shuffled order. X (n, features) → train.X (n − n_test, features),
/// test.X (n_test, features); the labels follow their rows, the header is copied to both.
/// Throws std::invalid_argument unless 0 < test_fraction < 1 and both sets are non-empty.
template <typename Scalar>
TrainTestSplit<Scalar> train_test_split(const LabeledData<Scalar>& data, double test_fraction,
                                        std::uint64_t seed) {
    const Eigen::Index n = data.X.rows();
    if (data.labels.size() != n) {
        detail::fail("train_test_split: X is ", detail::dims(data.X), " but labels has ",
                     data.labels.size(), " entries");
    }
    const double wanted = std::ceil(test_fraction * static_cast<double>(n));
    if (!(test_fraction > 0 && test_fraction < 1) || wanted < 1 || wanted >= double(n)) {
        detail::fail("train_test_split: test_fraction is ", test_fraction, " of ", n,
                     " samples but both sets must be non-empty");
    }
    const auto n_test = static_cast<Eigen::Index>(wanted);

    std::vector<Eigen::Index> order(static_cast<std::size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
    detail::SplitMix64 rng(seed);
    for (std::size_t i = order.size() - 1; i > 0; --i) {
        // j uniform in [0, i]; the modulo's bias is below 2⁻⁴⁰ for any realistic n.
        const auto j = static_cast<std::size_t>(rng.next() % (i + 1));
        std::swap(order[i], order[j]);
    }

    TrainTestSplit<Scalar> split;
    const auto take = [&](LabeledData<Scalar>& part, std::size_t from, Eigen::Index count) {
        part.X.resize(count, data.X.cols());
        part.labels.resize(count);
        for (Eigen::Index r = 0; r < count; ++r) {
            const Eigen::Index source = order[from + static_cast<std::size_t>(r)];
            part.X.row(r) = data.X.row(source);
            part.labels(r) = data.labels(source);
        }
        part.header = data.header;
    };
    take(split.test, 0, n_test);
    take(split.train, static_cast<std::size_t>(n_test), n - n_test);
    return split;
}

}  // namespace backprop
