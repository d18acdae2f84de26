// Tests of data/csv.hpp: values, every malformed row, and the seeded split.
#include <backprop/data/csv.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <clocale>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using backprop::CsvHeader;
using backprop::LabeledData;
using backprop::load_csv;
using Catch::Matchers::Contains;

namespace {

template <typename Scalar>
LabeledData<Scalar> parse(const std::string& text, CsvHeader header = CsvHeader::detect) {
    std::istringstream in(text);
    return load_csv<Scalar>(in, "data.csv", header);
}

template <typename Scalar>
std::string parse_error(const std::string& text, CsvHeader header = CsvHeader::detect) {
    try {
        parse<Scalar>(text, header);
    } catch (const std::runtime_error& error) {
        return error.what();
    }
    return "no exception";
}

}  // namespace

TEMPLATE_TEST_CASE("load_csv: values, labels and the header", "[csv]", float, double) {
    SECTION("with a header, spaces, Windows line ends and blank lines") {
        const auto data = parse<TestType>("x1, x2 ,label\r\n"
                                          "0.1,-2e-3,2\r\n"
                                          "\r\n"
                                          "  7 ,\t-0, 0\r\n"
                                          "1.5,3,1\n");
        REQUIRE(data.X.rows() == 3);
        REQUIRE(data.X.cols() == 2);
        CHECK(data.X(0, 0) == TestType(0.1));  // correctly rounded to TestType, not via double
        CHECK(data.X(0, 1) == TestType(-2e-3));
        CHECK(data.X(1, 0) == 7);
        CHECK(std::signbit(data.X(1, 1)));
        CHECK(data.X(2, 0) == TestType(1.5));
        CHECK(data.labels(0) == 2);
        CHECK(data.labels(1) == 0);
        CHECK(data.labels(2) == 1);
        CHECK(data.header == std::vector<std::string>{"x1", "x2", "label"});
        CHECK(data.size() == 3);
        CHECK(data.classes() == 3);
    }
    SECTION("numbers too small for the type become zero; too large ones are errors") {
        const auto data = parse<TestType>("1e-50,-1e-400,1e-40,0\n");  // not taken for a header
        CHECK(data.header.empty());
        CHECK(data.X(0, 0) == TestType(1e-50));  // 0 in float
        CHECK(data.X(0, 1) == 0);
        CHECK(std::signbit(data.X(0, 1)));
        CHECK(data.X(0, 2) == TestType(1e-40));  // subnormal in float
        CHECK(data.X(0, 2) != 0);
        CHECK_THAT(parse_error<TestType>("1,0\n1e39,0\n"),
                   Contains(sizeof(TestType) == 4 ? "field 1 is '1e39'" : "no exception"));
    }
    SECTION("without a header, and no final line end") {
        const auto data = parse<TestType>("1,2,3\n4,5,6");
        CHECK(data.X.rows() == 2);
        CHECK(data.X(1, 1) == 5);
        CHECK(data.labels(1) == 6);
        CHECK(data.header.empty());
    }
    SECTION("a first line of numbers and words must be said to be a header (sklearn's iris.csv)") {
        const std::string text = "150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n";
        CHECK_THAT(parse_error<TestType>(text),
                   Contains("data.csv:1:7: field 3 is 'setosa', which is not a number, but field "
                            "1 is '150'") &&
                       Contains("pass CsvHeader::present if this line is a header"));
        const auto data = parse<TestType>(text, CsvHeader::present);
        CHECK(data.header.size() == 5);
        CHECK(data.X.rows() == 1);
        CHECK(data.X.cols() == 4);
    }
    SECTION("the header can be forced present or absent") {
        CHECK(parse<TestType>("1,2\n3,4\n", CsvHeader::present).X.rows() == 1);
        CHECK_THAT(parse_error<TestType>("a,b\n3,4\n", CsvHeader::absent),
                   Contains("data.csv:1:1: field 1 is 'a', which is not a finite number"));
    }
    SECTION("through a file") {
        // One file per scalar type: ctest may run the two instances in parallel.
        const std::string path = std::string("test_csv_values_") +
                                 (sizeof(TestType) == 4 ? "float" : "double") + ".csv";
        std::ofstream(path) << "f,label\n0.25,3\n";
        const auto data = load_csv<TestType>(path);
        CHECK(data.X(0, 0) == TestType(0.25));
        CHECK(data.labels(0) == 3);
        std::remove(path.c_str());
    }
}

TEST_CASE("load_csv: a malformed file names the file, line and column", "[csv]") {
    const auto error = [](const std::string& text) { return parse_error<double>(text); };
    CHECK_THAT(error("1,2,3\n4,5\n"),
               Contains("data.csv:2:4: the row has 2 fields but the first row (line 1) has 3"));
    CHECK_THAT(error("a,b,c\n1,2,3\n4,5,6,7\n"),
               Contains("data.csv:3:7: the row has 4 fields but the first row (line 2) has 3"));
    CHECK_THAT(error("1,2,3\n4, abc ,6\n"),
               Contains("data.csv:2:4: field 2 is 'abc', which is not a finite number"));
    CHECK_THAT(error("1,2,3\n4,,6\n"), Contains("data.csv:2:3: field 2 is ''"));
    CHECK_THAT(error("1,2,3\n4,nan,6\n"), Contains("data.csv:2:3: field 2 is 'nan'"));
    CHECK_THAT(error("1,2,3\n4,1e999,6\n"), Contains("data.csv:2:3: field 2 is '1e999'"));
    CHECK_THAT(error("1,2,3\n4,5e,6\n"), Contains("data.csv:2:3: field 2 is '5e'"));
    CHECK_THAT(error("1,2,3\n4,0x1p3,6\n"), Contains("data.csv:2:3: field 2 is '0x1p3'"));
    CHECK_THAT(error("1,2,3\n4,+-5,6\n"), Contains("data.csv:2:3: field 2 is '+-5'"));
    CHECK_THAT(error("1,2,3\n4,5,1.5\n"),
               Contains("data.csv:2:5: the label (field 3) is '1.5', which is not a "
                        "non-negative integer"));
    CHECK_THAT(error("1,2,3\n4,5,-1\n"), Contains("data.csv:2:5: the label (field 3) is '-1'"));
    CHECK_THAT(error("1,2,3\n4,5,99999999999\n"), Contains("is '99999999999'"));
    CHECK_THAT(error("1,2,3\n4,5,\n"), Contains("data.csv:2:5: the label (field 3) is ''"));
    CHECK_THAT(error("x\n7\n"), Contains("data.csv:2:2: the row has 1 field, but a sample "
                                         "needs at least one feature and a label"));
    CHECK_THAT(error(""), Contains("data.csv: no samples"));
    CHECK_THAT(error("\n  \n"), Contains("data.csv: no samples"));
    CHECK_THAT(error("a,b,label\n"), Contains("data.csv: no samples"));
    CHECK_THROWS_WITH(load_csv<float>("no/such/file.csv"),
                      Contains("no/such/file.csv: cannot open the file for reading"));
}

TEMPLATE_TEST_CASE("load_csv: numbers are read alike on every library and in every locale",
                   "[csv]", float, double) {
    SECTION("a leading '+', a bare point, exponents") {
        const auto data = parse<TestType>("+1,.5,1.,-.25e1,+2E+2,0\n");
        CHECK(data.X(0, 0) == 1);
        CHECK(data.X(0, 1) == TestType(0.5));
        CHECK(data.X(0, 2) == 1);
        CHECK(data.X(0, 3) == TestType(-2.5));
        CHECK(data.X(0, 4) == 200);
    }
    SECTION("correctly rounded to the type, ties to even") {
        // 1 + 2⁻²⁴ is halfway between two floats; a float read through double would round the
        // second number to that halfway double, then to even: 1.
        const auto data = parse<TestType>("1.000000059604644775390625,"
                                          "1.0000000596046447753906250000000001,"
                                          "0.000123456789012345678901234567890e4,0\n");
        // The compiler rounds the literals correctly: each pair is the float and the double.
        const auto expect = [](float f, double d) { return sizeof(TestType) == 4 ? f : d; };
        CHECK(data.X(0, 0) == expect(1.000000059604644775390625f, 1.000000059604644775390625));
        CHECK(data.X(0, 1) == expect(1.0000000596046447753906250000000001f,
                                     1.0000000596046447753906250000000001));
        if (sizeof(TestType) == 4) CHECK(data.X(0, 1) != data.X(0, 0));  // 1 + 2⁻²³, 1
        CHECK(data.X(0, 2) == expect(1.23456789012345678901234567890f,
                                     1.23456789012345678901234567890));
    }
    SECTION("exponents far beyond the range") {
        const auto data = parse<TestType>(
            "0e99999999999999999999,-5e-99999999999999999999,"
            "0.000000000000000000000000000000000000000000000001e48,0\n");
        CHECK(data.X(0, 0) == 0);
        CHECK(data.X(0, 1) == 0);
        CHECK(std::signbit(data.X(0, 1)));
        CHECK(data.X(0, 2) == 1);
        CHECK_THAT(parse_error<TestType>("1,0\n1e99999999999999999999,0\n"),
                   Contains("data.csv:2:1: field 1 is '1e99999999999999999999', which is beyond "
                            "the largest"));
    }
    SECTION("a locale whose decimal point is a comma changes nothing") {
        const std::string before = std::setlocale(LC_NUMERIC, nullptr);
        const char* found = nullptr;
        for (const char* name : {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "de_DE", "German"}) {
            if ((found = std::setlocale(LC_NUMERIC, name)) != nullptr) break;
        }
        if (found == nullptr) {
            WARN("no locale with a decimal comma is installed: only the C locale is tested");
        }
        const auto data = parse<TestType>("1.5,2.25e1,0\n");
        std::setlocale(LC_NUMERIC, before.c_str());
        CHECK(data.X(0, 0) == TestType(1.5));
        CHECK(data.X(0, 1) == TestType(22.5));
    }
}

TEMPLATE_TEST_CASE("load_csv: no first line is dropped silently", "[csv]", float, double) {
    SECTION("a typo in the first sample is an error, not a header") {
        CHECK_THAT(parse_error<TestType>("0.1,O.2,1\n0.3,0.4,0\n"),
                   Contains("data.csv:1:5: field 2 is 'O.2', which is not a number, but field 1 "
                            "is '0.1': a header has no number and a sample only numbers (pass "
                            "CsvHeader::present if this line is a header)"));
    }
    SECTION("a trailing comma on line 1 is an error, not a header") {
        CHECK_THAT(parse_error<TestType>("1,2,0,\n3,4,1\n"),
                   Contains("data.csv:1:7: field 4 is '', which is not a number, but field 1 is "
                            "'1'"));
        const auto data = parse<TestType>("x,y,label,\n3,4,1\n");  // only words and an empty one
        CHECK(data.header == std::vector<std::string>{"x", "y", "label", ""});
        CHECK(data.size() == 1);
    }
    SECTION("a signed number on line 1 is a sample") {
        const auto data = parse<TestType>("+1,-2,0\n3,4,1\n");
        CHECK(data.header.empty());
        REQUIRE(data.size() == 2);
        CHECK(data.X(0, 0) == 1);
        CHECK(data.X(0, 1) == -2);
    }
    SECTION("a number beyond the type on line 1 is a range error, not a header") {
        const std::string text = "1e39,2,0\n3,4,1\n";
        if (sizeof(TestType) == 4) {
            CHECK_THAT(parse_error<TestType>(text),
                       Contains("data.csv:1:1: field 1 is '1e39', which is beyond the largest "
                                "float (3.40282e+38)"));
        } else {
            CHECK(parse<TestType>(text).X(0, 0) == TestType(1e39));
        }
        CHECK_THAT(parse_error<TestType>("1,99999999999\n2,1\n"),
                   Contains("data.csv:1:3: the label (field 2) is '99999999999'"));
    }
    SECTION("a UTF-8 byte order mark is skipped") {
        const auto header = parse<TestType>("\xEF\xBB\xBFx,label\n1,0\n");
        CHECK(header.header == std::vector<std::string>{"x", "label"});
        CHECK(header.size() == 1);
        const auto samples = parse<TestType>("\xEF\xBB\xBF" "1,0\n2,1\n");
        CHECK(samples.header.empty());
        CHECK(samples.size() == 2);
        CHECK(parse<TestType>("\xEF\xBB\xBF\r\n1,0\n").size() == 1);
        // Columns count from after the mark; a mark elsewhere is an ordinary field's bytes.
        CHECK_THAT(parse_error<TestType>("\xEF\xBB\xBF" "1,a\n"),
                   Contains("data.csv:1:3: field 2 is 'a'"));
        CHECK_THAT(parse_error<TestType>("1,0\n\xEF\xBB\xBF" "2,1\n"),
                   Contains("data.csv:2:1: field 1 is '\\xef\\xbb\\xbf2'"));
    }
}

TEST_CASE("load_csv: labels are range-checked before any arithmetic", "[csv]") {
    CHECK_THAT(parse_error<double>("1,2147483647\n"),
               Contains("data.csv:1:3: the label (field 2) is '2147483647', which is above the "
                        "largest label, 16777215"));
    CHECK_THAT(parse_error<double>("1,0\n1,16777216\n"),
               Contains("data.csv:2:3: the label (field 2) is '16777216', which is above"));
    CHECK_THAT(parse_error<double>("1,0\n1,123456789012345678901234567890\n"),
               Contains("data.csv:2:3: the label (field 2) is '123456789012345678901234567890', "
                        "which is above"));
    CHECK_THAT(parse_error<double>("1,0\n1,-0x1\n"),
               Contains("which is not a non-negative integer"));
    const auto data = parse<float>("1,16777215\n2,+3\n3,-0\n");
    CHECK(data.labels(0) == backprop::csv_max_label);
    CHECK(data.labels(1) == 3);
    CHECK(data.labels(2) == 0);
    CHECK(data.classes() == 16777216);

    LabeledData<float> made;  // labels set by hand, not by load_csv
    made.labels = Eigen::VectorXi::Constant(2, std::numeric_limits<int>::max());
    CHECK_THROWS_MATCHES(made.classes(), std::overflow_error,
                         Catch::Matchers::Message("LabeledData::classes: the largest label is "
                                                  "2147483647, so the number of classes does not "
                                                  "fit in an int"));
}

TEST_CASE("load_csv: a line has at most csv_max_fields fields", "[csv]") {
    STATIC_REQUIRE(backprop::csv_max_fields == 1'000'000);
    // 10 MB of commas: rejected at once, before anything is allocated per field.
    CHECK_THAT(parse_error<float>(std::string(10'000'000, ',') + "\n"),
               Contains("data.csv:1:1000001: the row has 10000001 fields, more than the 1000000 "
                        "a line may have"));
    CHECK_THAT(parse_error<float>("1,0\n" + std::string(1'000'000, ',') + "\n"),
               Contains("data.csv:2:1000001: the row has 1000001 fields"));

    // The longest line allowed loads.
    std::string longest;
    for (std::size_t i = 1; i < backprop::csv_max_fields; ++i) longest += "0.5,";
    longest += "7\n";
    const auto data = parse<float>(longest);
    REQUIRE(data.X.cols() == 999'999);
    CHECK((data.X.array() == 0.5f).all());
    CHECK(data.labels(0) == 7);
}

TEST_CASE("load_csv: a header has at most csv_max_header_fields fields", "[csv]") {
    STATIC_REQUIRE(backprop::csv_max_header_fields == 65'536);
    // A 1 MB header line of commas would be a million strings, 32 MB: rejected before any is made,
    // whether the header is detected (no field is a number) or declared.
    const std::string commas = std::string(999'999, ',') + "\n1,0\n";
    for (const auto header : {CsvHeader::detect, CsvHeader::present}) {
        CHECK_THAT(parse_error<float>(commas, header),
                   Contains("data.csv:1:65537: the header has 1000000 fields, more than the 65536 "
                            "a header may have"));
    }

    // The widest header allowed loads, and what its fields hold stays within the cap's bound:
    // 2 MiB of strings (32 bytes each on libstdc++, 24 on libc++) besides the text of the names
    // too long for a string's own buffer, here none.
    std::string widest;
    for (std::size_t i = 0; i < backprop::csv_max_header_fields; ++i) widest += "x,";
    widest.back() = '\n';
    std::string row;
    for (std::size_t i = 1; i < backprop::csv_max_header_fields; ++i) row += "1,";
    const auto data = parse<float>(widest + row + "0\n");
    REQUIRE(data.header.size() == backprop::csv_max_header_fields);
    CHECK(data.header.front() == "x");
    std::size_t held = data.header.capacity() * sizeof(std::string);
    for (const std::string& field : data.header) {
        held += field.capacity() > std::string().capacity() ? field.capacity() + 1 : 0;
    }
    CHECK(held <= std::size_t{2} << 20);
    CHECK(data.X.cols() == 65'535);
}

TEST_CASE("load_csv: the file's bytes are escaped and cut short in messages", "[csv]") {
    using namespace std::string_literals;
    CHECK_THAT(parse_error<double>("1,2,3\n4,a\x01\0b\x7f,6\n"s),
               Contains("data.csv:2:3: field 2 is 'a\\x01\\x00b\\x7f', which is not a finite "
                        "number"));
    CHECK_THAT(parse_error<double>("1,2,3\n4,\xC3\xA9t\xC3\xA9,6\n"),
               Contains("field 2 is '\\xc3\\xa9t\\xc3\\xa9'"));
    CHECK_THAT(parse_error<double>("1,2,3\n4,5,\x1b[31m\n"),
               Contains("the label (field 3) is '\\x1b[31m'"));
    const std::string message =
        parse_error<double>("1,2,3\n4," + std::string(5'000'000, 'x') + ",6\n");
    CHECK_THAT(message,
               Contains("data.csv:2:3: field 2 is '" + std::string(40, 'x') +
                        "... (5000000 bytes)', which is not a finite number"));
    CHECK(message.size() < 200);
    CHECK(backprop::detail::escape_bytes("tab\there\\", 8) == "tab\\x09here... (9 bytes)");
}

TEST_CASE("train_test_split: the same seed gives the same split", "[csv]") {
    // Sample i has feature i and label i % 3, so every row can be traced back.
    std::ostringstream text;
    for (int i = 0; i < 50; ++i) text << i << ',' << (i % 3) << '\n';
    const auto data = parse<double>(text.str());

    const auto split = backprop::train_test_split(data, 0.3, 42);
    CHECK(split.test.size() == 15);  // ⌈0.3·50⌉
    CHECK(split.train.size() == 35);

    std::vector<int> seen;
    for (const auto* part : {&split.train, &split.test}) {
        for (Eigen::Index r = 0; r < part->size(); ++r) {
            const int i = static_cast<int>(part->X(r, 0));
            CHECK(part->labels(r) == i % 3);
            seen.push_back(i);
        }
    }
    std::sort(seen.begin(), seen.end());
    for (int i = 0; i < 50; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i);

    const auto again = backprop::train_test_split(data, 0.3, 42);
    CHECK(again.test.X == split.test.X);
    CHECK(again.train.labels == split.train.labels);
    const auto other = backprop::train_test_split(data, 0.3, 43);
    CHECK(other.test.X != split.test.X);

    // The permutation is pinned (computed independently in Python from the documented
    // algorithm): a change would silently change every split made with a seed.
    const double first[] = {3, 22, 19, 2, 0};
    for (Eigen::Index r = 0; r < 5; ++r) CHECK(split.test.X(r, 0) == first[r]);
}

TEST_CASE("train_test_split: bad fractions throw", "[csv]") {
    const auto data = parse<float>("1,0\n2,1\n3,0\n");
    CHECK_THROWS_AS(backprop::train_test_split(data, 0.0, 1), std::invalid_argument);
    CHECK_THROWS_AS(backprop::train_test_split(data, 1.0, 1), std::invalid_argument);
    CHECK_THROWS_WITH(backprop::train_test_split(data, 0.9, 1),
                      Contains("train_test_split: test_fraction is 0.9 of 3 samples but both "
                               "sets must be non-empty"));
    CHECK(backprop::train_test_split(data, 0.5, 1).test.size() == 2);
}
