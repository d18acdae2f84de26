// Tests of io/serialize.hpp: parameter files (version 2, and version 1 still read), checkpoints
// that resume training bit for bit, and every corrupt or mismatched file.
#include "helpers.hpp"

#include <backprop/io/serialize.hpp>
#include <backprop/layers/activations.hpp>
#include <backprop/layers/conv2d.hpp>
#include <backprop/layers/dense.hpp>
#include <backprop/layers/dropout.hpp>
#include <backprop/layers/normalization.hpp>
#include <backprop/layers/pooling.hpp>
#include <backprop/losses/mse.hpp>
#include <backprop/losses/softmax_cross_entropy.hpp>
#include <backprop/nn/sequential.hpp>
#include <backprop/optim/adam.hpp>
#include <backprop/optim/momentum.hpp>
#include <backprop/optim/sgd.hpp>

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

namespace bp = backprop;
using bp::Dense;
using bp::load_checkpoint;
using bp::load_parameters;
using bp::save_checkpoint;
using bp::save_parameters;
using Catch::Matchers::Contains;

namespace {

/// The network of these tests: 4 inputs, 5 hidden units, 3 outputs.
template <typename Scalar, template <typename, int> class Activation = bp::ReLU>
using Net = bp::Sequential<Dense<Scalar>, Activation<Scalar, Eigen::Dynamic>, Dense<Scalar>>;

template <typename Scalar>
Net<Scalar> make_net(std::uint64_t seed, Eigen::Index hidden = 5) {
    return Net<Scalar>(Dense<Scalar>(4, hidden, seed), bp::ReLU<Scalar>(),
                       Dense<Scalar>(hidden, 3, seed + 1));
}

template <typename Model>
std::string saved(const Model& model) {
    std::ostringstream out;
    save_parameters(out, model);
    return out.str();
}

/// The checkpoint bytes of a model and its optimiser: equal strings mean equal bits of every
/// parameter, every state and every setting, since the encoding is the bits themselves.
template <typename Model, typename Optimizer>
std::string checkpoint(const Model& model, const Optimizer& optimizer) {
    std::ostringstream out;
    save_checkpoint(out, model, optimizer);
    return out.str();
}

/// Values that a lossy round trip would change: NaNs with payloads, both zeros, infinities,
/// subnormals, the extremes, and ordinary numbers.
template <typename Matrix>
void fill_special(Matrix& tensor, int& k) {
    using Scalar = typename Matrix::Scalar;
    using Limits = std::numeric_limits<Scalar>;
    const auto nan = [](const char* payload) {  // quiet NaNs with the payload in low bits
        return std::is_same_v<Scalar, float> ? std::nanf(payload) : Scalar(std::nan(payload));
    };
    const Scalar special[] = {nan("7"),          -nan("12345"),        Scalar(-0.0),
                              Scalar(0.0),       Limits::infinity(),   -Limits::infinity(),
                              Limits::denorm_min(), Limits::max(),     Limits::lowest(),
                              Scalar(0.1),       Limits::epsilon(),    Scalar(-3.25)};
    for (Eigen::Index i = 0; i < tensor.rows(); ++i) {
        for (Eigen::Index j = 0; j < tensor.cols(); ++j) tensor(i, j) = special[k++ % 12];
    }
}

template <typename Model>
void fill_special(Model& model) {
    int k = 0;
    bp::for_each_parameter(model, [&k](const auto& parameter) { fill_special(parameter.value, k); });
}

/// Whether every value of `a` has the bits of the same value of `b` (a and b of one shape).
template <typename A, typename B>
bool same_bits(const A& a, const B& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() &&
           std::memcmp(a.data(), b.data(), sizeof(typename A::Scalar) * a.size()) == 0;
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

template <typename Model, typename Optimizer>
std::string resuming_error(const std::string& bytes, Model& model, Optimizer& optimizer) {
    std::istringstream in(bytes);
    try {
        load_checkpoint(in, model, optimizer, "model.ckpt");
    } catch (const std::runtime_error& error) {
        return error.what();
    }
    return "no exception";
}

void put_u32(std::string& bytes, std::size_t at, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(value >> (8 * i));
}

void put_f64(std::string& bytes, std::size_t at, double value) {
    std::uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    for (int i = 0; i < 8; ++i) bytes[at + i] = static_cast<char>(bits >> (8 * i));
}

/// `steps` steps of training from step `first` on: each step k has its own batch of 6 samples,
/// drawn from k, and a loss of its own (cross-entropy, or MSE against targets drawn from k).
/// At step 2 the learning rate is halved, as a schedule would: a checkpoint must keep it.
template <typename Scalar, typename Optimizer>
void train(Net<Scalar>& net, Optimizer& optimizer, int first, int steps, bool mse) {
    for (int k = first; k < first + steps; ++k) {
        const auto X = test::random_matrix<Scalar>(6, 4, 100 + k);
        const auto& Y = net.forward(X);
        if (mse) {
            bp::MSE<Scalar> loss;
            loss.forward(Y, test::random_matrix<Scalar>(6, 3, 200 + k));
            net.backward(loss.backward());
        } else {
            Eigen::VectorXi labels(6);
            for (int i = 0; i < 6; ++i) labels(i) = (i + k) % 3;
            bp::SoftmaxCrossEntropy<Scalar> loss;
            loss.forward(Y, labels);
            net.backward(loss.backward());
        }
        if (k == 2) optimizer.set_lr(optimizer.lr() / 2);
        optimizer.step(net);
    }
}

/// Trains 2N steps without stopping, and N steps, a checkpoint, N more steps in new objects:
/// the two must end with the same bits everywhere.
template <typename Scalar, typename Make>
void check_resumed_training_is_identical(Make make_optimizer, bool mse) {
    constexpr int N = 3;
    auto net = make_net<Scalar>(1);
    auto optimizer = make_optimizer();
    train(net, optimizer, 0, 2 * N, mse);

    auto first = make_net<Scalar>(1);
    auto first_optimizer = make_optimizer();
    train(first, first_optimizer, 0, N, mse);
    std::stringstream file;
    save_checkpoint(file, first, first_optimizer);

    auto resumed = make_net<Scalar>(7);  // other values, fresh states, the initial lr
    auto resumed_optimizer = make_optimizer();
    REQUIRE(checkpoint(resumed, resumed_optimizer) != checkpoint(first, first_optimizer));
    load_checkpoint(file, resumed, resumed_optimizer);
    CHECK(file.peek() == std::char_traits<char>::eof());
    CHECK(checkpoint(resumed, resumed_optimizer) == checkpoint(first, first_optimizer));
    CHECK(resumed_optimizer.lr() == make_optimizer().lr() / 2);  // the schedule's, restored
    bp::for_each_parameter(resumed, [&](const auto& parameter) {
        CHECK(parameter.state.kind == resumed_optimizer.kind());
        CHECK(parameter.state.steps == N);
    });

    train(resumed, resumed_optimizer, N, N, mse);
    CHECK(checkpoint(resumed, resumed_optimizer) == checkpoint(net, optimizer));
    const auto X = test::random_matrix<Scalar>(5, 4, 99);
    CHECK(same_bits(resumed.predict(X), net.predict(X)));
}

}  // namespace

TEMPLATE_TEST_CASE("checkpoint: N steps, save, load into new objects, N steps = 2N steps",
                   "[serialize][checkpoint]", float, double) {
    using S = TestType;
    SECTION("SGD with weight decay, MSE") {
        check_resumed_training_is_identical<S>([] { return bp::SGD<S>(S(0.1), S(0.01)); }, true);
    }
    SECTION("Momentum, cross-entropy") {
        check_resumed_training_is_identical<S>([] { return bp::Momentum<S>(S(0.1), S(0.9)); },
                                               false);
    }
    SECTION("Nesterov with weight decay, cross-entropy") {
        check_resumed_training_is_identical<S>(
            [] { return bp::Momentum<S>(S(0.1), S(0.9), true, S(0.001)); }, false);
    }
    SECTION("Adam, cross-entropy") {
        check_resumed_training_is_identical<S>([] { return bp::Adam<S>(S(0.01)); }, false);
    }
    SECTION("Adam, MSE") {
        check_resumed_training_is_identical<S>([] { return bp::Adam<S>(S(0.01)); }, true);
    }
    SECTION("AdamW, cross-entropy") {
        check_resumed_training_is_identical<S>(
            [] { return bp::AdamW<S>(S(0.01), S(0.9), S(0.999), S(1e-8), S(0.1)); }, false);
    }
}

TEMPLATE_TEST_CASE("save/load: a round trip is bit-exact", "[serialize]", float, double) {
    SECTION("dynamic Dense") {
        Dense<TestType> layer(5, 3, 11), copy(5, 3, 12);
        fill_special(layer);
        std::stringstream file;
        save_parameters(file, layer);
        load_parameters(file, copy);
        CHECK(saved(copy) == saved(layer));
        CHECK(same_bits(copy.W, layer.W));  // NaN payloads survive
        CHECK(std::signbit(copy.W(0, 2)));
        CHECK(file.peek() == std::char_traits<char>::eof());  // exactly the bytes written
    }
    SECTION("fixed-size Dense") {
        Dense<TestType, 4, 2> layer(3), copy(4);
        fill_special(layer);
        std::stringstream file;
        save_parameters(file, layer);
        load_parameters(file, copy);
        CHECK(same_bits(copy.W, layer.W));
        CHECK(same_bits(copy.b, layer.b));
    }
    SECTION("a Sequential, through a file") {
        auto net = make_net<TestType>(1), copy = make_net<TestType>(2);
        fill_special(net);
        const std::string path = std::string("test_serialize_round_trip_") +
                                 (sizeof(TestType) == 4 ? "float" : "double") + ".bin";
        save_parameters(path, net);
        save_parameters(path, net);  // replacing an existing file
        load_parameters(path, copy);
        CHECK(saved(copy) == saved(net));
        std::remove(path.c_str());
    }
    SECTION("a checkpoint with special values in its states, through a file") {
        auto net = make_net<TestType>(1), copy = make_net<TestType>(2);
        bp::Adam<TestType> adam(TestType(0.01)), other(TestType(0.01));
        train(net, adam, 0, 3, false);
        int k = 0;
        bp::for_each_parameter(net, [&k](const auto& parameter) {
            fill_special(parameter.value, k);
            fill_special(parameter.state.moment1, k);
            fill_special(parameter.state.moment2, k);
        });
        const std::string path = std::string("test_serialize_checkpoint_") +
                                 (sizeof(TestType) == 4 ? "float" : "double") + ".ckpt";
        save_checkpoint(path, net, adam);
        load_checkpoint(path, copy, other);
        CHECK(checkpoint(copy, other) == checkpoint(net, adam));
        CHECK(same_bits(copy.template layer<2>().b, net.template layer<2>().b));

        std::ofstream(path, std::ios::binary | std::ios::app) << 'x';
        auto third = make_net<TestType>(3);
        bp::Adam<TestType> third_adam(TestType(0.01));
        const auto before = checkpoint(third, third_adam);
        CHECK_THROWS_WITH(load_checkpoint(path, third, third_adam),
                          Contains(path) && Contains("unexpected bytes after the last value"));
        CHECK(checkpoint(third, third_adam) == before);
        std::remove(path.c_str());
    }
}

TEMPLATE_TEST_CASE("load_parameters: a file with bytes after its end changes no value of a "
                   "model that differs from it",
                   "[serialize]", float, double) {
    // A loader that wrote values before finding the extra byte would pass a test that reloads
    // the values the model already holds: here every value of the model differs from the file's.
    const auto source = make_net<TestType>(1);
    const std::string path = std::string("test_serialize_trailing_") +
                             (sizeof(TestType) == 4 ? "float" : "double") + ".bin";
    save_parameters(path, source);
    std::ofstream(path, std::ios::binary | std::ios::app) << 'x';

    auto model = make_net<TestType>(2);
    fill_special(model);  // no value equals the file's: NaNs, infinities, extremes, 0.1, -3.25…
    const auto before = model;
    const auto differs_from_source = [&] {
        Eigen::Index differing = 0;
        const auto count = [&](const auto& a, const auto& b) {
            differing += (a.array() != b.array()).count();
        };
        count(model.template layer<0>().W, source.template layer<0>().W);
        count(model.template layer<0>().b, source.template layer<0>().b);
        count(model.template layer<2>().W, source.template layer<2>().W);
        count(model.template layer<2>().b, source.template layer<2>().b);
        return differing;
    };
    REQUIRE(differs_from_source() == bp::parameter_count(model));

    CHECK_THROWS_WITH(load_parameters(path, model),
                      Contains(path) && Contains("unexpected bytes after the last value"));
    CHECK(same_bits(model.template layer<0>().W, before.template layer<0>().W));
    CHECK(same_bits(model.template layer<0>().b, before.template layer<0>().b));
    CHECK(same_bits(model.template layer<2>().W, before.template layer<2>().W));
    CHECK(same_bits(model.template layer<2>().b, before.template layer<2>().b));
    CHECK(differs_from_source() == bp::parameter_count(model));
    std::remove(path.c_str());
}

TEST_CASE("save/load: the bytes of a file are the documented format", "[serialize]") {
    Dense<float> layer(2, 1);
    layer.W << 1.0f, -2.0f;
    layer.b << 0.5f;
    const std::string parameters(
        "BACKPROP"                                  // magic
        "\x02\0\0\0"                                // version 2
        "\x01\0\0\0"                                // dtype float32
        "\x01\0\0\0"                                // contents: parameters
        "\x01\0\0\0"                                // 1 layer
        "\x05" "Dense"                              // its kind
        "\x02\0\0\0"                                // 2 settings
        "\x02" "in" "\0\0\0\0\0\0\0\x40"            // in = 2.0
        "\x03" "out" "\0\0\0\0\0\0\xf0\x3f"         // out = 1.0
        "\x02\0\0\0"                                // 2 tensors
        "\x01" "W" "\x02\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0"  // W is 2x1
        "\x01" "b" "\x01\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0"  // b is 1x1
        "\0\0\x80\x3f" "\0\0\0\xc0"                 // W = 1, -2
        "\0\0\0\x3f",                               // b = 0.5
        109);
    CHECK(saved(layer) == parameters);

    // The same layer after one step of SGD(lr = 0.5): the optimiser, then the states.
    bp::for_each_parameter(layer, [](const auto& parameter) {
        parameter.state.kind = bp::OptimizerKind::sgd;
        parameter.state.steps = 1;
    });
    std::string expected = parameters.substr(0, 97);
    put_u32(expected, 16, 2);                             // contents: checkpoint
    expected += std::string("\x01\0\0\0"                  // optimiser kind 1: SGD
                            "\x02\0\0\0"                  // 2 settings
                            "\x02" "lr" "\0\0\0\0\0\0\xe0\x3f"  // lr = 0.5
                            "\x0c" "weight_decay" "\0\0\0\0\0\0\0\0",  // weight_decay = 0
                            8 + 11 + 21) +
                parameters.substr(97) +                   // the values
                std::string("\x01\0\0\0" "\x01\0\0\0\0\0\0\0"   // W: SGD, 1 step, no moments
                            "\x01\0\0\0" "\x01\0\0\0\0\0\0\0",  // b: SGD, 1 step, no moments
                            24);
    CHECK(checkpoint(layer, bp::SGD<float>(0.5f)) == expected);
}

TEST_CASE("load_parameters: version 1 files still load", "[serialize]") {
    // Dense<float>(2, 1) with W = [1, -2]ᵀ and b = 0.5, as version 1 wrote it.
    const std::string version_1("BACKPROP"
                                "\x01\0\0\0"                            // version 1
                                "\x01\0\0\0"                            // dtype float32
                                "\x02\0\0\0\0\0\0\0"                    // 2 tensors
                                "\x02\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0"  // W is 2x1
                                "\x01\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0"  // b is 1x1
                                "\0\0\x80\x3f" "\0\0\0\xc0" "\0\0\0\x3f",
                                68);
    Dense<float> layer(2, 1, 5);
    std::istringstream in(version_1);
    load_parameters(in, layer);
    CHECK(layer.W(0, 0) == 1.0f);
    CHECK(layer.W(1, 0) == -2.0f);
    CHECK(layer.b(0, 0) == 0.5f);
    CHECK(in.peek() == std::char_traits<char>::eof());

    const auto before = saved(layer);
    for (std::size_t size = 0; size < version_1.size(); ++size) {
        const std::string message = loading_error(version_1.substr(0, size), layer);
        INFO("the file cut after " << size << " bytes: " << message);
        CHECK_THAT(message, Contains("model.bin: truncated file: expected"));
    }
    Dense<float> wider(2, 3);
    CHECK_THAT(loading_error(version_1, wider),
               Contains("model.bin: tensor 0 ('W') is 2x1 in the file but 2x3 in the model"));
    auto net = make_net<float>(1);
    CHECK_THAT(loading_error(version_1, net),
               Contains("the file holds 2 tensors but the model has 4"));
    bp::SGD<float> sgd(0.1f);
    CHECK_THAT(resuming_error(version_1, layer, sgd),
               Contains("model.ckpt: a parameter file of version 1 holds no optimiser state"));
    CHECK(saved(layer) == before);
}

TEMPLATE_TEST_CASE("save/load: a file loads only into the architecture it was saved from",
                   "[serialize]", float, double) {
    using S = TestType;
    auto model = make_net<S>(1);
    bp::Adam<S> adam(S(0.01));
    train(model, adam, 0, 1, false);
    const auto before = checkpoint(model, adam);

    // Each file is loaded as parameters and as a checkpoint, and must fail the same way.
    const auto check_error = [&](const auto& other, const std::string& expected) {
        CHECK_THAT(loading_error(saved(other), model), Contains("model.bin: " + expected));
        bp::Adam<S> other_adam(S(0.01));
        CHECK_THAT(resuming_error(checkpoint(other, other_adam), model, adam),
                   Contains("model.ckpt: " + expected));
        CHECK(checkpoint(model, adam) == before);
    };
    SECTION("a Tanh network into a ReLU network of the same widths") {
        Net<S, bp::Tanh> tanh(Dense<S>(4, 5), bp::Tanh<S>(), Dense<S>(5, 3));
        check_error(tanh, "layer 1 is Tanh in the file but ReLU in the model");
    }
    SECTION("another LeakyReLU slope") {
        Net<S, bp::LeakyReLU> leaky(Dense<S>(4, 5), bp::LeakyReLU<S>(S(0.2)), Dense<S>(5, 3));
        Net<S, bp::LeakyReLU> model_leaky(Dense<S>(4, 5), bp::LeakyReLU<S>(), Dense<S>(5, 3));
        CHECK_THAT(loading_error(saved(leaky), model_leaky),
                   Contains("model.bin: layer 1 is LeakyReLU(slope=0.2) in the file but "
                            "LeakyReLU(slope=0.01) in the model"));
        check_error(leaky, "layer 1 is LeakyReLU(slope=0.2) in the file but ReLU in the model");
    }
    SECTION("other widths") {
        check_error(make_net<S>(1, 6),
                    "layer 0 is Dense(in=4, out=6) in the file but Dense(in=4, out=5) in the model");
    }
    SECTION("another number of layers") {
        bp::Sequential<Dense<S>, bp::ReLU<S>> shorter(Dense<S>(4, 5), bp::ReLU<S>());
        check_error(shorter, "the file holds 2 layers but the model has 3");
    }
    SECTION("another dtype") {
        using Other = std::conditional_t<std::is_same_v<S, float>, double, float>;
        CHECK_THAT(loading_error(saved(make_net<Other>(1)), model),
                   Contains(std::string("the file's dtype is ") +
                            (std::is_same_v<S, float> ? "float64" : "float32") +
                            " but the model's parameters are " +
                            (std::is_same_v<S, float> ? "float32" : "float64")));
    }
    CHECK(checkpoint(model, adam) == before);
}

TEMPLATE_TEST_CASE("load_checkpoint: the optimiser must be the one the file was saved with",
                   "[serialize][checkpoint]", float, double) {
    using S = TestType;
    auto source = make_net<S>(1);
    bp::Adam<S> adam(S(0.01));
    train(source, adam, 0, 1, false);
    const std::string adam_file = checkpoint(source, adam);
    auto momentum_source = make_net<S>(1);
    bp::Momentum<S> momentum(S(0.1), S(0.9));
    train(momentum_source, momentum, 0, 1, false);
    const std::string momentum_file = checkpoint(momentum_source, momentum);

    auto model = make_net<S>(2);
    const auto check_error = [&](const std::string& file, auto optimizer,
                                 const std::string& expected) {
        const auto before = checkpoint(model, optimizer);
        const auto lr = optimizer.lr();
        CHECK_THAT(resuming_error(file, model, optimizer), Contains("model.ckpt: " + expected));
        CHECK(checkpoint(model, optimizer) == before);
        CHECK(optimizer.lr() == lr);
    };
    SECTION("another kind") {
        check_error(adam_file, bp::AdamW<S>(S(0.01)),
                    "the file's optimiser is Adam but the given optimiser is AdamW");
        check_error(adam_file, bp::SGD<S>(S(0.01)),
                    "the file's optimiser is Adam but the given optimiser is SGD");
        check_error(momentum_file, bp::Momentum<S>(S(0.1), S(0.9), true),
                    "the file's optimiser is Momentum but the given optimiser is Momentum "
                    "(Nesterov)");
    }
    SECTION("another setting") {
        check_error(adam_file, bp::Adam<S>(S(0.01), S(0.9), S(0.99)),
                    "the file's Adam has beta2 = 0.999 but the given one has beta2 = 0.99");
        check_error(momentum_file, bp::Momentum<S>(S(0.1), S(0.8)),
                    "the file's Momentum has momentum = 0.9 but the given one has momentum = 0.8");
        check_error(momentum_file, bp::Momentum<S>(S(0.1), S(0.9), false, S(0.5)),
                    "the file's Momentum has weight_decay = 0 but the given one has "
                    "weight_decay = 0.5");
    }
    SECTION("another learning rate is no error: the file's is restored") {
        bp::Adam<S> other(S(0.5));
        std::istringstream in(adam_file);
        load_checkpoint(in, model, other);
        CHECK(other.lr() == S(0.01));
        CHECK(checkpoint(model, other) == adam_file);
    }
    SECTION("a learning rate in the file that set_lr would refuse") {
        std::string bad = adam_file;
        const auto at = bad.find(std::string("\x02lr", 3));
        REQUIRE(at != std::string::npos);
        put_f64(bad, at + 3, -1.0);
        check_error(bad, bp::Adam<S>(S(0.01)),
                    "the file's learning rate is -1 but must be finite and positive");
    }
    SECTION("a parameter file holds no optimiser state") {
        check_error(saved(source), bp::Adam<S>(S(0.01)),
                    "a parameter file holds no optimiser state: load it with load_parameters");
    }
    SECTION("saving with another optimiser than the one that stepped the model") {
        std::ostringstream out;
        CHECK_THROWS_AS(save_checkpoint(out, source, bp::AdamW<S>()), std::invalid_argument);
        CHECK_THROWS_WITH(save_checkpoint(out, source, bp::SGD<S>(S(0.1))),
                          Contains("save_checkpoint: layer 0 (Dense) tensor 'W' holds the state "
                                   "of Adam, not of SGD"));
        CHECK(out.str().empty());
    }
}

TEMPLATE_TEST_CASE("load_parameters: reads the parameters of a checkpoint", "[serialize]", float,
                   double) {
    auto source = make_net<TestType>(1);
    bp::Adam<TestType> adam(TestType(0.01));
    train(source, adam, 0, 2, false);
    auto model = make_net<TestType>(2);
    std::istringstream in(checkpoint(source, adam) + "next");
    load_parameters(in, model);
    CHECK(saved(model) == saved(source));
    std::string rest;
    in >> rest;
    CHECK(rest == "next");  // the stream is left after the checkpoint
    bp::for_each_parameter(model, [](const auto& parameter) {
        CHECK(parameter.state.kind == bp::OptimizerKind::none);  // states are not loaded
    });
}

TEMPLATE_TEST_CASE("save/load: a bad file throws and changes nothing", "[serialize]", float,
                   double) {
    using S = TestType;
    auto source = make_net<S>(1);
    bp::Adam<S> source_adam(S(0.01));
    train(source, source_adam, 0, 3, false);  // three steps: the learning rate was halved
    const std::string parameters = saved(source);
    const std::string file = checkpoint(source, source_adam);

    auto model = make_net<S>(2);
    bp::Adam<S> adam(S(0.01));
    train(model, adam, 0, 1, true);
    const auto before = checkpoint(model, adam);

    SECTION("a parameter file truncated anywhere") {
        for (std::size_t size = 0; size < parameters.size(); ++size) {
            const std::string message = loading_error(parameters.substr(0, size), model);
            INFO("the file cut after " << size << " bytes: " << message);
            CHECK_THAT(message, Contains("model.bin: truncated file: expected"));
        }
        CHECK_THAT(loading_error(parameters.substr(0, parameters.size() - 1), model),
                   Contains("expected " + std::to_string(bp::parameter_count(model) * sizeof(S)) +
                            " bytes of values"));
    }
    SECTION("a checkpoint truncated anywhere") {
        for (std::size_t size = 0; size < file.size(); ++size) {
            const std::string message = resuming_error(file.substr(0, size), model, adam);
            INFO("the file cut after " << size << " bytes: " << message);
            CHECK_THAT(message, Contains("model.ckpt: truncated file: expected"));
            CHECK(adam.lr() == S(0.01));
        }
        CHECK_THAT(resuming_error(file.substr(0, file.size() - 1), model, adam),
                   Contains("bytes of moment 2 of the optimiser state of layer 2 (Dense) tensor "
                            "'b'"));
    }
    SECTION("bad magic") {
        std::string bad = parameters;
        bad[0] = 'b';
        bad[7] = '\x01';
        CHECK_THAT(loading_error(bad, model),
                   Contains("not a backprop parameter file: the magic is 'bACKPRO\\x01' but "
                            "should be 'BACKPROP'"));
        CHECK_THAT(loading_error("hello, world", model), Contains("the magic is 'hello, w'"));
    }
    SECTION("another version") {
        std::string bad = parameters;
        put_u32(bad, 8, 3);
        CHECK_THAT(loading_error(bad, model),
                   Contains("format version 3, but this library reads versions 1 and 2"));
    }
    SECTION("an unknown dtype or contents") {
        std::string bad = parameters;
        put_u32(bad, 12, 9);
        CHECK_THAT(loading_error(bad, model), Contains("the file's dtype is unknown (9)"));
        bad = parameters;
        put_u32(bad, 16, 7);
        CHECK_THAT(loading_error(bad, model),
                   Contains("the contents code is 7 but should be 1 (parameters) or 2 "
                            "(checkpoint)"));
    }
    SECTION("a kind with bytes that are not printable") {
        std::string bad = parameters;
        bad[25] = '\n';  // "Dense" → "\nense"
        CHECK_THAT(loading_error(bad, model),
                   Contains("layer 0 is \\x0aense(in=4, out=5) in the file but Dense(in=4, "
                            "out=5) in the model"));
    }
    SECTION("a corrupt shape or tensor name") {
        std::string bad = parameters;
        const auto at = bad.find(std::string("\x01W", 2));
        for (std::size_t i = at + 2; i < at + 10; ++i) bad[i] = '\xff';
        CHECK_THAT(loading_error(bad, model),
                   Contains("layer 0 (Dense) tensor 'W' is 18446744073709551615x5 in the file "
                            "but 4x5 in the model"));
        bad = parameters;
        bad[at + 1] = 'V';
        CHECK_THAT(loading_error(bad, model),
                   Contains("layer 0 (Dense) tensor 0 is 'V' in the file but 'W' in the model"));
    }
    SECTION("a corrupt optimiser state") {
        // The states end the file: W and b of layer 0, W and b of layer 2, each 12 bytes of
        // kind and steps followed by its m and v.
        const std::size_t states = file.size() - 12 * 4 - 2 * sizeof(S) *
                                                              static_cast<std::size_t>(
                                                                  bp::parameter_count(model));
        std::string bad = file;
        put_u32(bad, states, 1);
        CHECK_THAT(resuming_error(bad, model, adam),
                   Contains("the optimiser state of layer 0 (Dense) tensor 'W' holds the state of "
                            "SGD, not of Adam"));
        bad = file;
        put_u32(bad, states, 0);
        CHECK_THAT(resuming_error(bad, model, adam),
                   Contains("tensor 'W' is fresh (kind 0) but counts 3 steps"));
        bad = file;
        put_u32(bad, states, 77);
        CHECK_THAT(loading_error(bad, model), Contains("holds the state of unknown kind 77"));
    }
    CHECK(checkpoint(model, adam) == before);
}

TEST_CASE("save/load: models outside the format", "[serialize]") {
    Dense<double> layer(2, 2);
    const auto before = saved(layer);
    CHECK_THROWS_WITH(load_parameters("no/such/file.bin", layer),
                      Contains("no/such/file.bin: cannot open the file for reading"));
    CHECK_THROWS_AS(save_parameters("no/such/dir/file.bin", layer), std::runtime_error);
    CHECK(saved(layer) == before);

    bp::Sequential<Dense<float>, Dense<double>> mixed(Dense<float>(2, 2), Dense<double>(2, 1));
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
    bp::ReLU<float> relu;
    const std::string file = saved(relu);
    CHECK(file == std::string("BACKPROP\x02\0\0\0\0\0\0\0\x01\0\0\0\x01\0\0\0"
                              "\x04ReLU\0\0\0\0\0\0\0\0",
                              37));
    std::istringstream in(file);
    load_parameters(in, relu);
    bp::Tanh<float> tanh;
    CHECK_THAT(loading_error(file, tanh),
               Contains("layer 0 is ReLU in the file but Tanh in the model"));
    Dense<float> layer(1, 1);
    CHECK_THAT(loading_error(file, layer),
               Contains("the file's dtype is none (no tensors) but the model's parameters are "
                        "float32"));
}

TEMPLATE_TEST_CASE("save/load: BatchNorm's running statistics are saved, restored bit for bit, "
                   "and kept by a load that throws", "[serialize][normalization]", float, double) {
    using S = TestType;
    using BatchNet = bp::Sequential<Dense<S>, bp::BatchNorm<S>, bp::ReLU<S>, Dense<S>>;
    const auto make = [](std::uint64_t seed) {
        return BatchNet(Dense<S>(4, 5, seed), bp::BatchNorm<S>(5), bp::ReLU<S>(),
                        Dense<S>(5, 3, seed + 1));
    };
    auto net = make(1);
    bp::Adam<S> adam(S(0.01));
    bp::MSE<S> mse;
    for (std::uint64_t k = 0; k < 3; ++k) {  // training moves the running statistics
        mse.forward(net.forward(test::random_matrix<S>(8, 4, 10 + k)),
                    test::random_matrix<S>(8, 3, 20 + k));
        net.backward(mse.backward());
        adam.step(net);
    }
    const auto& trained = net.template layer<1>();
    REQUIRE(trained.running_mean != decltype(trained.running_mean)::Zero(5));
    const auto X = test::random_matrix<S>(6, 4, 30);
    const auto restored = [&](const BatchNet& model) {
        const auto& bn = model.template layer<1>();
        return same_bits(bn.running_mean, trained.running_mean) &&
               same_bits(bn.running_var, trained.running_var);
    };

    SECTION("a parameter file records them after the parameters and restores them") {
        const std::string bytes = saved(net);
        CHECK_THAT(bytes, Contains("running_mean") && Contains("running_var"));
        auto model = make(2);
        std::istringstream in(bytes);
        load_parameters(in, model);
        CHECK(restored(model));
        CHECK(saved(model) == bytes);
        CHECK(same_bits(model.predict(X), net.predict(X)));  // inference uses them
    }
    SECTION("a checkpoint, through a file, restores them and resumes bit for bit") {
        const std::string path = "backprop_test_batch_norm.ckpt";
        save_checkpoint(path, net, adam);
        auto model = make(2);
        bp::Adam<S> resumed(S(0.01));
        load_checkpoint(path, model, resumed);
        std::remove(path.c_str());
        CHECK(restored(model));
        CHECK(checkpoint(model, resumed) == checkpoint(net, adam));
    }
    SECTION("a load that throws leaves them unchanged") {
        const std::string parameters = saved(net);
        const std::string file = checkpoint(net, adam);
        auto model = make(2);
        const auto before = saved(model);
        // Cut inside the running statistics (the file's last values), and anywhere else.
        for (std::size_t size = 0; size < parameters.size(); ++size) {
            CHECK_THAT(loading_error(parameters.substr(0, size), model),
                       Contains("truncated file"));
        }
        bp::Adam<S> other(S(0.01));
        CHECK_THAT(resuming_error(file.substr(0, file.size() - 1), model, other),
                   Contains("truncated file"));
        CHECK(saved(model) == before);
        CHECK(model.template layer<1>().running_mean == decltype(trained.running_mean)::Zero(5));
        CHECK(model.template layer<1>().running_var == decltype(trained.running_var)::Ones(5));
    }
    SECTION("another momentum is another architecture") {
        BatchNet model(Dense<S>(4, 5), bp::BatchNorm<S>(5, 1, 1, S(1e-5), S(0.2)), bp::ReLU<S>(),
                       Dense<S>(5, 3));
        CHECK_THAT(loading_error(saved(net), model), Contains("momentum"));
        CHECK(model.template layer<1>().running_var == decltype(trained.running_var)::Ones(5));
    }
}

TEMPLATE_TEST_CASE("save/load: image layers, LayerNorm and Dropout in a Sequential round trip "
                   "bit for bit, and load only into their own architecture",
                   "[serialize][conv2d][pooling][normalization]", float, double) {
    using S = TestType;
    // 1x6x6 images → Conv2D 3x3 → 2x4x4 → ReLU → MaxPool2D 2x2 (no parameters) → 2x2x2 →
    // Dropout → Dense → 5 → LayerNorm.
    using ImageNet = bp::Sequential<bp::Conv2D<S>, bp::ReLU<S>, bp::MaxPool2D<S>, bp::Dropout<S>,
                                    Dense<S>, bp::LayerNorm<S>>;
    const auto make = [](std::uint64_t seed, bp::MaxPool2D<S> pool = bp::MaxPool2D<S>(2, 4, 4, 2),
                         S p = S(0.25), S eps = S(1e-5)) {
        return ImageNet(bp::Conv2D<S>({1, 6, 6}, 2, 3, 1, 0, seed), bp::ReLU<S>(), pool,
                        bp::Dropout<S>(p, seed), Dense<S>(8, 5, seed + 1),
                        bp::LayerNorm<S>(5, eps));
    };
    auto net = make(1);
    bp::Adam<S> adam(S(0.01));
    bp::MSE<S> mse;
    for (std::uint64_t k = 0; k < 3; ++k) {  // every parameter moves, LayerNorm's γ and β too
        mse.forward(net.forward(test::random_matrix<S>(4, 36, 10 + k)),
                    test::random_matrix<S>(4, 5, 20 + k));
        net.backward(mse.backward());
        adam.step(net);
    }
    const auto X = test::random_matrix<S>(3, 36, 30);

    SECTION("a parameter file and a checkpoint restore every value bit for bit") {
        const std::string bytes = saved(net);
        auto model = make(2);
        REQUIRE(saved(model) != bytes);
        std::istringstream in(bytes);
        load_parameters(in, model);
        CHECK(saved(model) == bytes);
        CHECK(same_bits(model.template layer<0>().W, net.template layer<0>().W));
        CHECK(same_bits(model.template layer<5>().gamma, net.template layer<5>().gamma));
        CHECK(same_bits(model.predict(X), net.predict(X)));  // Dropout is the identity here

        auto resumed = make(3);
        bp::Adam<S> resumed_adam(S(0.01));
        std::stringstream file;
        save_checkpoint(file, net, adam);
        load_checkpoint(file, resumed, resumed_adam);
        CHECK(checkpoint(resumed, resumed_adam) == checkpoint(net, adam));
        CHECK(same_bits(resumed.predict(X), net.predict(X)));
    }
    SECTION("another architecture of the same widths is a clear error that changes nothing") {
        const std::string bytes = saved(net);
        const auto check_error = [&](ImageNet model, const std::string& expected) {
            const std::string before = saved(model);
            CHECK_THAT(loading_error(bytes, model), Contains("model.bin: " + expected));
            CHECK(saved(model) == before);
        };
        // A 3x3 window at stride 1 also gives 2x2 from 4x4: the same widths, another layer.
        check_error(make(1, bp::MaxPool2D<S>(2, 4, 4, 3, 1)),
                    "layer 2 is MaxPool2D(channels=2, height=4, width=4, kernel=2, stride=2) in "
                    "the file but MaxPool2D(channels=2, height=4, width=4, kernel=3, stride=1) in "
                    "the model");
        check_error(make(1, bp::MaxPool2D<S>(2, 4, 4, 2), S(0.5)),
                    "layer 3 is Dropout(p=0.25) in the file but Dropout(p=0.5) in the model");
        check_error(make(1, bp::MaxPool2D<S>(2, 4, 4, 2), S(0.25), S(1e-3)),
                    "layer 5 is LayerNorm(features=5, eps=");
        using Padded = bp::Sequential<bp::Conv2D<S>, bp::ReLU<S>, bp::MaxPool2D<S>,
                                      bp::Dropout<S>, Dense<S>, bp::LayerNorm<S>>;
        // A 5x5 kernel with one row and column of padding all round: 4x4 again from 6x6.
        Padded padded(bp::Conv2D<S>({1, 6, 6}, 2, 5, 1, 1), bp::ReLU<S>(),
                      bp::MaxPool2D<S>(2, 4, 4, 2), bp::Dropout<S>(S(0.25)), Dense<S>(8, 5),
                      bp::LayerNorm<S>(5));
        const std::string before = saved(padded);
        CHECK_THAT(loading_error(bytes, padded),
                   Contains("model.bin: layer 0 is Conv2D(in_channels=1, height=6, width=6, "
                            "out_channels=2, kernel_height=3") &&
                       Contains("in the file but Conv2D(in_channels=1, height=6, width=6, "
                                "out_channels=2, kernel_height=5"));
        CHECK(saved(padded) == before);
    }
}
