// docs/file_format.md's examples, run: a layer's parameters saved and loaded, the bytes of the
// file, what loading a file that does not fit says, and labelled samples from CSV.
// Prints what the page shows; exits non-zero if a round trip is not exact or a bad file loads.
#include <backprop/backprop.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace bp = backprop;

namespace {

// The bytes of a parameter file, eight to a line, in hexadecimal.
void hex_dump(const std::string& bytes) {
    for (std::size_t at = 0; at < bytes.size(); at += 8) {
        std::printf("%3zu:", at);
        for (std::size_t i = at; i < std::min(bytes.size(), at + 8); ++i) {
            std::printf(" %02x", static_cast<unsigned char>(bytes[i]));
        }
        std::printf("\n");
    }
}

template <typename Model>
bool refused(const std::string& bytes, Model& model) {
    std::istringstream in(bytes);
    try {
        bp::load_parameters(in, model, "model.bin");
    } catch (const std::runtime_error& e) {
        std::cout << e.what() << "\n";
        return true;
    }
    return false;
}

}  // namespace

int main() {
    bool ok = true;

    // [save and load]
    bp::Dense<float> model(2, 1);
    model.W << 1, -2;
    model.b << 0.5f;
    bp::save_parameters("model.bin", model);   // or save_parameters(std::ostream&, model)
    bp::Dense<float> loaded(2, 1);
    bp::load_parameters("model.bin", loaded);  // or load_parameters(std::istream&, model, name)
    // [save and load]
    ok &= loaded.W == model.W && loaded.b == model.b;

    std::ifstream file("model.bin", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(file)), {});
    std::cout << "model.bin, " << bytes.size() << " bytes:\n";
    hex_dump(bytes);

    std::cout << "\nloading it into models it does not fit:\n";
    bp::Dense<double> as_double(2, 1);
    bp::Dense<float> wider(3, 1);
    bp::Sequential<bp::Dense<float>, bp::ReLU<float>> with_relu(bp::Dense<float>(2, 1),
                                                                 bp::ReLU<float>());
    ok &= refused(bytes, as_double);
    ok &= refused(bytes, wider);
    ok &= refused(bytes, with_relu);
    ok &= refused(bytes.substr(0, bytes.size() - 2), loaded);
    std::remove("model.bin");

    // [checkpoint]
    bp::Sequential<bp::Dense<float>, bp::Tanh<float>, bp::Dense<float>> net(
        bp::Dense<float>(2, 4, 1), bp::Tanh<float>(), bp::Dense<float>(4, 1, 2));
    bp::Adam<float> adam(0.01f);
    // … some training steps, then:
    bp::save_checkpoint("run.ckpt", net, adam);  // parameters, optimiser state and settings
    // later, in a new process, objects built the same way:
    bp::load_checkpoint("run.ckpt", net, adam);  // resume: training goes on bit for bit
    // [checkpoint]
    std::remove("run.ckpt");

    std::ofstream("samples.csv") << "x1,x2,label\n0.5,1.5,0\n2,-1,1\n3,0.25,1\n-1,4,2\n";
    // [csv]
    const auto data = bp::load_csv<float>("samples.csv");          // X (n, features), labels (n)
    auto [train, test] = bp::train_test_split(data, 0.25, /*seed=*/42);
    // [csv]
    std::remove("samples.csv");
    std::cout << "\nsamples.csv: " << data.X.rows() << " samples of " << data.X.cols()
              << " features, " << data.classes() << " classes; " << train.X.rows()
              << " to train on, " << test.X.rows() << " to test\n";
    ok &= data.X.rows() == 4 && train.X.rows() == 3 && test.X.rows() == 1;
    return ok ? 0 : 1;
}
