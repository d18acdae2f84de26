// One training step of the character GPT (nn/gpt.hpp), timed whole and split by layer kind, for
// docs/performance.md:
//
//   backprop_bench_gpt [repeats]          (default 20; each repeat times 5 steps)
//
// The model of examples/gpt.cpp and bench/gpt_pytorch.py: 4 blocks of width 128 with 4 heads,
// context 64, a tied head, vocabulary 100, batches of 12 sequences, float, one thread. A step is
// what the example does: forward, cross-entropy over every position, backward, clip_grad_norm
// to 1, and AdamW's step. Times are CPU times (std::clock, as bench/gpt_pytorch.py's
// process_time), min and median over the repeats.
//
// The split runs each kind of layer's forward and backward alone, on the shapes and as many
// times as one step runs them, with the model's own layers; "other" is the whole step less their
// sum (the residual additions, and what the separate timings do not share).
#include <backprop/backprop.hpp>
#include <backprop/nn/gpt.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

namespace bp = backprop;

namespace {

constexpr Eigen::Index V = 100, T = 64, B = 12;
constexpr int steps_per_repeat = 5;

struct Times {
    std::vector<double> ms;
    double min() const { return *std::min_element(ms.begin(), ms.end()); }
    double median() const {
        std::vector<double> sorted = ms;
        std::sort(sorted.begin(), sorted.end());
        return sorted[sorted.size() / 2];
    }
};

// The CPU milliseconds of one call of f, over `repeats` repeats of steps_per_repeat calls.
template <typename F>
Times time_of(int repeats, F&& f) {
    f();  // warm up: buffers take their sizes
    Times times;
    for (int r = 0; r < repeats; ++r) {
        const std::clock_t start = std::clock();
        for (int s = 0; s < steps_per_repeat; ++s) f();
        times.ms.push_back(1e3 * double(std::clock() - start) / CLOCKS_PER_SEC / steps_per_repeat);
    }
    return times;
}

Eigen::VectorXi random_ids(Eigen::Index n, std::uint64_t seed) {
    bp::detail::SplitMix64 rng(seed);
    Eigen::VectorXi ids(n);
    for (Eigen::Index i = 0; i < n; ++i) ids(i) = int(rng.next() % std::uint64_t(V));
    return ids;
}

}  // namespace

int main(int argc, char** argv) {
    const int repeats = argc > 1 ? std::atoi(argv[1]) : 20;
    if (repeats < 1) {
        std::fprintf(stderr, "usage: %s [repeats >= 1]\n", argv[0]);
        return 2;
    }
    bp::GPTConfig config;
    config.vocab = V;
    bp::GPT<float> model(config, 1);
    bp::AdamW<float> adamw(1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f);
    bp::SoftmaxCrossEntropy<float> loss;
    const Eigen::VectorXi X = random_ids(B * T, 2), Y = random_ids(B * T, 3);
    const Eigen::Index L = config.layers;

    const Times step = time_of(repeats, [&] {
        loss.forward(model.forward(X, T), Y);
        model.backward(loss.backward());
        bp::clip_grad_norm(model, 1.0);
        adamw.step(model);
    });

    // The activations each kind reads, taken from a forward pass of the model.
    model.forward(X, T);
    auto& block = model.blocks.front();
    const Eigen::MatrixXf x = model.pos.forward(model.tok.forward(X), T);
    const Eigen::MatrixXf normed = block.ln1.forward(x);
    const Eigen::MatrixXf hidden = block.fc.forward(normed);
    const Eigen::MatrixXf dx = Eigen::MatrixXf::Random(B * T, config.embed);
    const Eigen::MatrixXf dhidden = Eigen::MatrixXf::Random(B * T, 4 * config.embed);
    struct Part {
        const char* name;
        Eigen::Index count;  // how many times a step runs it
        Times times;
    };
    std::vector<Part> parts;
    parts.push_back({"embeddings (token, position)", 1, time_of(repeats, [&] {
        model.tok.backward(model.pos.backward(model.pos.forward(model.tok.forward(X), T)).dX);
    })});
    parts.push_back({"LayerNorm", 2 * L + 1, time_of(repeats, [&] {
        block.ln1.forward(x);
        block.ln1.backward(dx);
    })});
    parts.push_back({"attention (with its Q, K, V and output projections)", L,
                     time_of(repeats, [&] {
                         block.attn.forward(normed, T);
                         block.attn.backward(dx);
                     })});
    parts.push_back({"MLP Dense (C -> 4C, 4C -> C)", L, time_of(repeats, [&] {
        block.proj.backward(block.proj.forward(block.fc.forward(normed)));
        block.fc.backward(dhidden);
    })});
    parts.push_back({"GELU", L, time_of(repeats, [&] {
        block.gelu.forward(hidden);
        block.gelu.backward(dhidden);
    })});
    parts.push_back({"tied head and cross-entropy", 1, time_of(repeats, [&] {
        loss.forward(model.tok.unembed(normed), Y);
        model.tok.unembed_backward(loss.backward());
    })});
    parts.push_back({"clip_grad_norm and AdamW", 1, time_of(repeats, [&] {
        bp::clip_grad_norm(model, 1.0);
        adamw.step(model);
    })});

    std::printf("GPT step: %ld parameters, B = %ld, T = %ld, float, one thread, %d x %d steps\n",
                long(bp::parameter_count(model)), long(B), long(T), repeats, steps_per_repeat);
    std::printf("backprop_gpt_step %.2f %.2f %.0f   (min ms, median ms, tokens/s at min)\n",
                step.min(), step.median(), double(B * T) / step.min() * 1e3);
    std::printf("%-56s %9s %9s\n", "split by layer kind (min)", "ms", "share");
    double sum = 0;
    for (const Part& part : parts) {
        const double ms = double(part.count) * part.times.min();
        sum += ms;
        const std::string name = std::to_string(part.count) + " x " + part.name;
        std::printf("%-56s %9.2f %8.1f %%\n", name.c_str(), ms, 100 * ms / step.min());
    }
    std::printf("%-56s %9.2f %8.1f %%\n", "other (residual additions, ...)", step.min() - sum,
                100 * (step.min() - sum) / step.min());
    return 0;
}
