// The whole GPT (nn/gpt.hpp): every parameter's gradient against PyTorch in float64 and against
// finite differences, AdamW steps against PyTorch, generation with and without the key/value
// cache, checkpoints, and bad input.

#include "helpers.hpp"
#include "reference/pytorch_reference_gpt.hpp"

#include <backprop/check/gradient_check.hpp>
#include <backprop/io/serialize.hpp>
#include <backprop/losses/softmax_cross_entropy.hpp>
#include <backprop/nn/gpt.hpp>
#include <backprop/optim/adam.hpp>

#include <catch2/catch.hpp>

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bp = backprop;

namespace {

bp::GPTConfig reference_config(bool tied) {
    bp::GPTConfig config;
    config.vocab = reference::gpt_vocab;
    config.context = reference::gpt_context;
    config.embed = reference::gpt_embed;
    config.heads = reference::gpt_heads;
    config.layers = reference::gpt_layers;
    config.tied = tied;
    return config;
}

Eigen::VectorXi ids_of(const std::vector<int>& ids) {
    return Eigen::Map<const Eigen::VectorXi>(ids.data(), Eigen::Index(ids.size()));
}

// Sets every parameter of `model`, in for_each_parameter's order, from `values` (row by row).
void set_parameters(bp::GPT<double>& model, const std::vector<std::vector<double>>& values) {
    std::size_t k = 0;
    bp::for_each_parameter(model, [&](auto parameter) {
        REQUIRE(k < values.size());
        parameter.value = test::from_rows(values[k++], parameter.value.rows(),
                                          parameter.value.cols());
    });
    REQUIRE(k == values.size());
}

// The mean cross-entropy of the model on (ids, targets), and (if `backward`) its gradients.
double loss_of(bp::GPT<double>& model, const Eigen::VectorXi& ids, const Eigen::VectorXi& targets,
               bool backward = true) {
    bp::SoftmaxCrossEntropy<double> loss;
    const double value = loss.forward(model.forward(ids, reference::gpt_T), targets);
    if (backward) {
        model.backward(loss.backward());
    }
    return value;
}

// A small model whose parameters are not GPT-2's start (N(0, 0.02²) makes tiny gradients) but
// of order 1, so that finite differences see every path.
bp::GPT<double> small_model(bool tied) {
    bp::GPT<double> model(reference_config(tied), 3);
    std::uint64_t seed = 100;
    bp::for_each_parameter(model, [&](auto parameter) {
        parameter.value += 0.3 * test::random_matrix<double>(parameter.value.rows(),
                                                             parameter.value.cols(), seed++);
    });
    return model;
}

}  // namespace

TEST_CASE("GPT: the loss and every parameter's gradient agree with PyTorch to 1e-12", "[gpt]") {
    REQUIRE(reference::gpt_gradient_cases.size() == 2);
    for (const auto& c : reference::gpt_gradient_cases) {
        INFO((c.tied ? "tied head" : "untied head"));
        bp::GPT<double> model(reference_config(c.tied));
        std::vector<std::vector<double>> values;
        for (const auto& tensor : c.tensors) values.push_back(tensor.value);
        set_parameters(model, values);

        const double loss = loss_of(model, ids_of(c.ids), ids_of(c.targets));
        CHECK(std::abs(loss - c.loss) <= 1e-12 * std::abs(c.loss));
        std::size_t k = 0;
        bp::for_each_parameter(model, [&](const auto& parameter) {
            const auto& expected = c.tensors[k++];
            INFO(expected.name);
            const Eigen::MatrixXd gradient =
                test::from_rows(expected.gradient, expected.rows, expected.cols);
            REQUIRE(parameter.gradient.rows() == expected.rows);
            REQUIRE(parameter.gradient.cols() == expected.cols);
            CHECK(test::relative_difference(parameter.gradient, gradient) < 1e-12);
        });
        CHECK(k == c.tensors.size());
    }
}

TEST_CASE("GPT: three AdamW steps agree with torch.optim.AdamW to 1e-12", "[gpt]") {
    bp::GPT<double> model(reference_config(true));
    set_parameters(model, reference::gpt_adamw_start);
    bp::AdamW<double> adamw(1e-2, 0.9, 0.999, 1e-8, 0.1);
    for (const auto& step : reference::gpt_adamw_steps) {
        const double loss = loss_of(model, ids_of(step.ids), ids_of(step.targets));
        CHECK(std::abs(loss - step.loss) <= 1e-12 * std::abs(step.loss));
        adamw.step(model);
        std::size_t k = 0;
        bp::for_each_parameter(model, [&](const auto& parameter) {
            const Eigen::MatrixXd expected =
                test::from_rows(step.after[k++], parameter.value.rows(), parameter.value.cols());
            if (std::string(parameter.name) != "qkv.b") {
                CHECK(test::relative_difference(parameter.value, expected) < 1e-12);
                return;
            }
            // The keys' bias has no gradient but rounding noise g ~ 1e-17, which Adam moves by
            // lr·g/(√v̂ + ε) ~ 1e-2·1e-17/1e-8 = 1e-11 in either library: compare it absolutely.
            const Eigen::Index C = reference::gpt_embed;
            CHECK(test::relative_difference(parameter.value.leftCols(C), expected.leftCols(C)) <
                  1e-12);
            CHECK(test::relative_difference(parameter.value.rightCols(C),
                                            expected.rightCols(C)) < 1e-12);
            CHECK((parameter.value.middleCols(C, C) - expected.middleCols(C, C))
                      .cwiseAbs()
                      .maxCoeff() < 1e-9);
        });
    }
}

TEST_CASE("GPT: every parameter's gradient agrees with finite differences", "[gpt]") {
    const auto& c = reference::gpt_gradient_cases.front();
    const Eigen::VectorXi ids = ids_of(c.ids), targets = ids_of(c.targets);
    for (const bool tied : {true, false}) {
        INFO((tied ? "tied head" : "untied head"));
        bp::GPT<double> model = small_model(tied);
        loss_of(model, ids, targets);
        std::size_t index = 0;
        bp::for_each_parameter(model, [&](const auto& parameter) {
            INFO("parameter " << index << " (" << parameter.name << ")");
            const auto loss_at = [&](const Eigen::MatrixXd& value) {
                bp::GPT<double> changed = model;
                std::size_t k = 0;
                bp::for_each_parameter(changed, [&](auto p) {
                    if (k++ == index) p.value = value;
                });
                return loss_of(changed, ids, targets, false);
            };
            // Scaled by the tensor's largest element: the keys' bias has no gradient (the
            // softmax ignores a constant added to a row), so its elements are 0 up to rounding.
            const auto error = bp::check_gradient(loss_at, parameter.value, parameter.gradient);
            CAPTURE(error.max_abs_difference, error.max_abs_numeric);
            CHECK(error.passes_scaled(1e-7));
            ++index;
        });
    }
}

TEST_CASE("GPT: accumulate adds the gradients of two batches, the tied table included",
          "[gpt]") {
    const auto& a = reference::gpt_adamw_steps[0];
    const auto& b = reference::gpt_adamw_steps[1];
    bp::GPT<double> model = small_model(true);
    bp::GPT<double> first = model, second = model;
    loss_of(first, ids_of(a.ids), ids_of(a.targets));
    loss_of(second, ids_of(b.ids), ids_of(b.targets));

    bp::SoftmaxCrossEntropy<double> loss;
    loss.forward(model.forward(ids_of(a.ids), reference::gpt_T), ids_of(a.targets));
    model.backward(loss.backward());
    loss.forward(model.forward(ids_of(b.ids), reference::gpt_T), ids_of(b.targets));
    model.backward(loss.backward(), bp::GradientMode::accumulate);

    std::vector<Eigen::MatrixXd> sums;
    bp::for_each_parameter(first, [&](const auto& p) { sums.push_back(p.gradient); });
    std::size_t k = 0;
    bp::for_each_parameter(second, [&](const auto& p) { sums[k++] += p.gradient; });
    k = 0;
    bp::for_each_parameter(model, [&](const auto& p) {
        CHECK(test::relative_difference(p.gradient, sums[k++]) < 1e-13);
    });
}

TEST_CASE("GPT: predict equals forward and caches nothing", "[gpt]") {
    const auto& c = reference::gpt_gradient_cases.front();
    bp::GPT<double> model = small_model(true);
    const Eigen::MatrixXd logits = model.forward(ids_of(c.ids), reference::gpt_T);
    model.backward(Eigen::MatrixXd::Ones(logits.rows(), logits.cols()));
    const Eigen::MatrixXd dW = model.tok.gradients().dW;
    const auto& other = reference::gpt_adamw_steps[0];
    const Eigen::MatrixXd predicted = model.predict(ids_of(c.ids), reference::gpt_T);
    CHECK(test::relative_difference(predicted, logits) < 1e-14);
    model.predict(ids_of(other.ids), reference::gpt_T);
    // backward() still differentiates the last forward(), not the predictions since.
    model.backward(Eigen::MatrixXd::Ones(logits.rows(), logits.cols()));
    CHECK(model.tok.gradients().dW == dW);
}

TEST_CASE("GPT: logits through the key/value cache equal the whole sequence's", "[gpt]") {
    const bp::GPT<double> model = small_model(GENERATE(true, false));
    const Eigen::VectorXi ids = ids_of({3, 1, 4, 1, 5, 9});  // the whole context
    const Eigen::MatrixXd whole = model.predict(ids, ids.size());

    auto one_by_one = model.make_cache();
    for (Eigen::Index t = 0; t < ids.size(); ++t) {
        const Eigen::MatrixXd row = model.predict(ids.segment(t, 1), one_by_one);
        CHECK(test::relative_difference(row, whole.row(t)) < 1e-12);
    }
    CHECK(one_by_one.length() == ids.size());

    auto chunks = model.make_cache();
    const Eigen::MatrixXd head = model.predict(ids.head(4), chunks);
    const Eigen::MatrixXd tail = model.predict(ids.tail(2), chunks);
    CHECK(test::relative_difference(head, whole.topRows(4)) < 1e-12);
    CHECK(test::relative_difference(tail, whole.bottomRows(2)) < 1e-12);

    // A full cache refuses more, and keeps what it holds.
    CHECK_THROWS_WITH(model.predict(ids.head(1), chunks),
                      Catch::Contains("longer than the context, 6"));
    CHECK(chunks.length() == 6);
}

TEST_CASE("GPT: generation with the cache gives the characters of recomputing the context",
          "[gpt]") {
    const bp::GPT<double> model = small_model(true);
    const Eigen::VectorXi prompt = ids_of({2, 7, 1});
    // 20 characters run the 6-position window past its end several times.
    const Eigen::VectorXi cached = bp::generate(model, prompt, 20, 0.8, 42);
    const Eigen::VectorXi recomputed =
        bp::generate(model, prompt, 20, 0.8, 42, bp::Decoding::recompute);
    REQUIRE(cached.size() == 23);
    CHECK(cached.head(3) == prompt);
    CHECK(cached == recomputed);
    CHECK(bp::generate(model, prompt, 20, 0.8, 42) == cached);      // the seed decides
    CHECK(bp::generate(model, prompt, 20, 0.8, 43) != cached);
    CHECK((cached.array() >= 0 && cached.array() < reference::gpt_vocab).all());
    // A prompt longer than the context: its last 6 characters are read.
    const Eigen::VectorXi long_prompt = ids_of({1, 2, 3, 4, 5, 6, 7, 8});
    CHECK(bp::generate(model, long_prompt, 5, 1.0, 1) ==
          bp::generate(model, long_prompt, 5, 1.0, 1, bp::Decoding::recompute));
    // A context of one position: every character is read alone.
    bp::GPTConfig one = reference_config(true);
    one.context = 1;
    const bp::GPT<double> single(one, 4);
    CHECK(bp::generate(single, prompt, 4, 1.0, 5) ==
          bp::generate(single, prompt, 4, 1.0, 5, bp::Decoding::recompute));
}

TEST_CASE("GPT: a checkpoint restores the model and AdamW's state bit for bit", "[gpt]") {
    bp::GPT<float> model(reference_config(true), 5);
    bp::AdamW<float> adamw(1e-2f);
    const auto& c = reference::gpt_gradient_cases.front();
    bp::SoftmaxCrossEntropy<float> loss;
    loss.forward(model.forward(ids_of(c.ids), reference::gpt_T), ids_of(c.targets));
    model.backward(loss.backward());
    adamw.step(model);

    std::stringstream file;
    bp::save_checkpoint(file, model, adamw);
    bp::GPT<float> restored(reference_config(true), 99);
    bp::AdamW<float> restored_adamw(1e-2f);
    bp::load_checkpoint(file, restored, restored_adamw);
    std::vector<Eigen::MatrixXf> saved;
    bp::for_each_parameter(model, [&](const auto& p) {
        saved.push_back(p.value);
        saved.push_back(p.state.moment2);
    });
    std::size_t k = 0;
    bp::for_each_parameter(restored, [&](const auto& p) {
        CHECK(p.value == saved[k++]);
        CHECK(p.state.moment2 == saved[k++]);
    });

    // A model of other sizes is refused by name.
    bp::GPTConfig wider = reference_config(true);
    wider.embed = 12;
    bp::GPT<float> other(wider);
    file.seekg(0);
    CHECK_THROWS_WITH(bp::load_checkpoint(file, other, restored_adamw),
                      Catch::Contains("Embedding"));
}

TEST_CASE("GPT: bad input is refused by name, and changes nothing", "[gpt]") {
    bp::GPT<double> model = small_model(true);
    const auto& c = reference::gpt_gradient_cases.front();
    CHECK_THROWS_WITH(model.backward(Eigen::MatrixXd::Ones(15, 11)),
                      Catch::Contains("before"));
    const Eigen::MatrixXd logits = model.forward(ids_of(c.ids), reference::gpt_T);

    Eigen::VectorXi bad = ids_of(c.ids);
    bad(7) = reference::gpt_vocab;
    CHECK_THROWS_WITH(model.forward(bad, reference::gpt_T),
                      Catch::Contains("ids[7] is 11") && Catch::Contains("11 ids"));
    CHECK_THROWS_WITH(model.forward(ids_of(c.ids), 15), Catch::Contains("longer than the context"));
    CHECK_THROWS_WITH(model.forward(ids_of(c.ids), 4), Catch::Contains("multiple of T = 4"));
    CHECK_THROWS_WITH(model.backward(Eigen::MatrixXd::Ones(14, 11)), Catch::Contains("14"));
    CHECK_THROWS_AS(bp::GPT<double>(bp::GPTConfig{11, 6, 10, 4, 1, true}), std::invalid_argument);
    CHECK_THROWS_AS(bp::generate(model, Eigen::VectorXi(), 3, 1.0, 0), std::invalid_argument);
    CHECK_THROWS_AS(bp::generate(model, ids_of({1}), 3, 0.0, 0), std::invalid_argument);

    // Nothing changed: backward() still sees the first forward().
    bp::GPT<double> fresh = small_model(true);
    fresh.forward(ids_of(c.ids), reference::gpt_T);
    const Eigen::MatrixXd ones = Eigen::MatrixXd::Ones(logits.rows(), logits.cols());
    model.backward(ones);
    fresh.backward(ones);
    std::vector<Eigen::MatrixXd> expected;
    bp::for_each_parameter(fresh, [&](const auto& p) { expected.push_back(p.gradient); });
    std::size_t k = 0;
    bp::for_each_parameter(model, [&](const auto& p) { CHECK(p.gradient == expected[k++]); });
}
