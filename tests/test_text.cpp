// Tests of data/text.hpp: the tokenizer (UTF-8, messages, its file format), reading fortune
// files, the batch sampler, and the baselines' losses against hand-computed values.
#include <backprop/data/text.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using backprop::bigram_loss;
using backprop::CharTokenizer;
using backprop::TextBatches;
using backprop::unigram_loss;
using Catch::Matchers::Contains;

namespace {

Eigen::VectorXi ids_of(std::vector<int> values) {
    return Eigen::Map<const Eigen::VectorXi>(values.data(),
                                             static_cast<Eigen::Index>(values.size()));
}

/// 0, 1, …, n − 1: ids that say where in the text they were taken from.
Eigen::VectorXi positions(int n) { return Eigen::VectorXi::LinSpaced(n, 0, n - 1); }

/// The bytes that save() writes for `tokenizer`.
std::string saved(const CharTokenizer& tokenizer) {
    std::ostringstream out;
    tokenizer.save(out);
    return out.str();
}

/// The message of CharTokenizer::load on `bytes`, or "no exception".
std::string load_error(const std::string& bytes) {
    std::istringstream in(bytes);
    try {
        CharTokenizer::load(in, "vocab.bin");
    } catch (const std::runtime_error& error) {
        return error.what();
    }
    return "no exception";
}

/// `bytes` with the little-endian uint32 at `offset` replaced by `value`.
std::string with_uint32(std::string bytes, std::size_t offset, std::uint32_t value) {
    for (int b = 0; b < 4; ++b) bytes[offset + b] = static_cast<char>(value >> (8 * b));
    return bytes;
}

}  // namespace

TEST_CASE("CharTokenizer: the vocabulary is the sorted distinct characters", "[text]") {
    SECTION("ASCII") {
        const CharTokenizer tokenizer("hello world\n");
        CHECK(tokenizer.size() == 9);
        CHECK(tokenizer.characters() == std::vector<char32_t>{'\n', ' ', 'd', 'e', 'h', 'l', 'o',
                                                              'r', 'w'});
        const Eigen::VectorXi ids = tokenizer.encode("hello");
        CHECK(ids == ids_of({4, 3, 5, 5, 6}));
        CHECK(tokenizer.decode(ids) == "hello");
        CHECK(tokenizer.decode(tokenizer.encode("hello world\n")) == "hello world\n");
        CHECK(tokenizer.encode("").size() == 0);
        CHECK(tokenizer.decode(Eigen::VectorXi()).empty());
    }
    SECTION("characters of 1, 2, 3 and 4 bytes") {
        // U+00E9 é (2 bytes), U+20AC € (3 bytes), U+1F600 😀 (4 bytes)
        const std::string text = "\xf0\x9f\x98\x80 \xe2\x82\xac\xc3\xa9 a\xc3\xa9";
        const CharTokenizer tokenizer(text);
        CHECK(tokenizer.characters() == std::vector<char32_t>{U' ', U'a', U'\u00e9', U'\u20ac',
                                                              U'\U0001F600'});
        const Eigen::VectorXi ids = tokenizer.encode(text);
        CHECK(ids == ids_of({4, 0, 3, 2, 0, 1, 2}));  // one id per character, not per byte
        CHECK(tokenizer.decode(ids) == text);
        // The largest and smallest scalar values, and the ones around the surrogates.
        const std::string edges = std::string("\0", 1) + "\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf";
        const CharTokenizer wide(edges);
        CHECK(wide.characters() == std::vector<char32_t>{0, 0xD7FF, 0xE000, 0x10FFFF});
        CHECK(wide.decode(wide.encode(edges)) == edges);
    }
}

TEST_CASE("CharTokenizer: unknown characters and bad ids are named", "[text]") {
    const CharTokenizer tokenizer("ab\xc3\xa9");
    CHECK_THROWS_WITH(tokenizer.encode("abz"),
                      "CharTokenizer::encode: the character 'z' (U+007A) at character 2 (byte 2) "
                      "is not in the vocabulary of 3 characters");
    CHECK_THROWS_WITH(tokenizer.encode("\xc3\xa9\xc3\xa9\xe2\x82\xac"),
                      "CharTokenizer::encode: the character U+20AC at character 2 (byte 4) is not "
                      "in the vocabulary of 3 characters");
    CHECK_THROWS_WITH(tokenizer.encode("a\n"),
                      "CharTokenizer::encode: the character '\\n' (U+000A) at character 1 "
                      "(byte 1) is not in the vocabulary of 3 characters");
    CHECK_THROWS_AS(tokenizer.encode("z"), std::invalid_argument);
    CHECK_THROWS_WITH(tokenizer.decode(ids_of({0, 3})),
                      "CharTokenizer::decode: ids[1] is 3 but the vocabulary has 3 characters "
                      "(ids 0 to 2)");
    CHECK_THROWS_WITH(tokenizer.decode(ids_of({-1})),
                      "CharTokenizer::decode: ids[0] is -1 but the vocabulary has 3 characters "
                      "(ids 0 to 2)");
    CHECK_THROWS_AS(tokenizer.decode(ids_of({7})), std::invalid_argument);
    CHECK_THROWS_WITH(CharTokenizer(""), "CharTokenizer: the text is empty, so the vocabulary "
                                         "would have no character");
}

TEST_CASE("CharTokenizer: invalid UTF-8 throws naming the byte", "[text]") {
    const auto error = [](const std::string& text) {
        try {
            CharTokenizer tokenizer(text);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no exception");
    };
    const std::string at = "CharTokenizer: invalid UTF-8 at byte ";
    CHECK(error("a\x80") == at + "1: \\x80 is a continuation byte where a character should start");
    CHECK(error("\xc0\xaf") ==
          at + "0: \\xc0 starts only overlong encodings (of U+0000 to U+007F)");
    CHECK(error("ab\xff") == at + "2: \\xff never appears in UTF-8");
    CHECK(error("ab\xf5\x80\x80\x80") == at + "2: \\xf5 never appears in UTF-8");
    CHECK(error("a\xe2\x82") == at + "1: the text ends inside the 3-byte sequence \\xe2\\x82");
    CHECK(error("\xe2\x41\x42") == at + "0: the 3-byte sequence \\xe2A has no continuation byte "
                                        "at byte 1");
    CHECK(error("\xf0\x9f\x98 ") == at + "0: the 4-byte sequence \\xf0\\x9f\\x98  has no "
                                         "continuation byte at byte 3");
    CHECK(error("\xe0\x80\xaf") ==
          at + "0: \\xe0\\x80\\xaf is an overlong encoding of '/' (U+002F)");
    CHECK(error("\xf0\x82\x82\xac") == at + "0: \\xf0\\x82\\x82\\xac is an overlong encoding of "
                                            "U+20AC");
    CHECK(error("\xed\xa0\x80") == at + "0: \\xed\\xa0\\x80 encodes U+D800, a surrogate");
    CHECK(error("\xed\xbf\xbf") == at + "0: \\xed\\xbf\\xbf encodes U+DFFF, a surrogate");
    CHECK(error("\xf4\x90\x80\x80") == at + "0: \\xf4\\x90\\x80\\x80 encodes U+110000, beyond "
                                            "U+10FFFF");
    const CharTokenizer tokenizer("abc");
    CHECK_THROWS_WITH(tokenizer.encode("ab\x80"), "CharTokenizer::encode: invalid UTF-8 at byte "
                                                  "2: \\x80 is a continuation byte where a "
                                                  "character should start");
}

TEST_CASE("CharTokenizer: save and load", "[text]") {
    const CharTokenizer tokenizer("ba\xc3\xa9\n");
    const std::string bytes = saved(tokenizer);
    SECTION("the bytes are the documented format") {
        const std::string expected("BP-CHARS"
                                   "\x01\x00\x00\x00"   // version 1
                                   "\x04\x00\x00\x00"   // 4 characters
                                   "\x0a\x00\x00\x00"   // '\n'
                                   "\x61\x00\x00\x00"   // 'a'
                                   "\x62\x00\x00\x00"   // 'b'
                                   "\xe9\x00\x00\x00",  // U+00E9
                                   32);
        CHECK(bytes == expected);
    }
    SECTION("a round trip stops at its own last byte") {
        std::istringstream in(bytes + "BACKPROP and the rest");
        const CharTokenizer loaded = CharTokenizer::load(in);
        CHECK(loaded.characters() == tokenizer.characters());
        CHECK(loaded.decode(loaded.encode("ab\xc3\xa9")) == "ab\xc3\xa9");
        std::string rest;
        std::getline(in, rest);
        CHECK(rest == "BACKPROP and the rest");
    }
    SECTION("two vocabularies in one stream") {
        const CharTokenizer other("xyz");
        std::stringstream stream;
        tokenizer.save(stream);
        other.save(stream);
        CHECK(CharTokenizer::load(stream).characters() == tokenizer.characters());
        CHECK(CharTokenizer::load(stream).characters() == other.characters());
        CHECK(stream.peek() == std::char_traits<char>::eof());
    }
    SECTION("corrupt files throw naming what is wrong") {
        CHECK(load_error("BACKPROP" + bytes.substr(8)) ==
              "vocab.bin: not a backprop character tokenizer: the magic is 'BACKPROP' but should "
              "be 'BP-CHARS'");
        CHECK(load_error(with_uint32(bytes, 8, 2)) ==
              "vocab.bin: the tokenizer format version is 2 but this library reads version 1");
        CHECK(load_error(with_uint32(bytes, 12, 0)) ==
              "vocab.bin: the character count is 0 but must be from 1 to 1112064");
        CHECK(load_error(with_uint32(bytes, 12, 0xFFFFFFFF)) ==
              "vocab.bin: the character count is 4294967295 but must be from 1 to 1112064");
        CHECK(load_error(with_uint32(bytes, 12, 5)) ==
              "vocab.bin: truncated file: expected 4 bytes of character 4 at byte 32 but found 0");
        CHECK(load_error(bytes.substr(0, 30)) ==
              "vocab.bin: truncated file: expected 4 bytes of character 3 at byte 28 but found 2");
        CHECK(load_error(bytes.substr(0, 5)) ==
              "vocab.bin: truncated file: expected 8 bytes of magic at byte 0 but found 5");
        CHECK(load_error(with_uint32(bytes, 24, 'a')) ==
              "vocab.bin: character 2 is 'a' (U+0061) but must come after character 1, "
              "'a' (U+0061) (the vocabulary is sorted, without repeats)");
        CHECK(load_error(with_uint32(bytes, 20, 'c')) ==
              "vocab.bin: character 2 is 'b' (U+0062) but must come after character 1, "
              "'c' (U+0063) (the vocabulary is sorted, without repeats)");
        CHECK(load_error(with_uint32(bytes, 28, 0xD800)) ==
              "vocab.bin: character 3 is U+D800, which is not a Unicode scalar value");
        CHECK(load_error(with_uint32(bytes, 28, 0x110000)) ==
              "vocab.bin: character 3 is U+110000, which is not a Unicode scalar value");
        CHECK(load_error(bytes) == "no exception");
        std::istringstream in(bytes);
        CHECK_THROWS_WITH(CharTokenizer::load(in).encode("x"), Contains("'x' (U+0078)"));
    }
}

TEST_CASE("read_text and read_fortunes", "[text]") {
    namespace fs = std::filesystem;
    const fs::path dir = "test_text_fortunes";
    fs::remove_all(dir);
    fs::create_directories(dir / "off");
    std::ofstream(dir / "b", std::ios::binary) << "second\n%\nlast line without newline";
    std::ofstream(dir / "a", std::ios::binary) << "first\n%\n%%\n 100%\n%\n";
    std::ofstream(dir / "a.dat", std::ios::binary) << "index bytes";
    std::ofstream(dir / "off" / "c", std::ios::binary) << "offensive\n";
    fs::create_symlink("a", dir / "a.u8");

    CHECK(backprop::read_text((dir / "a").string()) == "first\n%\n%%\n 100%\n%\n");
    CHECK(backprop::read_fortunes(dir.string()) ==
          "first\n%%\n 100%\nsecond\nlast line without newline\n");

    CHECK_THROWS_WITH(backprop::read_text((dir / "none").string()),
                      (dir / "none").string() + ": cannot open the file for reading");
    CHECK_THROWS_WITH(backprop::read_text(dir.string()),
                      dir.string() + ": is a directory, not a file");
    CHECK_THROWS_WITH(backprop::read_fortunes((dir / "none").string()),
                      (dir / "none").string() + ": no such folder; the fortune cookies are in "
                                                "Debian's fortunes package (apt-get install "
                                                "fortunes)");
    fs::create_directories(dir / "empty");
    CHECK_THROWS_WITH(backprop::read_fortunes((dir / "empty").string()),
                      Contains("empty: holds no fortune file"));
    fs::remove_all(dir);
}

TEST_CASE("TextBatches: the split", "[text]") {
    const TextBatches batches(positions(100), 5, 0.25, 1);
    CHECK(batches.context() == 5);
    CHECK(batches.train() == positions(75));
    CHECK(batches.validation() == positions(100).tail(25));
    // ⌈0.1·95⌉ = 10 characters held out
    CHECK(TextBatches(positions(95), 3).validation().size() == 10);
    // the smallest text: one window in each split
    CHECK(TextBatches(positions(12), 5, 0.5).train().size() == 6);

    CHECK_THROWS_WITH(TextBatches(positions(100), 0),
                      "TextBatches: the context is 0 but must be at least 1");
    CHECK_THROWS_WITH(TextBatches(positions(100), 4, 0.0),
                      "TextBatches: validation_fraction is 0 but must be between 0 and 1 "
                      "(excluded)");
    CHECK_THROWS_AS(TextBatches(positions(100), 4, 1.0), std::invalid_argument);
    CHECK_THROWS_AS(TextBatches(positions(100), 4, std::nan("")), std::invalid_argument);
    CHECK_THROWS_WITH(TextBatches(positions(100), 9, 0.05),
                      "TextBatches: 100 characters split into 95 for training and 5 for "
                      "validation (validation_fraction 0.05) but each split needs at least "
                      "context + 1 = 10 characters");
    CHECK_THROWS_AS(TextBatches(positions(11), 5, 0.5), std::invalid_argument);
}

TEST_CASE("TextBatches: seeded windows, Y is X shifted by one", "[text]") {
    const int T = 5;
    const int B = 4;
    TextBatches batches(positions(100), T, 0.2, 7);
    Eigen::VectorXi X, Y;
    batches.sample_train(B, X, Y);
    REQUIRE(X.size() == B * T);
    REQUIRE(Y.size() == B * T);

    SECTION("each window is consecutive text and Y the character after X") {
        // The ids are positions in the text, so the window of row b·T + t is where it came from.
        for (int b = 0; b < B; ++b) {
            for (int t = 0; t < T; ++t) {
                CHECK(X(b * T + t) == X(b * T) + t);
                CHECK(Y(b * T + t) == X(b * T + t) + 1);
            }
        }
    }
    SECTION("the same seed gives the same batches; another seed others") {
        TextBatches same(positions(100), T, 0.2, 7);
        TextBatches other(positions(100), T, 0.2, 8);
        Eigen::VectorXi X2, Y2, X3, Y3;
        same.sample_train(B, X2, Y2);
        other.sample_train(B, X3, Y3);
        CHECK(X2 == X);
        CHECK(Y2 == Y);
        CHECK(X3 != X);
    }
    SECTION("validation batches do not move the train generator") {
        TextBatches plain(positions(100), T, 0.2, 7);
        TextBatches mixed(positions(100), T, 0.2, 7);
        Eigen::VectorXi X2, Y2, X3, Y3, Xv, Yv;
        plain.sample_train(B, X2, Y2);
        plain.sample_train(B, X2, Y2);
        mixed.sample_train(B, X3, Y3);
        mixed.sample_validation(3, Xv, Yv);
        mixed.sample_train(B, X3, Y3);
        CHECK(X3 == X2);
        CHECK(Y3 == Y2);
        CHECK(Xv.size() == 3 * T);
    }
    SECTION("windows stay inside their split and reach both of its ends") {
        int smallest_train = 100, largest_train = -1, smallest_val = 100, largest_val = -1;
        for (int draw = 0; draw < 500; ++draw) {
            batches.sample_train(B, X, Y);
            batches.sample_validation(B, X, Y);
            smallest_val = std::min(smallest_val, X.minCoeff());
            largest_val = std::max(largest_val, Y.maxCoeff());
            CHECK((Y.tail(T).array() == X.tail(T).array() + 1).all());
            batches.sample_train(B, X, Y);
            smallest_train = std::min(smallest_train, X.minCoeff());
            largest_train = std::max(largest_train, Y.maxCoeff());
        }
        CHECK(smallest_train == 0);
        CHECK(largest_train == 79);  // train: ids 0 to 79
        CHECK(smallest_val == 80);
        CHECK(largest_val == 99);    // validation: ids 80 to 99
    }
    SECTION("X and Y of the right size are reused, not reallocated") {
        const int* x = X.data();
        const int* y = Y.data();
        batches.sample_train(B, X, Y);
        batches.sample_validation(B, X, Y);
        CHECK(X.data() == x);
        CHECK(Y.data() == y);
    }
    SECTION("B < 1 throws and changes nothing") {
        const Eigen::VectorXi before = X;
        CHECK_THROWS_WITH(batches.sample_train(0, X, Y),
                          "TextBatches::sample_train: B is 0 but must be at least 1");
        CHECK_THROWS_WITH(batches.sample_validation(-1, X, Y),
                          "TextBatches::sample_validation: B is -1 but must be at least 1");
        CHECK(X == before);
    }
}

TEST_CASE("unigram_loss and bigram_loss: hand-computed values", "[text]") {
    // train "ababa", validation "bb", vocabulary {a, b, c}: V = 3.
    const Eigen::VectorXi train = ids_of({0, 1, 0, 1, 0});
    const Eigen::VectorXi validation = ids_of({1, 1});
    // Unigram: count(b) = 2 of N = 5, p(b) = (2 + 1) / (5 + 3) = 3/8 for both characters.
    CHECK(unigram_loss(train, validation, 3) == Approx(std::log(8.0 / 3.0)).epsilon(1e-15));
    // An unseen character keeps p = (0 + 1) / 8.
    CHECK(unigram_loss(train, ids_of({2}), 3) == Approx(std::log(8.0)).epsilon(1e-15));
    // Bigram: train's pairs ab, ba, ab, ba: count(a, ·) = count(b, ·) = 2. The first "b" follows
    // train's last "a": p(b | a) = (2 + 1) / (2 + 3) = 3/5; the second follows "b":
    // p(b | b) = (0 + 1) / (2 + 3) = 1/5. L = (log(5/3) + log 5) / 2.
    CHECK(bigram_loss(train, validation, 3) ==
          Approx((std::log(5.0 / 3.0) + std::log(5.0)) / 2).epsilon(1e-15));
    // "c" was never followed by anything: p(a | c) = (0 + 1) / (0 + 3).
    CHECK(bigram_loss(ids_of({2}), ids_of({0}), 3) == Approx(std::log(3.0)).epsilon(1e-15));
    // One train character: p(a) = (1 + 1) / (1 + 4), the three others (0 + 1) / 5.
    CHECK(unigram_loss(ids_of({0}), ids_of({0, 1, 2, 3}), 4) ==
          Approx((3 * std::log(5.0) + std::log(5.0 / 2)) / 4).epsilon(1e-15));

    CHECK_THROWS_WITH(unigram_loss(train, ids_of({3}), 3),
                      "unigram_loss: validation[0] is 3 but the vocabulary has 3 characters "
                      "(ids 0 to 2)");
    CHECK_THROWS_WITH(bigram_loss(ids_of({0, -1}), validation, 3),
                      "bigram_loss: train[1] is -1 but the vocabulary has 3 characters "
                      "(ids 0 to 2)");
    CHECK_THROWS_WITH(bigram_loss(train, Eigen::VectorXi(), 3),
                      "bigram_loss: train has 5 ids and validation 0; both need at least one");
    CHECK_THROWS_WITH(unigram_loss(train, validation, 0),
                      "unigram_loss: vocab is 0 but must be at least 1");
}

TEST_CASE("The fortune cookies (Debian's fortunes)", "[text][fortunes]") {
    const std::string dir = "/usr/share/games/fortunes";
    if (!std::filesystem::is_directory(dir)) {
        // "SKIPPED:" makes ctest report the test as skipped (tests/CMakeLists.txt).
        WARN("SKIPPED: no fortune files in " << dir
             << " (install Debian's fortunes to run this test)");
        return;
    }
    const std::string text = backprop::read_fortunes(dir);
    CHECK(text.size() > 2'000'000);
    CHECK(text.find("\n%\n") == std::string::npos);
    const CharTokenizer tokenizer(text);
    CHECK(tokenizer.size() > 90);
    CHECK(tokenizer.size() < 200);
    const Eigen::VectorXi ids = tokenizer.encode(text);
    CHECK(tokenizer.decode(ids) == text);

    const TextBatches batches(ids, 64);
    const double V = static_cast<double>(tokenizer.size());
    const double unigram = unigram_loss(batches.train(), batches.validation(), tokenizer.size());
    const double bigram = bigram_loss(batches.train(), batches.validation(), tokenizer.size());
    // Each model knows more than the one before: uniform log V > unigram > bigram.
    CHECK(unigram < std::log(V) - 0.5);
    CHECK(bigram < unigram - 0.5);
    CHECK(bigram > 1.5);
}
