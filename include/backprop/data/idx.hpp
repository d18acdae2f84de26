#pragma once
/// \file
/// Loading IDX files, the format of MNIST and Fashion-MNIST, plain or gzip'd.
///
/// The format (all integers big-endian):
///
///     magic       4 bytes: 0x00, 0x00, the data type, the number of dimensions
///     dimensions  one uint32 per dimension, the first the number of samples
///     data        the values in row-major order (the last dimension varies fastest)
///
/// The data types are 0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32
/// and 0x0E float64; only 0x08 is read here (every file of MNIST and Fashion-MNIST is 0x08), the
/// others are rejected by name. Images are magic 0x00000803, dimensions (n, rows, cols); labels
/// are magic 0x00000801, dimension (n).
///
/// A file is read as gzip if it starts with gzip's magic bytes 0x1f 0x8b (an IDX file starts with
/// 0x00 0x00, so the two cannot be confused), whatever its name; zlib's inflate decompresses it
/// as it is read. Several gzip members one after the other (what `cat a.gz b.gz` makes) are one
/// stream, as gunzip reads them.
///
/// What is checked, before the data is returned, so that a load that fails returns nothing: the
/// magic number, the data type, the number of dimensions the caller expects, every dimension
/// non-zero, their product at most idx_max_bytes (checked before anything is allocated), a payload
/// of exactly that many bytes (a file that ends early is truncated, one with bytes after the data
/// has trailing bytes: both are errors), and for gzip, the integrity of the compressed stream
/// (its CRC and length) and nothing after its end. Even within idx_max_bytes, the data's memory
/// grows only as the data arrives, so a corrupt header on a short file costs no more memory than
/// the file holds.
///
/// Every failure throws std::runtime_error whose message starts with `<name>: `, then says what was
/// expected and what was found, e.g. `t10k-images-idx3-ubyte.gz: truncated data: the dimensions
/// 10000 x 28 x 28 make 7840000 bytes but the file ends after 1234`. Bytes of the file are shown
/// escaped (detail::escape_bytes).
///
/// Image layout: load_idx returns X of shape (n, rows·cols), one image per row, pixel (h, w) at
/// column h·cols + w. That is PyTorch's NCHW flattening with C = 1 (column c·H·W + h·W + w), the
/// order the file stores, so no pixel is moved.
///
/// Linking: this header needs zlib, which the rest of the library does not. Link the CMake target
/// backprop::idx (backprop::backprop plus ZLIB::ZLIB; with find_package, ask for it as
/// `find_package(backprop COMPONENTS idx)`), so that a user who never reads IDX files never needs
/// zlib. It is not included by backprop.hpp for the same reason.

#include "../detail/text.hpp"
#include "csv.hpp"

#include <Eigen/Core>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <istream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace backprop {

/// The most bytes of data an IDX file may hold: 2³¹ (2 GiB), the product of its dimensions. The
/// largest of the MNIST family, EMNIST ByClass's training images, hold 547 MB. The check comes
/// before any allocation, and the data's memory then grows only as the data arrives.
inline constexpr std::uint64_t idx_max_bytes = std::uint64_t(1) << 31;

/// Images of an IDX file, as stored: unsigned bytes, 0 to 255.
struct IdxImages {
    /// The pixels, image after image, each row-major: pixel (h, w) of image i at
    /// i·rows·cols + h·cols + w. count·rows·cols bytes.
    std::vector<std::uint8_t> pixels;
    Eigen::Index count = 0;  ///< Number of images n.
    Eigen::Index rows = 0;   ///< Height of an image.
    Eigen::Index cols = 0;   ///< Width of an image.

    /// The pixels as a matrix (n, rows·cols), one image per row (NCHW flattening, C = 1); a view
    /// of `pixels`, valid while this object lives.
    Eigen::Map<const Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>
    matrix() const {
        return {pixels.data(), count, rows * cols};
    }
};

namespace detail {

inline constexpr unsigned char idx_ubyte = 0x08;

/// The name of an IDX data type in messages, or nullptr if the code is no IDX type.
inline const char* idx_type_name(unsigned char type) {
    switch (type) {
        case 0x08: return "unsigned byte";
        case 0x09: return "signed byte";
        case 0x0B: return "int16";
        case 0x0C: return "int32";
        case 0x0D: return "float32";
        case 0x0E: return "float64";
        default: return nullptr;
    }
}

/// `value` as 0x followed by `digits` hexadecimal digits.
inline std::string idx_hex(std::uint32_t value, int digits) {
    const char* hex = "0123456789abcdef";
    std::string out = "0x";
    for (int d = digits - 1; d >= 0; --d) out.push_back(hex[(value >> (4 * d)) & 15]);
    return out;
}

/// The bytes of an IDX file, plain or gzip'd (detected by gzip's magic 0x1f 0x8b), read from a
/// stream through a 64 KiB buffer. read() returns fewer bytes than asked only at the end of the
/// data, and for gzip only after the end of the compressed stream has been reached and checked.
/// Every failure throws std::runtime_error "<name>: …".
class IdxSource {
public:
    IdxSource(std::istream& in, const std::string& name) : in_(in), name_(name) {
        gzip_ = ensure(2) >= 2 && buffer_[begin_] == 0x1f && buffer_[begin_ + 1] == 0x8b;
        if (gzip_) {
            if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) {  // 16: gzip only, not zlib or raw
                fail("zlib cannot start decompressing (out of memory?)");
            }
            z_open_ = true;
            in_member_ = true;
        }
    }
    ~IdxSource() {
        if (z_open_) inflateEnd(&z_);
    }
    IdxSource(const IdxSource&) = delete;
    IdxSource& operator=(const IdxSource&) = delete;

    bool gzip() const { return gzip_; }

    /// Up to `count` bytes into `out`; fewer only at the end of the data.
    std::size_t read(unsigned char* out, std::size_t count) {
        return gzip_ ? inflate_into(out, count) : copy_into(out, count);
    }

    [[noreturn]] void fail(const std::string& message) const {
        throw std::runtime_error(name_ + ": " + message);
    }

private:
    static constexpr std::size_t capacity = 64 * 1024;

    /// Reads from the stream until the buffer holds at least `count` (≤ capacity) unread bytes
    /// or the stream ends; returns how many it holds.
    std::size_t ensure(std::size_t count) {
        if (end_ - begin_ >= count) return end_ - begin_;
        std::copy(buffer_.begin() + static_cast<std::ptrdiff_t>(begin_),
                  buffer_.begin() + static_cast<std::ptrdiff_t>(end_), buffer_.begin());
        end_ -= begin_;
        begin_ = 0;
        while (end_ < count && in_) {
            in_.read(reinterpret_cast<char*>(buffer_.data() + end_),
                     static_cast<std::streamsize>(capacity - end_));
            end_ += static_cast<std::size_t>(in_.gcount());
        }
        if (in_.bad()) fail("reading failed");
        return end_;
    }

    std::size_t copy_into(unsigned char* out, std::size_t count) {
        std::size_t done = 0;
        while (done < count && ensure(1) > 0) {
            const std::size_t n = std::min(count - done, end_ - begin_);
            std::copy(buffer_.begin() + static_cast<std::ptrdiff_t>(begin_),
                      buffer_.begin() + static_cast<std::ptrdiff_t>(begin_ + n), out + done);
            begin_ += n;
            done += n;
        }
        return done;
    }

    std::size_t inflate_into(unsigned char* out, std::size_t count) {
        std::size_t done = 0;
        while (done < count && !finished_) {
            if (!in_member_) {
                // After a member: the end of the file, or another member, or garbage.
                const std::size_t held = ensure(2);
                if (held == 0) {
                    finished_ = true;
                    break;
                }
                if (held < 2 || buffer_[begin_] != 0x1f || buffer_[begin_ + 1] != 0x8b) {
                    const std::size_t shown = std::min<std::size_t>(held, 40);
                    fail("bytes after the end of the gzip stream: expected the end of the file or "
                         "another gzip member (0x1f 0x8b), found '" +
                         escape_bytes({reinterpret_cast<const char*>(buffer_.data() + begin_),
                                       shown}) + (held > shown ? "...'" : "'"));
                }
                if (inflateReset(&z_) != Z_OK) fail("zlib cannot restart decompressing");
                in_member_ = true;
            }
            if (ensure(1) == 0) {
                fail("truncated gzip stream: the file ends before the end of the compressed data "
                     "(after " + std::to_string(produced_ + done) + " bytes decompressed)");
            }
            z_.next_in = buffer_.data() + begin_;
            z_.avail_in = static_cast<uInt>(end_ - begin_);
            z_.next_out = out + done;
            const auto room = static_cast<uInt>(std::min<std::size_t>(count - done, UINT_MAX));
            z_.avail_out = room;
            const int status = inflate(&z_, Z_NO_FLUSH);
            begin_ = end_ - z_.avail_in;
            done += room - z_.avail_out;
            if (status == Z_STREAM_END) {
                in_member_ = false;
            } else if (status != Z_OK && status != Z_BUF_ERROR) {
                // Z_BUF_ERROR is no progress for want of input: the next round reads more.
                fail("corrupt gzip stream after " + std::to_string(produced_ + done) +
                     " bytes decompressed: zlib says '" +
                     escape_bytes(z_.msg != nullptr ? z_.msg : zError(status)) + "'");
            }
        }
        produced_ += done;
        return done;
    }

    std::istream& in_;
    const std::string& name_;
    std::array<unsigned char, capacity> buffer_{};
    std::size_t begin_ = 0;  // the unread bytes are buffer_[begin_, end_)
    std::size_t end_ = 0;
    bool gzip_ = false;
    z_stream z_{};
    bool z_open_ = false;
    bool in_member_ = false;    // inside a gzip member, before its end
    bool finished_ = false;     // the last member ended and the file with it
    std::uint64_t produced_ = 0;  // bytes decompressed so far, for messages
};

/// An IDX file's dimensions and unsigned-byte data.
struct IdxArray {
    std::vector<std::uint32_t> dims;
    std::vector<std::uint8_t> data;  ///< the product of dims bytes, row-major
};

/// "10000 x 28 x 28"
inline std::string idx_dims_text(const std::vector<std::uint32_t>& dims) {
    std::string text;
    for (std::size_t d = 0; d < dims.size(); ++d) {
        text += (d == 0 ? "" : " x ") + std::to_string(dims[d]);
    }
    return text;
}

/// Reads a whole IDX file of unsigned bytes with `ndims` dimensions, `what` naming its contents
/// and dimensions in messages (e.g. "images (count, rows, cols)"). All checks of this file's
/// comment; throws std::runtime_error "<name>: …" on any failure.
inline IdxArray read_idx(std::istream& in, const std::string& name, unsigned ndims,
                         const std::string& what) {
    IdxSource source(in, name);
    const std::string expected_magic = idx_hex(0x0800u | ndims, 8);

    unsigned char magic[4] = {};
    const std::size_t got = source.read(magic, 4);
    if (got == 0) {
        source.fail("the file is empty: expected an IDX file of " + what + ", magic number " +
                    expected_magic);
    }
    if (got < 4) {
        source.fail("truncated header: expected 4 bytes of magic number, found " +
                    std::to_string(got));
    }
    const std::string magic_text = "'" + escape_bytes({reinterpret_cast<char*>(magic), 4}) + "'";
    if (magic[0] != 0 || magic[1] != 0) {
        source.fail("not an IDX file: the magic number is " + magic_text +
                    ", expected two zero bytes, the data type and the number of dimensions (" +
                    expected_magic + " for " + what + ")");
    }
    if (magic[2] != idx_ubyte) {
        const char* type = idx_type_name(magic[2]);
        source.fail("the data type is " + idx_hex(magic[2], 2) +
                    (type != nullptr ? " (" + std::string(type) + "), which is not supported"
                                     : std::string(", which is no IDX data type")) +
                    ": expected 0x08 (unsigned byte)");
    }
    if (magic[3] != ndims) {
        source.fail("the file has " + std::to_string(magic[3]) + " dimension" +
                    (magic[3] == 1 ? "" : "s") + " (magic number " +
                    idx_hex(0x0800u | magic[3], 8) + ") but " + what + " need " +
                    std::to_string(ndims) + " (magic number " + expected_magic + ")");
    }

    IdxArray array;
    array.dims.resize(ndims);
    std::uint64_t bytes = 1;
    for (unsigned d = 0; d < ndims; ++d) {
        unsigned char field[4] = {};
        const std::size_t n = source.read(field, 4);
        if (n < 4) {
            source.fail("truncated header: expected 4 bytes of dimension " + std::to_string(d + 1) +
                        " of " + std::to_string(ndims) + ", found " + std::to_string(n));
        }
        const std::uint32_t size = std::uint32_t(field[0]) << 24 | std::uint32_t(field[1]) << 16 |
                                   std::uint32_t(field[2]) << 8 | std::uint32_t(field[3]);
        if (size == 0) {
            source.fail("dimension " + std::to_string(d + 1) + " of " + std::to_string(ndims) +
                        " of " + what + " is 0, expected a positive size");
        }
        array.dims[d] = size;
        // bytes ≤ idx_max_bytes here, so the product below cannot overflow 64 bits.
        bytes = bytes * size <= idx_max_bytes ? bytes * size : idx_max_bytes + 1;
    }
    const std::string dims_text = idx_dims_text(array.dims);
    if (bytes > idx_max_bytes) {
        source.fail("the dimensions " + dims_text + " make more than " +
                    std::to_string(idx_max_bytes) + " bytes of data, the most an IDX file may " +
                    "hold (idx_max_bytes)");
    }

    // The data grows as it arrives: a header that promises more than the file holds allocates no
    // more than the file holds (the growth doubles, so at most twice that).
    const auto total = static_cast<std::size_t>(bytes);
    std::size_t have = 0;
    while (have < total) {
        const std::size_t next = std::min(total, std::max<std::size_t>(have * 2, 1 << 20));
        array.data.resize(next);
        const std::size_t n = source.read(array.data.data() + have, next - have);
        have += n;
        if (have < next) {
            source.fail("truncated data: the dimensions " + dims_text + " make " +
                        std::to_string(total) + " bytes but the file ends after " +
                        std::to_string(have));
        }
    }
    // Exactly that many: anything more is trailing bytes. For gzip this read also reaches and
    // checks the end of the compressed stream (its CRC and length).
    unsigned char extra[4096];
    std::uint64_t trailing = 0;
    std::string first;
    for (std::size_t n; (n = source.read(extra, sizeof extra)) > 0; trailing += n) {
        if (first.empty()) first.assign(reinterpret_cast<char*>(extra), std::min<std::size_t>(n, 40));
    }
    if (trailing > 0) {
        source.fail("trailing bytes: the dimensions " + dims_text + " make " +
                    std::to_string(total) + " bytes of data but " + std::to_string(trailing) +
                    " more follow ('" + escape_bytes(first) + (trailing > first.size() ? "...')" : "')"));
    }
    return array;
}

inline std::ifstream idx_open(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open the file for reading");
    return in;
}

}  // namespace detail

/// Reads an IDX file of images (magic 0x00000803: unsigned bytes, dimensions (n, rows, cols)),
/// plain or gzip'd, from a stream; `name` starts every error message.
///
/// → pixels of count·rows·cols bytes. Throws std::runtime_error for every check of this file's
/// comment (magic number, data type, 3 dimensions, each non-zero, at most idx_max_bytes, exact
/// length, gzip integrity).
inline IdxImages load_idx_images(std::istream& in, const std::string& name = "<stream>") {
    auto array = detail::read_idx(in, name, 3, "images (count, rows, cols)");
    IdxImages images;
    images.pixels = std::move(array.data);
    images.count = static_cast<Eigen::Index>(array.dims[0]);
    images.rows = static_cast<Eigen::Index>(array.dims[1]);
    images.cols = static_cast<Eigen::Index>(array.dims[2]);
    return images;
}

/// Reads the IDX image file at `path` (see the stream overload); throws std::runtime_error also
/// if the file cannot be opened.
inline IdxImages load_idx_images(const std::string& path) {
    auto in = detail::idx_open(path);
    return load_idx_images(in, path);
}

/// Reads an IDX file of labels (magic 0x00000801: unsigned bytes, dimension (n)), plain or
/// gzip'd, from a stream; `name` starts every error message.
///
/// → labels (n), each 0 to 255 (any value: a label above 9 is not an error). Throws
/// std::runtime_error for every check of this file's comment.
inline Eigen::VectorXi load_idx_labels(std::istream& in, const std::string& name = "<stream>") {
    const auto array = detail::read_idx(in, name, 1, "labels (count)");
    Eigen::VectorXi labels(static_cast<Eigen::Index>(array.data.size()));
    for (Eigen::Index i = 0; i < labels.size(); ++i) {
        labels(i) = array.data[static_cast<std::size_t>(i)];
    }
    return labels;
}

/// Reads the IDX label file at `path` (see the stream overload); throws std::runtime_error also
/// if the file cannot be opened.
inline Eigen::VectorXi load_idx_labels(const std::string& path) {
    auto in = detail::idx_open(path);
    return load_idx_labels(in, path);
}

/// Images and their labels from two IDX streams, as labelled samples: pixel p becomes p·scale
/// (by default p / 255, in [0, 1]).
///
/// → X (n, rows·cols), one image per row in NCHW order with C = 1 (pixel (h, w) at column
/// h·cols + w); labels (n); header empty. Throws std::runtime_error as load_idx_images and
/// load_idx_labels, and if the two files hold different numbers of samples (naming both).
template <typename Scalar>
LabeledData<Scalar> load_idx(std::istream& images_in, const std::string& images_name,
                             std::istream& labels_in, const std::string& labels_name,
                             Scalar scale = Scalar(1) / Scalar(255)) {
    static_assert(std::is_floating_point_v<Scalar>, "load_idx needs a floating-point Scalar");
    const IdxImages images = load_idx_images(images_in, images_name);
    Eigen::VectorXi labels = load_idx_labels(labels_in, labels_name);
    if (labels.size() != images.count) {
        throw std::runtime_error("load_idx: " + images_name + " holds " +
                                 std::to_string(images.count) + " images but " + labels_name +
                                 " holds " + std::to_string(labels.size()) +
                                 " labels; expected one label per image");
    }
    LabeledData<Scalar> data;
    // Row-major bytes into a column-major X: Eigen's assignment handles the change of order.
    data.X = images.matrix().template cast<Scalar>() * scale;
    data.labels = std::move(labels);
    return data;
}

/// Images and labels from the IDX files at `images_path` and `labels_path` (see the stream
/// overload), e.g. Fashion-MNIST's test set from Debian's dataset-fashion-mnist:
///
///     auto test = backprop::load_idx<float>(
///         "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
///         "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
///     // test.X is (10000, 784), test.labels (10000), test.classes() 10
template <typename Scalar>
LabeledData<Scalar> load_idx(const std::string& images_path, const std::string& labels_path,
                             Scalar scale = Scalar(1) / Scalar(255)) {
    auto images = detail::idx_open(images_path);
    auto labels = detail::idx_open(labels_path);
    return load_idx<Scalar>(images, images_path, labels, labels_path, scale);
}

}  // namespace backprop
