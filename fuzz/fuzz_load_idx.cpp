// libFuzzer harness of the IDX loader (data/idx.hpp), stream overloads, plain and gzip'd input
// (the loader tells them apart by gzip's magic bytes, so one harness covers both).
//
// Every input is read as an images file and as a labels file. Allowed outcomes: success, or
// std::runtime_error (the documented error of a corrupt file) whose message is printable ASCII
// (the file's bytes escaped) and short. Any other exception, a crash, a leak, undefined behaviour
// or an allocation beyond -malloc_limit_mb (a header that promises more than the input holds) is a
// finding. A success must give consistent data: count·rows·cols pixels, each dimension positive;
// and the images, with as many labels, must load through load_idx into X in [0, 1].
#include <backprop/data/idx.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

void check_message(const std::runtime_error& error) {
    const std::string message = error.what();
    if (message.size() > 1000) std::abort();
    for (const char c : message) {
        if (c < 0x20 || c > 0x7e) std::abort();
    }
}

/// A labels file of `count` labels, all 7.
std::string labels_file(Eigen::Index count) {
    std::string out{'\0', '\0', '\x08', '\x01'};
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>(static_cast<std::uint32_t>(count) >> shift));
    }
    return out + std::string(static_cast<std::size_t>(count), '\x07');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    try {
        std::istringstream in(input);
        const auto images = backprop::load_idx_images(in, "fuzz");
        if (images.count <= 0 || images.rows <= 0 || images.cols <= 0 ||
            images.pixels.size() != std::size_t(images.count * images.rows * images.cols)) {
            std::abort();
        }
        std::istringstream again(input);
        std::istringstream labels(labels_file(images.count));
        const auto loaded = backprop::load_idx<float>(again, "fuzz", labels, "labels");
        if (loaded.X.rows() != images.count || loaded.X.cols() != images.rows * images.cols ||
            loaded.labels.size() != images.count || loaded.classes() != 8 ||
            !(loaded.X.array() >= 0.0f).all() || !(loaded.X.array() <= 1.0f).all()) {
            std::abort();
        }
    } catch (const std::runtime_error& error) {
        check_message(error);
    }
    try {
        std::istringstream in(input);
        const auto labels = backprop::load_idx_labels(in, "fuzz");
        if (labels.size() <= 0 || (labels.array() < 0).any() || (labels.array() > 255).any()) {
            std::abort();
        }
    } catch (const std::runtime_error& error) {
        check_message(error);
    }
    return 0;
}
