// Tests of io/serialize.hpp and io/parameters.hpp: round trips and every corrupt file.
#include "helpers.hpp"

#include <backprop/io/parameters.hpp>
#include <backprop/io/serialize.hpp>
#include <backprop/layers/dense.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

using backprop::Dense;
using backprop::load_parameters;
using backprop::save_parameters;
using Catch::Matchers::Contains;

namespace model {

/// A hand-rolled two-layer model: all serialize.hpp needs is for_each_parameter.
template <typename Scalar>
struct TwoLayers {
    Dense<Scalar> first{3, 4, 1};
    Dense<Scalar, 4, 2> second{2};
};

template <typename Model, typename F>
void visit_two(Model& model, F&& f) {
    for_each_parameter(model.first, f);
    for_each_parameter(model.second, f);
}

template <typename Scalar, typename F>
void for_each_parameter(TwoLayers<Scalar>& model, F&& f) {
    visit_two(model, f);
}

template <typename Scalar, typename F>
void for_each_parameter(const TwoLayers<Scalar>& model, F&& f) {
    visit_two(model, f);
}

/// A model that mixes float and double, which no file can hold.
struct Mixed {
    Dense<float> first{2, 2};
    Dense<double> second{2, 1};
};

template <typename F>
void for_each_parameter(const Mixed& model, F&& f) {
    for_each_parameter(model.first, f);
    for_each_parameter(model.second, f);
}

template <typename F>
void for_each_parameter(Mixed& model, F&& f) {
    for_each_parameter(model.first, f);
    for_each_parameter(model.second, f);
}

/// A model without parameters (activations only): its file holds no values, and dtype 0.
struct NoParameters {};

template <typename F>
void for_each_parameter(const NoParameters&, F&&) {}

}  // namespace model

namespace {

template <typename Model>
std::string saved(const Model& model) {
    std::ostringstream out;
    save_parameters(out, model);
    return out.str();
}

/// Fills every parameter with values that a lossy round trip would change: NaNs with payloads,
/// both zeros, infinities, subnormals, the extremes, and ordinary numbers.
template <typename Model>
void fill_special(Model& model) {
    int k = 0;
    for_each_parameter(model, [&k](const char*, auto& tensor) {
        using Scalar = typename std::decay_t<decltype(tensor)>::Scalar;
        using Limits = std::numeric_limits<Scalar>;
        const auto nan = [](const char* payload) {  // quiet NaNs with the payload in low bits
            return std::is_same_v<Scalar, float> ? std::nanf(payload) : Scalar(std::nan(payload));
        };
        const Scalar special[] = {nan("7"),             -nan("12345"),  Scalar(-0.0),
                                  Scalar(0.0),          Limits::infinity(), -Limits::infinity(),
                                  Limits::denorm_min(), Limits::max(),  Limits::lowest(),
                                  Scalar(0.1),          Limits::epsilon(), Scalar(-3.25)};
        for (Eigen::Index i = 0; i < tensor.rows(); ++i) {
            for (Eigen::Index j = 0; j < tensor.cols(); ++j) {
                tensor(i, j) = special[k++ % 12];
            }
        }
    });
}

/// Every parameter of `a` has the same bits as the same parameter of `b`.
template <typename Model>
bool same_bits(const Model& a, const Model& b) {
    return saved(a) == saved(b);  // the encoding is the bits themselves, so this is bitwise
}

template <typename Model>
std::string loading_error(const std::string& bytes, Model& model) {
    std::istringstream in(bytes);
    try {
        load_parameters(in, model, "model.bin");
    } catch (const std::runtime_error& error) {
        return error.what();
    }
    return "no exception";
}

void put_u32(std::string& bytes, std::size_t at, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(value >> (8 * i));
}

}  // namespace

TEMPLATE_TEST_CASE("save/load: a round trip is bit-exact", "[serialize]", float, double) {
    SECTION("dynamic Dense") {
        Dense<TestType> layer(5, 3, 11), copy(5, 3, 12);
        fill_special(layer);
        std::stringstream file;
        save_parameters(file, layer);
        load_parameters(file, copy);
        CHECK(same_bits(layer, copy));
        // NaN payloads and the sign of zero survive: compare the raw bits of two coefficients.
        CHECK(std::memcmp(&layer.W(0, 0), &copy.W(0, 0), sizeof(TestType)) == 0);
        CHECK(std::signbit(copy.W(0, 2)));
        CHECK(file.peek() == std::char_traits<char>::eof());  // exactly the bytes written
    }
    SECTION("fixed-size Dense") {
        Dense<TestType, 4, 2> layer(3), copy(4);
        fill_special(layer);
        std::stringstream file;
        save_parameters(file, layer);
        load_parameters(file, copy);
        CHECK(same_bits(layer, copy));
    }
    SECTION("a hand-rolled model of two layers") {
        model::TwoLayers<TestType> net, copy;
        copy.first = Dense<TestType>(3, 4, 99);
        fill_special(net);
        std::stringstream file;
        save_parameters(file, net);
        load_parameters(file, copy);
        CHECK(same_bits(net, copy));
        CHECK(backprop::parameter_count(net) == 3 * 4 + 4 + 4 * 2 + 2);
    }
    SECTION("through a file") {
        Dense<TestType> layer(2, 6, 5), copy(2, 6, 6);
        fill_special(layer);
        const std::string path = std::string("test_serialize_round_trip_") +
                                 (sizeof(TestType) == 4 ? "float" : "double") + ".bin";
        save_parameters(path, layer);
        save_parameters(path, layer);  // replacing an existing file
        load_parameters(path, copy);
        CHECK(same_bits(layer, copy));

        std::ofstream(path, std::ios::binary | std::ios::app) << 'x';
        const auto before = saved(copy);
        CHECK_THROWS_WITH(load_parameters(path, copy),
                          Contains(path) && Contains("unexpected bytes after the last value"));
        CHECK(saved(copy) == before);
        std::remove(path.c_str());
    }
}

TEST_CASE("save/load: the bytes of a file are the documented format", "[serialize]") {
    Dense<float> layer(2, 1);
    layer.W << 1.0f, -2.0f;
    layer.b << 0.5f;
    const std::string expected("BACKPROP"                          // magic
                               "\x01\0\0\0"                        // version 1
                               "\x01\0\0\0"                        // dtype float32
                               "\x02\0\0\0\0\0\0\0"                // 2 tensors
                               "\x02\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0"  // W is 2x1
                               "\x01\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0"  // b is 1x1
                               "\0\0\x80\x3f"                      // 1.0f
                               "\0\0\0\xc0"                        // -2.0f
                               "\0\0\0\x3f",                       // 0.5f
                               8 + 4 + 4 + 8 + 32 + 12);
    CHECK(saved(layer) == expected);
}

TEMPLATE_TEST_CASE("save/load: a bad file throws and leaves the model unchanged", "[serialize]",
                   float, double) {
    model::TwoLayers<TestType> net;
    const std::string good = saved(net);
    fill_special(net);
    const std::string before = saved(net);
    const std::string dtype = sizeof(TestType) == 4 ? "float32" : "float64";

    SECTION("truncated anywhere") {
        for (std::size_t size = 0; size < good.size(); ++size) {
            const std::string message = loading_error(good.substr(0, size), net);
            INFO("the file cut after " << size << " bytes: " << message);
            CHECK_THAT(message, Contains("model.bin: truncated file: expected"));
            CHECK(saved(net) == before);
        }
        CHECK_THAT(loading_error(good.substr(0, good.size() - 1), net),
                   Contains("expected " + std::to_string(backprop::parameter_count(net) *
                                                         sizeof(TestType))) &&
                       Contains("bytes of values"));
    }
    SECTION("bad magic") {
        std::string bad = good;
        bad[0] = 'b';
        bad[7] = '\x01';
        CHECK_THAT(loading_error(bad, net),
                   Contains("not a backprop parameter file: the magic is 'bACKPRO\\x01' but "
                            "should be 'BACKPROP'"));
        CHECK_THAT(loading_error("hello, world", net), Contains("the magic is 'hello, w'"));
    }
    SECTION("another version") {
        std::string bad = good;
        put_u32(bad, 8, 2);
        CHECK_THAT(loading_error(bad, net),
                   Contains("format version 2, but this library reads version 1"));
    }
    SECTION("another dtype") {
        model::TwoLayers<std::conditional_t<sizeof(TestType) == 4, double, float>> other;
        CHECK_THAT(loading_error(saved(other), net),
                   Contains("the file's dtype is " + std::string(sizeof(TestType) == 4 ? "float64" :
                            "float32") + " but the model's parameters are " + dtype));
        std::string bad = good;
        put_u32(bad, 12, 9);
        CHECK_THAT(loading_error(bad, net),
                   Contains("the file's dtype is unknown (9) but the model's parameters are " +
                            dtype));
    }
    SECTION("another number of tensors") {
        CHECK_THAT(loading_error(saved(Dense<TestType>(3, 4)), net),
                   Contains("the file holds 2 tensors but the model has 4"));
    }
    SECTION("another shape") {
        model::TwoLayers<TestType> other;
        other.first = Dense<TestType>(3, 5);
        const std::string bad = saved(other);
        CHECK_THAT(loading_error(bad, net),
                   Contains("tensor 0 ('W') is 3x5 in the file but 3x4 in the model"));
        std::string huge = good;
        for (std::size_t i = 24; i < 32; ++i) huge[i] = '\xff';  // rows of W: 2⁶⁴ − 1
        CHECK_THAT(loading_error(huge, net),
                   Contains("tensor 0 ('W') is 18446744073709551615x4 in the file"));
    }
    CHECK(saved(net) == before);
}

TEST_CASE("save/load: errors outside the file", "[serialize]") {
    Dense<double> layer(2, 2);
    const auto before = saved(layer);
    CHECK_THROWS_WITH(load_parameters("no/such/file.bin", layer),
                      Contains("no/such/file.bin: cannot open the file for reading"));
    CHECK_THROWS_AS(save_parameters("no/such/dir/file.bin", layer), std::runtime_error);
    CHECK(saved(layer) == before);

    model::Mixed mixed;
    std::ostringstream out;
    CHECK_THROWS_AS(save_parameters(out, mixed), std::invalid_argument);
    CHECK_THROWS_WITH(save_parameters(out, mixed),
                      Contains("save_parameters: tensor 2 ('W') is float64") &&
                          Contains("before it are float32"));
    CHECK(out.str().empty());
    std::istringstream in(before);
    CHECK_THROWS_AS(load_parameters(in, mixed), std::invalid_argument);
}

TEST_CASE("save/load: a model without parameters", "[serialize]") {
    model::NoParameters none;
    const std::string file = saved(none);
    CHECK(file == std::string("BACKPROP\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24));
    std::istringstream in(file);
    load_parameters(in, none);
    CHECK(backprop::parameter_count(none) == 0);
    Dense<float> layer(1, 1);
    CHECK_THAT(loading_error(file, layer),
               Contains("the file's dtype is none (no tensors) but the model's parameters are "
                        "float32"));
}
