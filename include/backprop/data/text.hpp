#pragma once
/// \file
/// Text for a character-level language model: a tokenizer over the Unicode characters of UTF-8
/// text, the text of Debian's fortune cookies, a seeded sampler of (context, next character)
/// batches, and the losses of the two simplest models, the baselines a trained model must beat.
///
/// A character is a Unicode code point (a *scalar value*: U+0000 to U+10FFFF without the
/// surrogates U+D800 to U+DFFF). Text is UTF-8, decoded strictly (RFC 3629): a byte that cannot
/// start a character, a sequence cut short, an overlong encoding (`\xc0\xaf` for `/`), an encoded
/// surrogate and a code point beyond U+10FFFF are all errors, whose message names the byte
/// offset. Plain ASCII is UTF-8 whose characters are its bytes.
///
/// The file format of CharTokenizer::save (16 + 4·N bytes for N characters, little-endian):
///
///     magic       8 bytes, the ASCII "BP-CHARS"
///     version     uint32: 1
///     count N     uint32: 1 ≤ N ≤ 1,112,064 (the number of Unicode scalar values)
///     characters  N uint32 code points, strictly increasing, each a scalar value: id i is the
///                 i-th character
///
/// load() reads exactly those bytes and leaves the stream at the byte after them, so the
/// vocabulary can be written just before a model's checkpoint into one stream and read back the
/// same way (docs/file_format.md).

#include "../detail/random.hpp"
#include "../detail/shape.hpp"
#include "../detail/text.hpp"
#include "../io/serialize.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <istream>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace backprop {

/// The format version that CharTokenizer::save writes.
inline constexpr std::uint32_t tokenizer_format_version = 1;

namespace detail {

inline constexpr char tokenizer_magic[8] = {'B', 'P', '-', 'C', 'H', 'A', 'R', 'S'};

/// The number of Unicode scalar values: U+0000 to U+10FFFF less the 2,048 surrogates.
inline constexpr std::uint32_t unicode_scalar_values = 0x110000 - 0x800;

/// Whether `c` is a Unicode scalar value: a code point that UTF-8 may encode.
inline bool is_scalar_value(std::uint32_t c) { return c <= 0x10FFFF && (c < 0xD800 || c > 0xDFFF); }

/// "U+00E9": how Unicode names the code point `c`, at least four hex digits.
inline std::string code_point_name(std::uint32_t c) {
    char name[16];
    std::snprintf(name, sizeof name, "U+%04X", static_cast<unsigned>(c));
    return name;
}

/// "U+00E9", and for a printable ASCII character or a common control also how it is written:
/// "'a' (U+0061)", "'\n' (U+000A)". Only ASCII, so that a message prints on any terminal.
inline std::string describe_character(char32_t c) {
    std::string shown;
    if (c >= 0x20 && c < 0x7f) {
        shown = std::string(1, static_cast<char>(c));
    } else if (c == '\n') {
        shown = "\\n";
    } else if (c == '\t') {
        shown = "\\t";
    } else if (c == '\r') {
        shown = "\\r";
    } else {
        return code_point_name(c);
    }
    return "'" + shown + "' (" + code_point_name(c) + ")";
}

/// Throws std::invalid_argument "<call>: invalid UTF-8 at byte <at>: <what>".
[[noreturn]] inline void invalid_utf8(const char* call, std::size_t at, const std::string& what) {
    fail(call, ": invalid UTF-8 at byte ", at, ": ", what);
}

/// Calls f(c, byte) for every character c of the UTF-8 `text`, in order, where `byte` is the
/// offset of its first byte. Strict: throws std::invalid_argument
/// "<call>: invalid UTF-8 at byte <offset>: …" for a byte that cannot start a character (a
/// continuation byte 0x80 to 0xbf, 0xc0, 0xc1, 0xf5 to 0xff), a sequence cut short by the end
/// of the text or by a byte that is not a continuation byte, an overlong encoding, an encoded
/// surrogate or a code point beyond U+10FFFF. Characters before the error have been passed to f.
template <typename F>
void for_each_character(std::string_view text, const char* call, F&& f) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        if (lead < 0x80) {
            f(static_cast<char32_t>(lead), i);
            ++i;
            continue;
        }
        // The lead byte says the length: 110xxxxx 2 bytes, 1110xxxx 3, 11110xxx 4; its x bits
        // are the top bits of the code point, each continuation byte 10xxxxxx adds 6 more.
        std::size_t length = 0;
        std::uint32_t c = 0;
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            c = lead & 0x1Fu;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            c = lead & 0x0Fu;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            c = lead & 0x07u;
        } else {
            const std::string byte = escape_bytes(text.substr(i, 1));
            invalid_utf8(call, i,
                         lead < 0xC0   ? byte + " is a continuation byte where a character "
                                                "should start"
                         : lead < 0xC2 ? byte + " starts only overlong encodings (of U+0000 "
                                                "to U+007F)"
                                       : byte + " never appears in UTF-8");
        }
        for (std::size_t k = 1; k < length; ++k) {
            if (i + k == text.size()) {
                invalid_utf8(call, i, "the text ends inside the " + std::to_string(length) +
                                          "-byte sequence " + escape_bytes(text.substr(i)));
            }
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0u) != 0x80u) {
                invalid_utf8(call, i, "the " + std::to_string(length) + "-byte sequence " +
                                          escape_bytes(text.substr(i, k + 1)) +
                                          " has no continuation byte at byte " +
                                          std::to_string(i + k));
            }
            c = (c << 6) | (next & 0x3Fu);
        }
        // The shortest encoding only: a 2-byte sequence holds at least U+0080, 3 bytes U+0800,
        // 4 bytes U+10000 (else `/` could be spelt \xc0\xaf and slip past a check on '/').
        const std::uint32_t smallest = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000;
        if (c < smallest || !is_scalar_value(c)) {
            const std::string sequence = escape_bytes(text.substr(i, length));
            invalid_utf8(call, i,
                         c < smallest   ? sequence + " is an overlong encoding of " +
                                              describe_character(c)
                         : c > 0x10FFFF ? sequence + " encodes " + code_point_name(c) +
                                              ", beyond U+10FFFF"
                                        : sequence + " encodes " + code_point_name(c) +
                                              ", a surrogate");
        }
        f(static_cast<char32_t>(c), i);
        i += length;
    }
}

/// Appends the UTF-8 bytes of the scalar value `c` to `out`.
inline void append_utf8(std::string& out, char32_t c) {
    const auto code = static_cast<std::uint32_t>(c);
    if (code < 0x80) {
        out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (code >> 6)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (code >> 12)));
        out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (code >> 18)));
        out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
}

/// Throws std::invalid_argument unless every id of `ids` is in [0, vocab):
/// "<call>: <what>[3] is 7 but the vocabulary has 5 characters (ids 0 to 4)".
inline void require_ids(const char* call, const char* what,
                        const Eigen::Ref<const Eigen::VectorXi>& ids, Eigen::Index vocab) {
    for (Eigen::Index i = 0; i < ids.size(); ++i) {
        if (ids(i) < 0 || ids(i) >= vocab) {
            fail(call, ": ", what, "[", i, "] is ", ids(i), " but the vocabulary has ", vocab,
                 " characters (ids 0 to ", vocab - 1, ")");
        }
    }
}

}  // namespace detail

/// Characters ↔ token ids: the vocabulary is the set of distinct characters (Unicode code points)
/// of a text, sorted by code point, and a character's id is its index in that list.
///
///     backprop::CharTokenizer tokenizer(text);           // e.g. 113 characters for fortunes
///     Eigen::VectorXi ids = tokenizer.encode("Hello");  // (5) ids, one per character
///     std::string back = tokenizer.decode(ids);          // "Hello"
///
/// Sorting makes the vocabulary depend on the set of characters only, not on their order in the
/// text: for ASCII text, id order is byte order (newline < space < `A` < `a`).
class CharTokenizer {
public:
    /// The vocabulary of `text` (UTF-8): its distinct characters, sorted by code point.
    /// Throws std::invalid_argument for invalid UTF-8 (naming the byte offset) or an empty text.
    explicit CharTokenizer(const std::string& text) {
        std::vector<bool> seen(0x110000, false);
        detail::for_each_character(text, "CharTokenizer", [&seen](char32_t c, std::size_t) {
            seen[static_cast<std::size_t>(c)] = true;
        });
        for (std::size_t c = 0; c < seen.size(); ++c) {
            if (seen[c]) characters_.push_back(static_cast<char32_t>(c));
        }
        if (characters_.empty()) {
            detail::fail("CharTokenizer: the text is empty, so the vocabulary would have no "
                         "character");
        }
    }

    /// The vocabulary size: the number of distinct characters, ids 0 to size() − 1.
    Eigen::Index size() const { return static_cast<Eigen::Index>(characters_.size()); }

    /// The vocabulary, sorted by code point: characters()[id] is the character of `id`.
    const std::vector<char32_t>& characters() const { return characters_; }

    /// The id of every character of the UTF-8 `text`, in order: (number of characters).
    /// Throws std::invalid_argument for invalid UTF-8, or for a character that is not in the
    /// vocabulary (an unknown character in a prompt), naming it and where it is:
    /// "CharTokenizer::encode: the character U+00E9 at character 3 (byte 3) is not in the
    /// vocabulary of 65 characters".
    Eigen::VectorXi encode(const std::string& text) const {
        std::vector<int> ids;
        ids.reserve(text.size());
        detail::for_each_character(
            text, "CharTokenizer::encode", [&](char32_t c, std::size_t byte) {
                const auto found = std::lower_bound(characters_.begin(), characters_.end(), c);
                if (found == characters_.end() || *found != c) {
                    detail::fail("CharTokenizer::encode: the character ",
                                 detail::describe_character(c), " at character ", ids.size(),
                                 " (byte ", byte, ") is not in the vocabulary of ", size(),
                                 " characters");
                }
                ids.push_back(static_cast<int>(found - characters_.begin()));
            });
        return Eigen::Map<const Eigen::VectorXi>(ids.data(), static_cast<Eigen::Index>(ids.size()));
    }

    /// The UTF-8 text of `ids` (n): the character of every id, in order. Throws
    /// std::invalid_argument, naming the first id outside [0, size()), if there is one.
    std::string decode(const Eigen::Ref<const Eigen::VectorXi>& ids) const {
        detail::require_ids("CharTokenizer::decode", "ids", ids, size());
        std::string text;
        text.reserve(static_cast<std::size_t>(ids.size()));
        for (Eigen::Index i = 0; i < ids.size(); ++i) {
            detail::append_utf8(text, characters_[static_cast<std::size_t>(ids(i))]);
        }
        return text;
    }

    /// Writes the vocabulary to `out` in the format of this file's comment (16 + 4·size()
    /// bytes). Throws std::runtime_error if the stream fails.
    void save(std::ostream& out) const {
        std::string bytes(detail::tokenizer_magic, sizeof detail::tokenizer_magic);
        detail::put_le(bytes, tokenizer_format_version, 4);
        detail::put_le(bytes, characters_.size(), 4);
        for (const char32_t c : characters_) detail::put_le(bytes, c, 4);
        detail::write_all(out, bytes, "CharTokenizer::save");
    }

    /// Reads a vocabulary that save() wrote, consuming exactly its bytes: the stream is left at
    /// the byte after them (where a checkpoint written after it starts).
    ///
    /// Checks the magic, the version, the count (1 to 1,112,064) and every character (a Unicode
    /// scalar value, greater than the one before); throws std::runtime_error
    /// "<name>: …" naming the first that is wrong, or where the stream ended early. `name`
    /// names the stream in messages (a file's path, say).
    static CharTokenizer load(std::istream& in, const std::string& name = "<stream>") {
        detail::Reader reader(in, name);
        unsigned char magic[sizeof detail::tokenizer_magic];
        reader.bytes(magic, sizeof magic, "magic");
        if (!std::equal(magic, magic + sizeof magic, detail::tokenizer_magic)) {
            reader.fail("not a backprop character tokenizer: the magic is '" +
                        detail::escape_bytes(std::string_view(
                            reinterpret_cast<const char*>(magic), sizeof magic)) +
                        "' but should be 'BP-CHARS'");
        }
        const auto version = reader.integer(4, "version");
        if (version != tokenizer_format_version) {
            reader.fail("the tokenizer format version is " + std::to_string(version) +
                        " but this library reads version " +
                        std::to_string(tokenizer_format_version));
        }
        const auto count = reader.integer(4, "character count");
        if (count < 1 || count > detail::unicode_scalar_values) {
            reader.fail("the character count is " + std::to_string(count) +
                        " but must be from 1 to " + std::to_string(detail::unicode_scalar_values));
        }
        CharTokenizer tokenizer;
        // Grown as characters arrive: a corrupt count costs at most what the stream holds.
        for (std::uint64_t i = 0; i < count; ++i) {
            const auto c = reader.integer(4, "character " + std::to_string(i));
            if (!detail::is_scalar_value(static_cast<std::uint32_t>(c))) {
                reader.fail("character " + std::to_string(i) + " is " +
                            detail::code_point_name(static_cast<std::uint32_t>(c)) +
                            ", which is not a Unicode scalar value");
            }
            const auto character = static_cast<char32_t>(c);
            if (i > 0 && character <= tokenizer.characters_.back()) {
                reader.fail("character " + std::to_string(i) + " is " +
                            detail::describe_character(character) + " but must come after " +
                            "character " + std::to_string(i - 1) + ", " +
                            detail::describe_character(tokenizer.characters_.back()) +
                            " (the vocabulary is sorted, without repeats)");
            }
            tokenizer.characters_.push_back(character);
        }
        return tokenizer;
    }

private:
    CharTokenizer() = default;

    std::vector<char32_t> characters_;  // sorted, distinct
};

/// The whole content of the file at `path`, byte for byte. Throws std::runtime_error naming the
/// path if it is a directory, cannot be opened or reading fails.
inline std::string read_text(const std::string& path) {
    std::error_code ignored;
    if (std::filesystem::is_directory(path, ignored)) {
        throw std::runtime_error(path + ": is a directory, not a file");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(path + ": cannot open the file for reading");
    }
    std::string text;
    char buffer[1 << 16];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        text.append(buffer, static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad()) {
        throw std::runtime_error(path + ": reading failed");
    }
    return text;
}

/// The fortune cookies of Debian's `fortunes` package (with `fortunes-min`, which it depends
/// on), as one text: about 2.5 million characters (2,546,195 in fortunes 1:1.99.1-7.3, 113 of
/// them distinct), mostly English quotations, jokes and poems.
///
/// A fortune file holds cookies separated by lines that are just `%`. This reads every plain
/// fortune file of `dir` in sorted name order (so the text is the same on every machine with
/// the same package): regular files, not the `*.dat` indexes that strfile writes for `fortune`,
/// and not symbolic links (Debian's `*.u8` links point at the file of the same name, the files
/// being UTF-8 already); folders such as `off/` are skipped too. The `%` lines are removed, the
/// other lines kept as they are, each ending in a newline (one is added to a file's last line
/// if it has none), so the cookies follow each other.
///
/// Throws std::runtime_error naming `dir` and the package to install if `dir` is not a folder,
/// and if it holds no fortune file; as read_text if a file cannot be read.
inline std::string read_fortunes(const std::string& dir = "/usr/share/games/fortunes") {
    namespace fs = std::filesystem;
    std::error_code error;
    if (!fs::is_directory(dir, error)) {
        throw std::runtime_error(dir + ": no such folder; the fortune cookies are in Debian's " +
                                 "fortunes package (apt-get install fortunes)");
    }
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const auto status = entry.symlink_status();
        if (fs::is_regular_file(status) && entry.path().extension() != ".dat") {
            files.push_back(entry.path().string());
        }
    }
    if (files.empty()) {
        throw std::runtime_error(dir + ": holds no fortune file; they are in Debian's fortunes " +
                                 "package (apt-get install fortunes)");
    }
    std::sort(files.begin(), files.end());
    std::string text;
    for (const auto& file : files) {
        const std::string content = read_text(file);
        std::size_t start = 0;
        while (start < content.size()) {
            std::size_t end = content.find('\n', start);
            if (end == std::string::npos) end = content.size();
            const std::string_view line(content.data() + start, end - start);
            if (line != "%") {
                text.append(line);
                text.push_back('\n');
            }
            start = end + 1;
        }
    }
    return text;
}

/// Seeded batches of windows of a text, for training a model to predict the next character:
/// X holds B windows of T = context() characters, Y the character after each of them.
///
///     backprop::TextBatches batches(tokenizer.encode(text), 64);   // T = 64, last 10 % held out
///     Eigen::VectorXi X, Y;
///     batches.sample_train(32, X, Y);   // X, Y (32·64): row b·T + t
///
/// The split is by position: the first characters of `ids` are the train split, the last
/// n_validation = ⌈validation_fraction·n⌉ the validation split, so no window holds characters of
/// both. A window is T + 1 consecutive characters of one split, starting at s drawn uniformly
/// from the split's length − T possible starts (s = next() mod (length − T); the modulo's bias is
/// below 2⁻⁴⁰ for any realistic text). Window b fills rows b·T to b·T + T − 1:
///
///     X[b·T + t] = split[s_b + t],   Y[b·T + t] = split[s_b + t + 1],   t = 0 … T − 1
///
/// so Y is X shifted by one character, and position t of a window predicts Y[b·T + t] from
/// X[b·T], …, X[b·T + t] (what a causal model sees). The windows of the train split are drawn
/// from detail::SplitMix64(seed), those of the validation split from SplitMix64(~seed) (every
/// bit of the seed flipped): the same seed gives the same batches on every platform, and drawing
/// validation batches does not change the train batches that follow.
class TextBatches {
public:
    /// Splits `ids` (n) into train and validation and seeds the two generators.
    /// Throws std::invalid_argument unless context ≥ 1, 0 < validation_fraction < 1 and both
    /// splits hold at least context + 1 characters (one window).
    TextBatches(Eigen::VectorXi ids, Eigen::Index context, double validation_fraction = 0.1,
                std::uint64_t seed = 0)
        : context_(context), train_rng_(seed), validation_rng_(~seed) {
        if (context < 1) {
            detail::fail("TextBatches: the context is ", context, " but must be at least 1");
        }
        if (!(validation_fraction > 0 && validation_fraction < 1)) {
            detail::fail("TextBatches: validation_fraction is ", validation_fraction,
                         " but must be between 0 and 1 (excluded)");
        }
        const Eigen::Index n = ids.size();
        const auto held_out =
            static_cast<Eigen::Index>(std::ceil(validation_fraction * static_cast<double>(n)));
        if (n - held_out < context + 1 || held_out < context + 1) {
            detail::fail("TextBatches: ", n, " characters split into ", n - held_out,
                         " for training and ", held_out, " for validation (validation_fraction ",
                         validation_fraction, ") but each split needs at least context + 1 = ",
                         context + 1, " characters");
        }
        validation_ = ids.tail(held_out);
        ids.conservativeResize(n - held_out);
        train_ = std::move(ids);
    }

    /// T: the characters of a window's input, the length of every sequence of a batch.
    Eigen::Index context() const { return context_; }

    /// The train split: the first n − ⌈validation_fraction·n⌉ ids of the text.
    const Eigen::VectorXi& train() const { return train_; }

    /// The validation split: the last ⌈validation_fraction·n⌉ ids of the text.
    const Eigen::VectorXi& validation() const { return validation_; }

    /// B random windows of the train split: X and Y become (B·T) ids, Y[i] the character after
    /// X[i] (the class comment has the layout). Allocates nothing when X and Y already have
    /// B·T elements. Throws std::invalid_argument if B < 1, changing nothing.
    void sample_train(Eigen::Index B, Eigen::VectorXi& X, Eigen::VectorXi& Y) {
        sample(train_, train_rng_, "TextBatches::sample_train", B, X, Y);
    }

    /// B random windows of the validation split, as sample_train from the validation generator.
    void sample_validation(Eigen::Index B, Eigen::VectorXi& X, Eigen::VectorXi& Y) {
        sample(validation_, validation_rng_, "TextBatches::sample_validation", B, X, Y);
    }

private:
    void sample(const Eigen::VectorXi& split, detail::SplitMix64& rng, const char* call,
                Eigen::Index B, Eigen::VectorXi& X, Eigen::VectorXi& Y) const {
        if (B < 1) detail::fail(call, ": B is ", B, " but must be at least 1");
        const Eigen::Index T = context_;
        X.resize(B * T);
        Y.resize(B * T);
        const auto starts = static_cast<std::uint64_t>(split.size() - T);
        for (Eigen::Index b = 0; b < B; ++b) {
            const auto s = static_cast<Eigen::Index>(rng.next() % starts);
            X.segment(b * T, T) = split.segment(s, T);
            Y.segment(b * T, T) = split.segment(s + 1, T);
        }
    }

    Eigen::Index context_;
    Eigen::VectorXi train_;
    Eigen::VectorXi validation_;
    detail::SplitMix64 train_rng_;
    detail::SplitMix64 validation_rng_;
};

namespace detail {

/// The checks of unigram_loss and bigram_loss: vocab ≥ 1, train and validation non-empty,
/// every id in [0, vocab).
inline void require_splits(const char* call, const Eigen::Ref<const Eigen::VectorXi>& train,
                           const Eigen::Ref<const Eigen::VectorXi>& validation,
                           Eigen::Index vocab) {
    if (vocab < 1) fail(call, ": vocab is ", vocab, " but must be at least 1");
    if (train.size() == 0 || validation.size() == 0) {
        fail(call, ": train has ", train.size(), " ids and validation ", validation.size(),
             "; both need at least one");
    }
    require_ids(call, "train", train, vocab);
    require_ids(call, "validation", validation, vocab);
}

}  // namespace detail

/// The validation loss of the unigram model, which predicts every character from the train
/// split's character frequencies alone, ignoring the context: in nats per character,
///
///     L = −(1/M) Σᵢ log p(vᵢ),   p(c) = (count(c) + 1) / (N + V)
///
/// over the M ids vᵢ of `validation`, where count(c) is how often c occurs in the N ids of
/// `train` and V = `vocab`. The + 1 (add-one or Laplace smoothing) gives every character of the
/// vocabulary a non-zero probability: a character that the train split never shows (the
/// vocabulary comes from the whole text) would otherwise have p = 0, and one such character in
/// the validation split would make the loss infinite. A model that learned nothing scores log V
/// (uniform); one that learned the frequencies scores about this.
///
/// Shapes: train (N), validation (M). Throws std::invalid_argument if vocab < 1, a split is
/// empty, or an id is outside [0, vocab).
inline double unigram_loss(const Eigen::Ref<const Eigen::VectorXi>& train,
                           const Eigen::Ref<const Eigen::VectorXi>& validation,
                           Eigen::Index vocab) {
    detail::require_splits("unigram_loss", train, validation, vocab);
    std::vector<double> count(static_cast<std::size_t>(vocab), 0.0);
    for (Eigen::Index i = 0; i < train.size(); ++i) count[static_cast<std::size_t>(train(i))] += 1;
    const double total = static_cast<double>(train.size() + vocab);
    double loss = 0;
    for (Eigen::Index i = 0; i < validation.size(); ++i) {
        loss -= std::log((count[static_cast<std::size_t>(validation(i))] + 1) / total);
    }
    return loss / static_cast<double>(validation.size());
}

/// The validation loss of the bigram model, which predicts every character from the one before
/// it, with the train split's pair frequencies: in nats per character,
///
///     L = −(1/M) Σᵢ log p(vᵢ | vᵢ₋₁),   p(b | a) = (count(a, b) + 1) / (count(a, ·) + V)
///
/// where count(a, b) is how often b follows a in `train` and count(a, ·) = Σ_b count(a, b) how
/// often a is followed by anything (its count, less one if it is train's last id). Add-one
/// smoothing for the same reason as unigram_loss: a pair never seen in train, a character never
/// seen before another, keeps a non-zero probability, 1 / (count(a, ·) + V).
///
/// The first validation character, v₀, is predicted from the last train character: the
/// validation split is the continuation of the train split in the text (TextBatches cuts it
/// that way), so every one of the M characters is scored by the same model, and the mean is
/// over as many characters as the unigram's. For splits that do not follow each other this
/// costs one character's worth of error.
///
/// Shapes: train (N), validation (M). Throws std::invalid_argument if vocab < 1, a split is
/// empty, or an id is outside [0, vocab).
inline double bigram_loss(const Eigen::Ref<const Eigen::VectorXi>& train,
                          const Eigen::Ref<const Eigen::VectorXi>& validation,
                          Eigen::Index vocab) {
    detail::require_splits("bigram_loss", train, validation, vocab);
    // count(a, b) for the pairs that occur, keyed a·V + b: a V×V table would not fit a large
    // vocabulary (V up to 1,112,064), and a text holds few of the possible pairs.
    const auto key = [vocab](int a, int b) {
        return static_cast<std::uint64_t>(a) * static_cast<std::uint64_t>(vocab) +
               static_cast<std::uint64_t>(b);
    };
    std::unordered_map<std::uint64_t, double> pairs;
    std::vector<double> followed(static_cast<std::size_t>(vocab), 0.0);
    for (Eigen::Index i = 1; i < train.size(); ++i) {
        pairs[key(train(i - 1), train(i))] += 1;
        followed[static_cast<std::size_t>(train(i - 1))] += 1;
    }
    double loss = 0;
    int previous = train(train.size() - 1);
    for (Eigen::Index i = 0; i < validation.size(); ++i) {
        const int next = validation(i);
        const auto found = pairs.find(key(previous, next));
        const double count = found == pairs.end() ? 0.0 : found->second;
        loss -= std::log((count + 1) / (followed[static_cast<std::size_t>(previous)] +
                                        static_cast<double>(vocab)));
        previous = next;
    }
    return loss / static_cast<double>(validation.size());
}

}  // namespace backprop
