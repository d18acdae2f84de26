#pragma once
/// \file
/// Loading a numeric CSV file of labelled samples, and a seeded train/test split.
///
/// The format read: one sample per line, fields separated by commas, every field but the last a
/// number (the features), the last a non-negative integer (the class label, at most
/// csv_max_label). Spaces and tabs around a field, a trailing carriage return (Windows line ends),
/// blank lines and a UTF-8 byte order mark at the start of the file are ignored. A line has at most
/// csv_max_fields fields, a header at most csv_max_header_fields.
///
/// Numbers are decimal: `[+|-] digits [. [digits]] [e|E [+|-] digits]`, or with no digit before
/// the point (`.5`). `-1.5`, `+2e-3`, `7` are numbers; quotes, `nan`, `inf`, hexadecimal and
/// numbers beyond the largest Scalar are not accepted; numbers too small for Scalar become their
/// subnormal or 0 (with their sign). They are read by detail::parse_decimal: locale-independent,
/// correctly rounded to Scalar (not through double), with the same code on libstdc++ and libc++
/// (whose version 14 has no floating-point std::from_chars); see parse_decimal for why this way.
/// Its cost, measured on data/digits.csv (1,797 × 65 fields, g++ -O2, libstdc++): 3.7 ms as float
/// and 11 ms as double, against 2.2 and 11 ms with std::from_chars.
///
/// The header: CsvHeader::detect takes the first non-blank line for a header only if none of its
/// fields is a number by the grammar above (whatever its magnitude), for a sample if all are, and
/// throws if it mixes the two (a typo such as `O.2` in the first sample, or a trailing comma), so
/// that no sample is ever dropped silently.
///
/// Errors in the file throw std::runtime_error whose message starts with
/// `<name>:<line>:<column>: ` (1-based; the column counts bytes after any byte order mark and
/// points at the field), then says what was expected and what was found, e.g.
/// ``digits.csv:12:17: field 5 is 'abc', which is not a finite number``. Bytes of the
/// file are shown escaped (every byte but printable ASCII as a backslash, `x` and two hex
/// digits), and at most 40 of a field.

#include "../detail/random.hpp"
#include "../detail/shape.hpp"
#include "../detail/text.hpp"

#include <Eigen/Core>

#include <algorithm>
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
#include <type_traits>
#include <utility>
#include <vector>

namespace backprop {

/// The largest class label load_csv accepts: 2²⁴ − 1, so that classes() (at most 2²⁴) fits in an
/// int with room to spare and every label is exact in a float.
inline constexpr int csv_max_label = (1 << 24) - 1;

/// The most fields a line of a CSV file may have: a bound on what one line can make load_csv
/// allocate, whatever its length.
inline constexpr std::size_t csv_max_fields = 1'000'000;

/// The most fields a header line may have. A header's fields are kept as std::string, 24 or 32
/// bytes each before any text, so a line of commas would cost 32 times its size; with this cap
/// the strings take at most 2 MiB besides the text of the names longer than 15 bytes (at most
/// twice their size).
/// A sample's fields cost no more than their text: a Scalar each, from at least two bytes.
inline constexpr std::size_t csv_max_header_fields = 65'536;

/// Samples with integer class labels; rows are samples.
template <typename Scalar>
struct LabeledData {
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> X;  ///< the features: (n, features)
    Eigen::VectorXi labels;                                    ///< the class of each row: (n)
    std::vector<std::string> header;  ///< the header line's fields, or empty without a header

    Eigen::Index size() const { return X.rows(); }  ///< Number of samples n.

    /// The number of classes the labels imply: 1 + the largest label (0 when there is no sample).
    /// Throws std::overflow_error if the largest label is the largest int (load_csv never makes
    /// such a label: it accepts at most csv_max_label).
    int classes() const {
        if (labels.size() == 0) return 0;
        const int largest = labels.maxCoeff();
        if (largest == std::numeric_limits<int>::max()) {
            throw std::overflow_error("LabeledData::classes: the largest label is " +
                                      std::to_string(largest) +
                                      ", so the number of classes does not fit in an int");
        }
        return largest + 1;
    }
};

/// Whether a CSV file starts with a header line.
enum class CsvHeader {
    detect,   ///< the first non-blank line is a header if none of its fields is a number, a
              ///< sample if all are; a line that mixes them is an error
    present,  ///< the first non-blank line is a header, whatever it holds
    absent    ///< every non-blank line is a sample
};

namespace detail {

/// One field of a line: its text with the spaces and tabs around it removed, where it starts, and
/// where the next field starts (npos after the last one).
struct CsvField {
    std::string_view text;
    std::size_t column;  // 1-based position of the field's first character (after trimming)
    std::size_t next;    // index in the line just after the field's comma, or npos
};

/// The field of `line` that starts at index `start`; fields are read one at a time, so that a
/// line costs no memory beyond its own.
inline CsvField csv_field_at(std::string_view line, std::size_t start) {
    const std::size_t comma = line.find(',', start);
    const std::size_t end = comma == std::string_view::npos ? line.size() : comma;
    std::size_t first = start;
    std::size_t last = end;
    while (first < last && (line[first] == ' ' || line[first] == '\t')) ++first;
    while (last > first && (line[last - 1] == ' ' || line[last - 1] == '\t')) --last;
    return {line.substr(first, last - first), first + 1,
            comma == std::string_view::npos ? comma : comma + 1};
}

/// The index in `line` where field `index` (0-based) starts: just after comma number `index`.
/// The line has more than `index` fields.
inline std::size_t csv_field_start(std::string_view line, std::size_t index) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < index; ++i) start = line.find(',', start) + 1;
    return start;
}

/// The name of a Scalar in messages.
template <typename Scalar>
const char* scalar_name() {
    if constexpr (std::is_same_v<Scalar, float>) return "float";
    if constexpr (std::is_same_v<Scalar, double>) return "double";
    return "long double";
}

/// The outcome of parse_label.
enum class LabelParse {
    ok,
    malformed,  ///< not an integer, or negative
    too_large   ///< an integer above csv_max_label
};

/// Reads the whole of `text`, `[+|-] digits`, as a label in [0, csv_max_label]. The digits are
/// accumulated in 64 bits, saturating, so that no arithmetic overflows whatever their number.
inline LabelParse parse_label(std::string_view text, int& value) {
    std::size_t i = 0;
    const bool negative = !text.empty() && text[0] == '-';
    if (!text.empty() && (text[0] == '+' || text[0] == '-')) ++i;
    if (i == text.size()) return LabelParse::malformed;
    std::uint64_t magnitude = 0;
    for (; i < text.size(); ++i) {
        if (text[i] < '0' || text[i] > '9') return LabelParse::malformed;
        magnitude = std::min<std::uint64_t>(magnitude * 10 + std::uint64_t(text[i] - '0'),
                                            std::uint64_t(1) << 40);
    }
    if (negative && magnitude != 0) return LabelParse::malformed;  // "-0" is 0
    if (magnitude > std::uint64_t(csv_max_label)) return LabelParse::too_large;
    value = static_cast<int>(magnitude);
    return LabelParse::ok;
}

/// A field of the file as an error message shows it: quoted, escaped and truncated.
inline std::string quoted(std::string_view text) { return "'" + escape_bytes(text) + "'"; }

template <typename... Parts>
[[noreturn]] void csv_fail(const std::string& name, std::size_t line, std::size_t column,
                           const Parts&... parts) {
    std::ostringstream message;
    message << name << ':' << line << ':' << column << ": ";
    (message << ... << parts);
    throw std::runtime_error(message.str());
}


/// CsvHeader::detect's decision on the first non-blank line, line number `line_number`: a header
/// if none of its fields is a number (is_decimal_number, whatever the magnitude), a sample if all
/// are. Throws std::runtime_error, naming the first field that is not a number, if it mixes them:
/// that is a sample with a typo or a stray comma far more often than a header.
inline bool csv_is_header(std::string_view line, const std::string& name, std::size_t line_number) {
    std::size_t number = 0, other = 0;  // 1-based index of the first of each kind, 0 if none
    CsvField number_field{}, other_field{};
    std::size_t index = 1;
    for (std::size_t at = 0; at != std::string_view::npos; ++index) {
        const auto field = csv_field_at(line, at);
        at = field.next;
        if (is_decimal_number(field.text)) {
            if (number == 0) {
                number = index;
                number_field = field;
            }
        } else if (other == 0) {
            other = index;
            other_field = field;
        }
    }
    if (number != 0 && other != 0) {
        csv_fail(name, line_number, other_field.column, "field ", other, " is ",
                 quoted(other_field.text), ", which is not a number, but field ", number, " is ",
                 quoted(number_field.text), ": a header has no number and a sample only numbers "
                 "(pass CsvHeader::present if this line is a header)");
    }
    return number == 0;
}

}  // namespace detail

/// Reads labelled samples from a CSV stream (format in this file's comment); `name` is the file
/// name that error messages start with.
///
/// → X is (n, features) and labels is (n), n the number of non-blank lines after the header.
/// Throws std::runtime_error, naming `name`, the line and the column, if a line has more than
/// csv_max_fields fields, a header more than csv_max_header_fields, if the first line mixes
/// numbers and other fields under CsvHeader::detect, if a row has another number of fields than
/// the first row, fewer than two fields, a feature that is not a number or is beyond the largest
/// Scalar, or a label that is not an integer in [0, csv_max_label], or if there is no sample at
/// all.
/// Memory: the longest line (no per-field storage), the header's fields (at most 2 MiB of strings
/// plus their text, see csv_max_header_fields), and the samples as Scalars and ints at most three
/// times over (the growing vectors, then X).
template <typename Scalar>
LabeledData<Scalar> load_csv(std::istream& in, const std::string& name = "<stream>",
                             CsvHeader header = CsvHeader::detect) {
    static_assert(std::is_floating_point_v<Scalar>, "load_csv needs a floating-point Scalar");
    constexpr std::size_t npos = std::string_view::npos;
    LabeledData<Scalar> data;
    std::vector<Scalar> values;  // row by row
    std::vector<int> labels;
    std::size_t fields_per_row = 0;
    std::size_t first_row_line = 0;
    bool first_line = true;
    std::string number;  // parse_decimal's scratch space
    std::string text;
    for (std::size_t line_number = 1; std::getline(in, text); ++line_number) {
        std::string_view line = text;
        if (line_number == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find_first_not_of(" \t") == npos) continue;

        const auto commas = static_cast<std::size_t>(std::count(line.begin(), line.end(), ','));
        if (commas >= csv_max_fields) {
            detail::csv_fail(name, line_number, detail::csv_field_start(line, csv_max_fields) + 1,
                             "the row has ", commas + 1,
                             " fields, more than the ", csv_max_fields, " a line may have");
        }
        const std::size_t fields = commas + 1;

        if (first_line) {
            first_line = false;
            bool is_header = header == CsvHeader::present;
            if (header == CsvHeader::detect) {
                is_header = detail::csv_is_header(line, name, line_number);
            }
            if (is_header) {
                if (fields > csv_max_header_fields) {
                    detail::csv_fail(name, line_number,
                                     detail::csv_field_start(line, csv_max_header_fields) + 1,
                                     "the header has ", fields, " fields, more than the ",
                                     csv_max_header_fields, " a header may have");
                }
                data.header.reserve(fields);
                for (std::size_t at = 0; at != npos;) {
                    const auto field = detail::csv_field_at(line, at);
                    at = field.next;
                    data.header.emplace_back(field.text);
                }
                continue;
            }
        }

        if (fields_per_row == 0) {
            if (fields < 2) {
                detail::csv_fail(name, line_number, line.size() + 1,
                                 "the row has 1 field, but a sample needs at least one feature "
                                 "and a label");
            }
            fields_per_row = fields;
            first_row_line = line_number;
        } else if (fields != fields_per_row) {
            const std::size_t column =
                fields > fields_per_row
                    ? detail::csv_field_at(line, detail::csv_field_start(line, fields_per_row))
                          .column
                    : line.size() + 1;
            detail::csv_fail(name, line_number, column, "the row has ", fields,
                             " fields but the first row (line ", first_row_line, ") has ",
                             fields_per_row);
        }

        std::size_t at = 0;
        for (std::size_t i = 1; i < fields; ++i) {
            const auto field = detail::csv_field_at(line, at);
            at = field.next;
            Scalar value{};
            switch (detail::parse_decimal(field.text, value, number)) {
                case detail::DecimalParse::ok:
                    break;
                case detail::DecimalParse::not_a_number:
                    detail::csv_fail(name, line_number, field.column, "field ", i, " is ",
                                     detail::quoted(field.text), ", which is not a finite number");
                case detail::DecimalParse::too_large:
                    detail::csv_fail(name, line_number, field.column, "field ", i, " is ",
                                     detail::quoted(field.text), ", which is beyond the largest ",
                                     detail::scalar_name<Scalar>(), " (",
                                     std::numeric_limits<Scalar>::max(), ")");
            }
            values.push_back(value);
        }
        const auto field = detail::csv_field_at(line, at);
        int label = 0;
        switch (detail::parse_label(field.text, label)) {
            case detail::LabelParse::ok:
                break;
            case detail::LabelParse::malformed:
                detail::csv_fail(name, line_number, field.column, "the label (field ", fields,
                                 ") is ", detail::quoted(field.text),
                                 ", which is not a non-negative integer");
            case detail::LabelParse::too_large:
                detail::csv_fail(name, line_number, field.column, "the label (field ", fields,
                                 ") is ", detail::quoted(field.text),
                                 ", which is above the largest label, ", csv_max_label);
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
