// Tutorial page 18, A GPT, every gradient: the parameter count of the documented model of
// examples/gpt.cpp, by formula and from the model; the gradient check of every parameter tensor
// of a small GPT<double> (nn/gpt.hpp) against finite differences, the tied table included; and
// the small model trained on one short phrase said over and over until, sampled, it says it too.
// Prints what docs/18_gpt.md shows; exits non-zero if a check fails or the sample is not the
// phrase.
#include <backprop/backprop.hpp>
#include <backprop/data/text.hpp>
#include <backprop/nn/gpt.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace bp = backprop;
using M = Eigen::MatrixXd;

namespace {

// [small model]
// What the small model learns: one phrase, said over and over. The character after any three
// characters of it is certain, so a model that sees its context can learn it exactly.
const std::string phrase = "backprop by hand! ";

std::string repeated(int times) {
    std::string text;
    for (int i = 0; i < times; ++i) text += phrase;
    return text;
}

// V characters, up to 16 positions, width 16 in 2 heads of 8, 2 blocks; the head is tied.
bp::GPTConfig small_config(Eigen::Index vocab) {
    bp::GPTConfig config;
    config.vocab = vocab;
    config.context = 16;
    config.embed = 16;
    config.heads = 2;
    config.layers = 2;
    return config;
}
// [small model]

// The name of layer i of a GPT in for_each_layer's order, for the printout.
std::vector<std::string> layer_names(Eigen::Index blocks) {
    std::vector<std::string> names = {"tok", "pos"};
    for (Eigen::Index l = 0; l < blocks; ++l) {
        for (const char* layer : {"ln1", "attn", "ln2", "fc", "gelu", "proj"}) {
            names.push_back("block " + std::to_string(l) + " " + layer);
        }
    }
    names.push_back("ln_f");
    return names;
}

}  // namespace

// The parameter count of the documented model: what the page's shape table adds up.
bool worked_example() {
    // [count]
    // examples/gpt.cpp's model: the 113 characters of Debian's fortunes, context T = 64, width
    // C = 128, H = 4 heads, L = 4 blocks, the head tied to the token embedding (GPTConfig's
    // defaults).
    bp::GPTConfig documented;
    documented.vocab = 113;
    const bp::GPT<float> model(documented);
    const Eigen::Index V = 113, T = 64, C = 128, L = 4;
    // A block: ln1 2C, qkv 3C² + 3C, attn.proj C² + C, ln2 2C, fc 4C² + 4C, proj 4C² + C.
    const Eigen::Index block = 12 * C * C + 13 * C;
    const Eigen::Index formula = V * C + T * C + L * block + 2 * C;  // tok, pos, blocks, ln_f
    // [count]
    std::printf("token embedding      V*C            %8ld\n", long(V * C));
    std::printf("position embedding   T*C            %8ld\n", long(T * C));
    std::printf("one block            12C^2 + 13C    %8ld   (parameter_count: %ld)\n",
                long(block), long(bp::parameter_count(model.blocks[0])));
    std::printf("%ld blocks                           %8ld\n", long(L), long(L * block));
    std::printf("final LayerNorm      2C             %8ld\n", long(2 * C));
    std::printf("output head          tied           %8d\n", 0);
    std::printf("the model            formula        %8ld   (parameter_count: %ld)\n",
                long(formula), long(bp::parameter_count(model)));
    return formula == bp::parameter_count(model) &&
           block == bp::parameter_count(model.blocks[0]);
}

// The gradient check of every parameter tensor.
bool checks() {
    // [check]
    const std::string text = repeated(20);
    const bp::CharTokenizer tokens(text);
    bp::GPT<double> model(small_config(tokens.size()), /*seed=*/1);
    // GPT-2's start, N(0, 0.02²), makes gradients so small that finite differences lose their
    // digits: move every parameter by a random amount of order 1 first.
    bp::for_each_parameter(model, [](auto parameter) {
        parameter.value += 0.3 * M::Random(parameter.value.rows(), parameter.value.cols());
    });
    // B = 2 windows of T = 8 characters, and the character after each position.
    const Eigen::Index B = 2, T = 8;
    bp::TextBatches batches(tokens.encode(text), T);
    Eigen::VectorXi ids, targets;
    batches.sample_train(B, ids, targets);
    bp::SoftmaxCrossEntropy<double> loss;  // the mean over all B·T positions
    loss.forward(model.forward(ids, T), targets);
    model.backward(loss.backward());
    // Each tensor in turn: L as a function of that tensor alone, in a copy of the model.
    std::vector<bp::GradientError> errors;
    std::size_t index = 0;
    bp::for_each_parameter(model, [&](const auto& parameter) {
        auto loss_at = [&](const M& value) {
            bp::GPT<double> moved = model;
            std::size_t k = 0;
            bp::for_each_parameter(moved, [&](auto p) {
                if (k++ == index) p.value = value;
            });
            return loss.value(moved.predict(ids, T), targets);
        };
        errors.push_back(bp::check_gradient(loss_at, parameter.value, parameter.gradient));
        ++index;
    });
    // [check]
    std::printf("GPT<double>: V = %ld, C = 16, H = 2, L = 2, tied; B = %ld windows of T = %ld\n",
                long(tokens.size()), long(B), long(T));
    const std::vector<std::string> names = layer_names(model.config().layers);
    bool ok = true;
    index = 0;
    bp::for_each_layer(model, [&](std::size_t layer, const auto& l) {
        if constexpr (bp::has_parameters_v<decltype(l)>) {
            l.for_each_parameter([&](const auto& p) {
                const std::string name = names[layer] + " " + p.name;
                // The largest |analytic − numeric| over the tensor's largest gradient.
                const bp::GradientError& e = errors[index++];
                const double scale = std::max(e.max_abs_analytic, e.max_abs_numeric);
                std::printf("%-20s (%3ld, %3ld)  error %.1e\n", name.c_str(),
                            long(p.value.rows()), long(p.value.cols()),
                            e.max_abs_difference / scale);
                ok &= e.passes_scaled(1e-7);
            });
        }
    });
    std::printf(ok ? "every gradient of the model is right\n"
                   : "A GRADIENT OF THE MODEL IS WRONG\n");
    return ok && index == errors.size();
}

// The small model trained on the phrase, then sampled.
bool training() {
    // [train]
    const std::string text = repeated(20);
    const bp::CharTokenizer tokens(text);
    bp::GPT<double> model(small_config(tokens.size()), /*seed=*/1);
    const Eigen::Index B = 8, T = 16;
    bp::TextBatches batches(tokens.encode(text), T);  // the last tenth held out
    bp::AdamW<double> adamw(1e-2);
    bp::SoftmaxCrossEntropy<double> loss;
    Eigen::VectorXi X, Y;
    for (int step = 1; step <= 300; ++step) {
        batches.sample_train(B, X, Y);
        const double L = loss.forward(model.forward(X, T), Y);  // forward, loss
        model.backward(loss.backward());                        // backward
        adamw.step(model);                                      // update
        if (step % 50 == 0) {
            batches.sample_validation(B, X, Y);
            std::printf("step %3d  train %.4f  validation %.4f nats/char\n", step, L,
                        double(loss.value(model.predict(X, T), Y)));
        }
    }
    // 53 characters after "b", drawn at temperature 0.5, through the key/value cache.
    const Eigen::VectorXi sample = bp::generate(model, tokens.encode("b"), 53, 0.5, /*seed=*/1);
    const std::string said = tokens.decode(sample);
    // [train]
    std::printf("sampled: \"%s\"\n", said.c_str());
    const bool ok = repeated(4).find(said) != std::string::npos;  // a stretch of the phrase
    std::printf(ok ? "the model says the phrase\n" : "THE MODEL DOES NOT SAY THE PHRASE\n");
    return ok;
}

// "example" prints the parameter count alone, "checks" the gradient check, "train" the training
// and the sample (the page shows each where it explains it); with no argument, all three.
int main(int argc, char** argv) {
    const std::string part = argc > 1 ? argv[1] : "";
    bool ok = true;
    if (part.empty() || part == "example") ok &= worked_example();
    if (part.empty()) std::printf("\n");
    if (part.empty() || part == "checks") ok &= checks();
    if (part.empty()) std::printf("\n");
    if (part.empty() || part == "train") ok &= training();
    return ok ? 0 : 1;
}
