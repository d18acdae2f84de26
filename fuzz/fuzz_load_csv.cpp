// libFuzzer harness of load_csv (data/csv.hpp), stream overload.
//
// Every input is read as float and as double data. Allowed outcomes: success, or
// std::runtime_error (the documented error of a malformed file) whose message is printable ASCII
// (the file's bytes escaped) and short (long fields cut). Any other exception, a crash, a leak or
// undefined behaviour is a finding. A success must give consistent data: as many labels as rows,
// at least one feature, finite features, labels in [0, csv_max_label] (so classes() cannot
// overflow), and a split of it into halves that loses no row.
#include <backprop/data/csv.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

template <typename Scalar>
void try_load(const std::string& input) {
    std::istringstream in(input);
    try {
        const auto data = backprop::load_csv<Scalar>(in, "fuzz");
        if (data.X.rows() == 0 || data.X.cols() == 0 || data.labels.size() != data.X.rows() ||
            !data.X.allFinite() || (data.labels.array() < 0).any() ||
            data.classes() > backprop::csv_max_label + 1) {
            std::abort();
        }
        if (data.size() >= 2) {  // both halves non-empty: must not throw
            const auto split = backprop::train_test_split(data, 0.5, static_cast<std::uint64_t>(data.X.size()));
            if (split.train.size() + split.test.size() != data.size()) std::abort();
        }
    } catch (const std::runtime_error& error) {
        const std::string message = error.what();
        if (message.size() > 1000) std::abort();
        for (const char c : message) {
            if (c < 0x20 || c > 0x7e) std::abort();
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    try_load<float>(input);
    try_load<double>(input);
    return 0;
}
