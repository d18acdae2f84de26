#pragma once
/// \file
/// Text helpers of the loaders: bytes shown safely in error messages, and decimal numbers read
/// the same way on every standard library and in every locale. Not public API.

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

namespace backprop::detail {

/// `bytes` as they may appear in an error message: printable ASCII (0x20 to 0x7e) as it is, every
/// other byte (control characters, NUL, bytes of UTF-8 sequences) as `\xNN`, lowercase hex. At
/// most `max_bytes` bytes are shown; a longer text ends in `...` and its length, e.g.
/// `aaaaaaaa... (10485760 bytes)`, so that a huge field cannot make a huge message.
inline std::string escape_bytes(std::string_view bytes, std::size_t max_bytes = 40) {
    const char* hex = "0123456789abcdef";
    std::string out;
    const std::size_t shown = bytes.size() > max_bytes ? max_bytes : bytes.size();
    for (std::size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (c >= 0x20 && c < 0x7f) {
            out.push_back(static_cast<char>(c));
        } else {
            out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
        }
    }
    if (shown < bytes.size()) out += "... (" + std::to_string(bytes.size()) + " bytes)";
    return out;
}

/// Whether the whole of `text` is a decimal number, whatever its magnitude:
///
///     number   = [sign] (digits ["." [digits]] | "." digits) [exponent]
///     exponent = ("e" | "E") [sign] digits
///     sign     = "+" | "-";  digits = one or more of 0-9
///
/// So `7`, `-1.5`, `+2e-3`, `.5`, `1.`, `1e999` are numbers; `nan`, `inf`, `0x1p3`, `1e`, `.`,
/// `1,5`, ``'1'`` and text with spaces are not.
inline bool is_decimal_number(std::string_view text) {
    std::size_t i = 0;
    const auto digits = [&] {
        const std::size_t start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
        return i - start;
    };
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    std::size_t mantissa = digits();
    if (i < text.size() && text[i] == '.') {
        ++i;
        mantissa += digits();
    }
    if (mantissa == 0) return false;
    if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
        if (digits() == 0) return false;
    }
    return i == text.size();
}

/// The outcome of parse_decimal.
enum class DecimalParse {
    ok,            ///< a number, stored (rounded to zero, with its sign, if below Scalar's range)
    not_a_number,  ///< not of is_decimal_number's grammar
    too_large      ///< of the grammar, but its magnitude rounds beyond Scalar's largest
};

/// Reads the whole of `text` as a Scalar (float, double or long double), correctly rounded
/// (to nearest, ties to even), the same in every locale and on every standard library.
///
/// How: `text` is first checked against is_decimal_number's grammar, then rewritten without a
/// decimal point (`-12.5e3` becomes `-125e2`) into `buffer` and handed to strtof, strtod or
/// strtold. Those are in every C library, correctly rounded in glibc, musl, macOS's and the
/// Universal CRT, and an integer with an exponent is read the same in every locale: only the
/// decimal point depends on LC_NUMERIC. That is why not std::from_chars (libc++ 14 has none for
/// floating point), not strtod on the text as it is (`1.5` is `1` in a locale whose decimal point
/// is `,`) and not a std::istringstream imbued with the classic locale (libc++'s num_get fails on
/// numbers below the normal range, such as 1e-40 as float, which libstdc++'s accepts).
/// Numbers too small for Scalar come back as their subnormal or (signed) zero rounding.
/// `buffer` is scratch space, passed in so that a loop over fields allocates once.
template <typename Scalar>
DecimalParse parse_decimal(std::string_view text, Scalar& value, std::string& buffer) {
    static_assert(std::is_floating_point_v<Scalar>, "parse_decimal needs a floating-point type");
    if (!is_decimal_number(text)) return DecimalParse::not_a_number;
    const std::size_t e = text.find_first_of("eE");
    const std::string_view mantissa = text.substr(0, e);
    const std::size_t point = mantissa.find('.');
    buffer.assign(mantissa.substr(0, point));
    if (point != std::string_view::npos) {
        // The digits after the point join the integer part; the exponent drops by their count.
        const std::string_view fraction = mantissa.substr(point + 1);
        buffer.append(fraction);
        // The exponent as written, saturated: beyond ±10^17 every finite mantissa gives 0 or
        // infinity, and the sum below cannot overflow.
        long long exponent = 0;
        if (e != std::string_view::npos) {
            std::size_t i = e + 1;
            const bool negative = text[i] == '-';
            if (text[i] == '+' || text[i] == '-') ++i;
            for (; i < text.size() && exponent < 100'000'000'000'000'000LL; ++i) {
                exponent = exponent * 10 + (text[i] - '0');
            }
            if (negative) exponent = -exponent;
        }
        exponent -= static_cast<long long>(fraction.size());
        if (exponent != 0) buffer += "e" + std::to_string(exponent);
    } else if (e != std::string_view::npos) {
        buffer.append(text.substr(e));
    }

    char* end = nullptr;
    if constexpr (std::is_same_v<Scalar, float>) {
        value = std::strtof(buffer.c_str(), &end);
    } else if constexpr (std::is_same_v<Scalar, double>) {
        value = std::strtod(buffer.c_str(), &end);
    } else {
        value = std::strtold(buffer.c_str(), &end);
    }
    // errno is not read: it is ERANGE for underflow as for overflow, and only overflow is an error.
    if (end != buffer.c_str() + buffer.size()) return DecimalParse::not_a_number;  // not reached
    return std::isinf(value) ? DecimalParse::too_large : DecimalParse::ok;
}

}  // namespace backprop::detail
