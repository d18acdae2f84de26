// libFuzzer harness of load_parameters and load_checkpoint (io/serialize.hpp), stream overloads.
//
// Every input is loaded, as parameters and as a checkpoint, into a float model (Dense(3, 2),
// stepped by Momentum) and a double model (Dense(2, 2) → LeakyReLU(0.25) → Dense(2, 1), stepped
// by Adam). Allowed outcomes: success, or std::runtime_error (the documented error of a bad file).
// Any other exception, a crash, a leak or undefined behaviour is a finding. Two properties are
// checked as well: a load that throws changes neither the model (parameters and optimiser
// states) nor the optimiser, and a load that succeeds consumed exactly what saving writes back.
#include <backprop/io/serialize.hpp>
#include <backprop/layers/activations.hpp>
#include <backprop/layers/dense.hpp>
#include <backprop/nn/sequential.hpp>
#include <backprop/optim/adam.hpp>
#include <backprop/optim/momentum.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

template <typename Model>
std::string saved(const Model& model) {
    std::ostringstream out;
    backprop::save_parameters(out, model);
    return out.str();
}

template <typename Model, typename Optimizer>
std::string checkpoint(const Model& model, const Optimizer& optimizer) {
    std::ostringstream out;
    backprop::save_checkpoint(out, model, optimizer);
    return out.str();
}

// Whether `input` starts as a version 2 file of these contents (1 parameters, 2 checkpoint).
bool is_version_2(const std::string& input, char contents) {
    return input.size() >= 24 && input.compare(8, 4, std::string("\x02\0\0\0", 4)) == 0 &&
           input.compare(16, 4, std::string(1, contents) + std::string(3, '\0')) == 0;
}

template <typename Model, typename Optimizer>
void try_load(const std::string& input, Model& model, Optimizer& optimizer) {
    std::string before = checkpoint(model, optimizer);  // parameters, states and settings
    {
        std::istringstream in(input);
        try {
            backprop::load_parameters(in, model, "fuzz");
            const std::string after = saved(model);
            if (is_version_2(input, '\x01') && input.compare(0, after.size(), after) != 0) {
                std::abort();  // not what was read
            }
        } catch (const std::runtime_error&) {
            if (checkpoint(model, optimizer) != before) std::abort();  // a failed load changed it
        }
    }
    before = checkpoint(model, optimizer);
    std::istringstream in(input);
    try {
        backprop::load_checkpoint(in, model, optimizer, "fuzz");
    } catch (const std::runtime_error&) {
        if (checkpoint(model, optimizer) != before) std::abort();  // a failed load changed it
        return;
    }
    const std::string after = checkpoint(model, optimizer);
    if (!is_version_2(input, '\x02') || input.compare(0, after.size(), after) != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    backprop::Dense<float> dense(3, 2, 1);
    backprop::Momentum<float> momentum(0.1f, 0.9f);
    try_load(input, dense, momentum);
    backprop::Sequential<backprop::Dense<double, 2, 2>, backprop::LeakyReLU<double>,
                         backprop::Dense<double>>
        net(backprop::Dense<double, 2, 2>(2), backprop::LeakyReLU<double>(0.25),
            backprop::Dense<double>(2, 1, 3));
    backprop::Adam<double> adam;
    try_load(input, net, adam);
    return 0;
}
