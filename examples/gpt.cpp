// A character-level GPT (nn/gpt.hpp), trained on the text of Debian's fortunes package (or any
// UTF-8 text given with --data), every gradient written by hand. Trains with AdamW, a linear
// warm-up then a cosine decay of the learning rate, and gradient clipping; prints a progress line
// (step, train and validation loss in nats per character, tokens/s, elapsed and remaining time)
// beside the unigram and bigram baselines of the same split; writes the loss curves as an SVG
// picture and the model, its vocabulary and AdamW's state as one checkpoint file.
//
//   gpt [--data TEXT] [--steps N] [--minutes M] [--checkpoint PATH] [--svg PATH]
//       [--require-below-bigram NATS] [--layers L] [--embed C] [--heads H] [--context T]
//       [--batch B] [--lr RATE] [--eval-every N] [--seed S]
//   gpt --sample [--checkpoint PATH] [--prompt TEXT] [--chars N] [--temperature TAU] [--seed S]
//
// The defaults are the documented run: 4 blocks of width 128 with 4 heads, context 64, batches of
// 12 sequences (about 0.82 M parameters), float, one thread.

#include <backprop/backprop.hpp>
#include <backprop/data/text.hpp>
#include <backprop/nn/gpt.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bp = backprop;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
    bool sample = false;
    std::string data;                      // empty: the fortunes
    std::string checkpoint = "gpt.ckpt";
    std::string svg = "gpt_curves.svg";
    long steps = 3000;                     // the schedule's length
    double minutes = 10;                   // stop earlier if this is reached
    double require_below_bigram = 0;       // > 0: exit 1 unless val ≤ bigram − this
    bp::GPTConfig config;                  // vocab comes from the text
    long batch = 12;
    double lr = 3e-3;
    long eval_every = 100;
    unsigned long seed = 1;
    std::string prompt = "The ";
    long chars = 400;
    double temperature = 0.8;
};

[[noreturn]] void usage(const char* program) {
    std::cerr << "usage: " << program
              << " [--data TEXT] [--steps N] [--minutes M] [--checkpoint PATH] [--svg PATH]\n"
                 "       [--require-below-bigram NATS] [--layers L] [--embed C] [--heads H]\n"
                 "       [--context T] [--batch B] [--lr RATE] [--eval-every N] [--seed S]\n"
              << "   or: " << program
              << " --sample [--checkpoint PATH] [--prompt TEXT] [--chars N] [--temperature TAU]"
                 " [--seed S]\n";
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--sample") {
            o.sample = true;
            continue;
        }
        if (i + 1 >= argc) usage(argv[0]);
        const char* value = argv[++i];
        if (flag == "--data") o.data = value;
        else if (flag == "--checkpoint") o.checkpoint = value;
        else if (flag == "--svg") o.svg = value;
        else if (flag == "--steps") o.steps = std::atol(value);
        else if (flag == "--minutes") o.minutes = std::atof(value);
        else if (flag == "--require-below-bigram") o.require_below_bigram = std::atof(value);
        else if (flag == "--layers") o.config.layers = std::atol(value);
        else if (flag == "--embed") o.config.embed = std::atol(value);
        else if (flag == "--heads") o.config.heads = std::atol(value);
        else if (flag == "--context") o.config.context = std::atol(value);
        else if (flag == "--batch") o.batch = std::atol(value);
        else if (flag == "--lr") o.lr = std::atof(value);
        else if (flag == "--eval-every") o.eval_every = std::atol(value);
        else if (flag == "--seed") o.seed = std::strtoul(value, nullptr, 10);
        else if (flag == "--prompt") o.prompt = value;
        else if (flag == "--chars") o.chars = std::atol(value);
        else if (flag == "--temperature") o.temperature = std::atof(value);
        else usage(argv[0]);
    }
    if (o.steps < 1 || o.batch < 1 || o.eval_every < 1 || o.chars < 0) usage(argv[0]);
    return o;
}

// The checkpoint file: a line with the model's sizes, the vocabulary (CharTokenizer::save), then
// the model and AdamW's state (save_checkpoint).
void save(const std::string& path, const bp::GPT<float>& model, const bp::CharTokenizer& tokens,
          const bp::AdamW<float>& adamw) {
    std::ofstream out(path, std::ios::binary);
    const bp::GPTConfig& c = model.config();
    out << "backprop-gpt " << c.context << ' ' << c.embed << ' ' << c.heads << ' ' << c.layers
        << ' ' << c.tied << '\n';
    tokens.save(out);
    bp::save_checkpoint(out, model, adamw);
    if (!out) throw std::runtime_error("cannot write " + path);
}

// The loss curves against the step, with the two baselines as flat lines, in one SVG panel.
void write_svg(const std::string& path, const std::vector<long>& steps,
               const std::vector<double>& train, const std::vector<double>& validation,
               double unigram, double bigram) {
    const double w = 560, h = 300, left = 50, top = 30;
    const double hi = std::ceil(std::max(unigram, train.front()) * 2) / 2, lo = 0;
    const double last = double(steps.back());
    auto x = [&](double step) { return left + w * step / last; };
    auto y = [&](double loss) { return top + h * (hi - std::clamp(loss, lo, hi)) / (hi - lo); };
    std::ostringstream svg;
    svg.precision(4);
    svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w + left + 130 << "' height='"
        << h + top + 45 << "' font-family='sans-serif' font-size='12'>\n"
        << "<rect width='100%' height='100%' fill='white'/>\n<rect x='" << left << "' y='" << top
        << "' width='" << w << "' height='" << h << "' fill='none' stroke='#888'/>\n"
        << "<text x='" << left + w / 2 << "' y='18' text-anchor='middle'>"
        << "loss (nats per character) against the step</text>\n"
        << "<text x='" << left - 6 << "' y='" << top + 10 << "' text-anchor='end'>" << hi
        << "</text>\n<text x='" << left - 6 << "' y='" << top + h << "' text-anchor='end'>0"
        << "</text>\n<text x='" << left << "' y='" << top + h + 16 << "' text-anchor='middle'>0"
        << "</text>\n<text x='" << left + w << "' y='" << top + h + 16
        << "' text-anchor='middle'>" << steps.back() << "</text>\n<text x='" << left + w / 2
        << "' y='" << top + h + 32 << "' text-anchor='middle'>step</text>\n";
    // The legend stacked at the right, one line per curve, in the colour of its curve.
    double legend_y = top + 12;
    auto legend = [&](const char* colour, const char* name) {
        svg << "<text x='" << left + w + 8 << "' y='" << legend_y << "' fill='" << colour << "'>"
            << name << "</text>\n";
        legend_y += 16;
    };
    auto curve = [&](const std::vector<double>& values, const char* colour, const char* name) {
        svg << "<polyline fill='none' stroke='" << colour << "' stroke-width='1.5' points='";
        for (std::size_t i = 0; i < values.size(); ++i) {
            svg << x(double(steps[i])) << ',' << y(values[i]) << ' ';
        }
        svg << "'/>\n";
        legend(colour, name);
    };
    auto flat = [&](double value, const char* colour, const char* name) {
        svg << "<line x1='" << left << "' x2='" << left + w << "' y1='" << y(value) << "' y2='"
            << y(value) << "' stroke='" << colour << "' stroke-dasharray='5,4'/>\n";
        legend(colour, name);
    };
    curve(train, "#1f77b4", "train");
    curve(validation, "#d62728", "validation");
    flat(bigram, "#2ca02c", "bigram (dashed)");
    flat(unigram, "#7f7f7f", "unigram (dashed)");
    svg << "</svg>\n";
    std::ofstream(path) << svg.str();
}

int train(const Options& o) {
    const std::string text = o.data.empty() ? bp::read_fortunes() : bp::read_text(o.data);
    const bp::CharTokenizer tokens(text);
    bp::TextBatches batches(tokens.encode(text), o.config.context, 0.1, o.seed);
    const double unigram = bp::unigram_loss(batches.train(), batches.validation(), tokens.size());
    const double bigram = bp::bigram_loss(batches.train(), batches.validation(), tokens.size());

    bp::GPTConfig config = o.config;
    config.vocab = tokens.size();
    bp::GPT<float> model(config, o.seed);
    const Eigen::Index T = config.context, B = o.batch;
    std::printf("%zu characters, vocabulary %ld; model of %ld parameters (%ld blocks, width %ld,"
                " %ld heads, context %ld); batches of %ld\n",
                text.size(), long(tokens.size()), long(bp::parameter_count(model)),
                long(config.layers), long(config.embed), long(config.heads), long(T), long(B));
    std::printf("baselines on the validation split: unigram %.3f, bigram %.3f nats/char\n",
                unigram, bigram);

    // AdamW with GPT-2's betas; the rate rises linearly for `warmup` steps, then follows a
    // cosine down to a tenth of its peak; gradients are clipped to a norm of 1.
    bp::AdamW<float> adamw(float(o.lr), 0.9f, 0.95f, 1e-8f, 0.1f);
    const long warmup = std::max(1L, o.steps / 20);
    auto rate = [&](long t) {
        if (t < warmup) return o.lr * double(t + 1) / double(warmup);
        const double progress = double(t - warmup) / double(std::max(1L, o.steps - warmup));
        return o.lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(3.14159265358979 * progress)));
    };
    bp::SoftmaxCrossEntropy<float> loss;
    Eigen::VectorXi X, Y;
    // The validation loss: the mean over a fixed set of batches (the same every time).
    auto validation_loss = [&] {
        bp::TextBatches fixed(batches);
        double sum = 0;
        const int count = 20;
        for (int k = 0; k < count; ++k) {
            fixed.sample_validation(B, X, Y);
            sum += double(loss.value(model.predict(X, T), Y));
        }
        return sum / count;
    };

    std::vector<long> steps;
    std::vector<double> train_curve, validation_curve;
    const auto start = Clock::now();
    double train_sum = 0;
    long train_count = 0, step = 0;
    double seconds = 0;
    while (step < o.steps && seconds < 60 * o.minutes) {
        batches.sample_train(B, X, Y);
        train_sum += double(loss.forward(model.forward(X, T), Y));
        ++train_count;
        model.backward(loss.backward());
        bp::clip_grad_norm(model, 1.0);
        adamw.set_lr(float(rate(step)));
        adamw.step(model);
        ++step;
        seconds = std::chrono::duration<double>(Clock::now() - start).count();
        if (step % o.eval_every == 0 || step == o.steps || seconds >= 60 * o.minutes) {
            const double val = validation_loss();
            steps.push_back(step);
            train_curve.push_back(train_sum / double(train_count));
            validation_curve.push_back(val);
            const double remaining =
                std::min(seconds / double(step) * double(o.steps - step), 60 * o.minutes - seconds);
            std::printf("step %5ld  train %.3f  val %.3f  (bigram %.3f)  %6.0f tokens/s  "
                        "%5.0f s elapsed, %4.0f s to go\n",
                        step, train_curve.back(), val, bigram,
                        double(step * B * T) / seconds, seconds, std::max(0.0, remaining));
            std::fflush(stdout);
            train_sum = 0;
            train_count = 0;
        }
    }
    write_svg(o.svg, steps, train_curve, validation_curve, unigram, bigram);
    save(o.checkpoint, model, tokens, adamw);
    const double final_val = validation_curve.back();
    std::printf("trained %ld steps in %.0f s; validation %.3f nats/char, the bigram's %.3f %+.3f;"
                " curves in %s, model in %s\n",
                step, seconds, final_val, bigram, final_val - bigram, o.svg.c_str(),
                o.checkpoint.c_str());
    if (o.require_below_bigram > 0) {
        const bool ok = final_val <= bigram - o.require_below_bigram;
        std::printf("required: at least %.2f below the bigram: %s\n", o.require_below_bigram,
                    ok ? "OK" : "NOT REACHED");
        return ok ? 0 : 1;
    }
    return 0;
}

int sample(const Options& o) {
    std::ifstream in(o.checkpoint, std::ios::binary);
    std::string magic;
    bp::GPTConfig config;
    in >> magic >> config.context >> config.embed >> config.heads >> config.layers >> config.tied;
    if (!in || magic != "backprop-gpt" || in.get() != '\n') {
        throw std::runtime_error(o.checkpoint + " is not a checkpoint of this example");
    }
    const bp::CharTokenizer tokens = bp::CharTokenizer::load(in);
    config.vocab = tokens.size();
    bp::GPT<float> model(config);
    bp::load_parameters(in, model, o.checkpoint);  // the optimiser's state is read and dropped
    const Eigen::VectorXi ids =
        bp::generate(model, tokens.encode(o.prompt), o.chars, o.temperature, o.seed);
    std::cout << tokens.decode(ids) << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    try {
        return o.sample ? sample(o) : train(o);
    } catch (const std::exception& e) {
        std::cerr << argv[0] << ": " << e.what() << "\n";
        return 1;
    }
}
