// libFuzzer harness of load_parameters (io/serialize.hpp), stream overload.
//
// Every input is loaded into a float model and a double model. Allowed outcomes: success, or
// std::runtime_error (the documented error of a bad file). Any other exception, a crash, a leak or
// undefined behaviour is a finding. Two properties are checked as well: a load that throws leaves
// the model unchanged, and a load that succeeds consumed exactly what save_parameters writes back.
#include <backprop/io/parameters.hpp>
#include <backprop/io/serialize.hpp>
#include <backprop/layers/dense.hpp>

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

template <typename Model>
void try_load(const std::string& input, Model& model) {
    const std::string before = saved(model);
    std::istringstream in(input);
    try {
        backprop::load_parameters(in, model, "fuzz");
    } catch (const std::runtime_error&) {
        if (saved(model) != before) std::abort();  // a failed load changed the model
        return;
    }
    const std::string after = saved(model);
    if (input.compare(0, after.size(), after) != 0) std::abort();  // not what was read
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    backprop::Dense<float> dynamic(3, 2, 1);
    try_load(input, dynamic);
    backprop::Dense<double, 2, 2> fixed(2);
    try_load(input, fixed);
    return 0;
}
