// Tests of data/csv.hpp: values, every malformed row, and the seeded split.
#include <backprop/data/csv.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
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
    SECTION("a first line with any non-number is a header (sklearn's iris.csv)") {
        const auto data = parse<TestType>("150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n");
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
    CHECK_THAT(error("1,2,3\n4,+5,6\n"), Contains("data.csv:2:3: field 2 is '+5'"));
    CHECK_THAT(error("1,2,3\n4,5,1.5\n"),
               Contains("data.csv:2:5: the label (field 3) is '1.5', which is not a "
                        "non-negative integer"));
    CHECK_THAT(error("1,2,3\n4,5,-1\n"), Contains("data.csv:2:5: the label (field 3) is '-1'"));
    CHECK_THAT(error("1,2,3\n4,5,99999999999\n"), Contains("is '99999999999'"));
    CHECK_THAT(error("x\n7\n"), Contains("data.csv:2:2: the row has 1 field, but a sample "
                                         "needs at least one feature and a label"));
    CHECK_THAT(error(""), Contains("data.csv: no samples"));
    CHECK_THAT(error("\n  \n"), Contains("data.csv: no samples"));
    CHECK_THAT(error("a,b,label\n"), Contains("data.csv: no samples"));
    CHECK_THROWS_WITH(load_csv<float>("no/such/file.csv"),
                      Contains("no/such/file.csv: cannot open the file for reading"));
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
