// Tests of data/idx.hpp: known values through plain and gzip'd files the tests write, every corrupt
// file, and Fashion-MNIST's real test set when Debian's dataset-fashion-mnist is installed.
#include <backprop/data/idx.hpp>

#include <catch2/catch.hpp>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using backprop::load_idx;
using backprop::load_idx_images;
using backprop::load_idx_labels;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

using Bytes = std::string;

void put_u32(Bytes& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

/// An IDX file: magic 00 00 type ndims, the dimensions, then `data`.
Bytes idx_file(const std::vector<std::uint32_t>& dims, const Bytes& data,
               unsigned char type = 0x08) {
    Bytes out{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
    for (const auto d : dims) put_u32(out, d);
    return out + data;
}

void write_file(const std::string& path, const Bytes& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out);
}

Bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

/// Writes `bytes` gzip'd to `path` through zlib's gzopen/gzwrite, as gzip(1) would.
void write_gzip(const std::string& path, const Bytes& bytes) {
    gzFile file = gzopen(path.c_str(), "wb9");
    REQUIRE(file != nullptr);
    const int written = gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
    const int closed = gzclose(file);
    REQUIRE(written == static_cast<int>(bytes.size()));
    REQUIRE(closed == Z_OK);
}

/// `bytes` gzip'd in memory, by zlib's deflate with a gzip wrapper (windowBits 15 + 16). In
/// memory, not through a scratch file: ctest runs tests in parallel in one directory.
Bytes gzip(const Bytes& bytes) {
    z_stream stream{};
    REQUIRE(deflateInit2(&stream, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    Bytes out(deflateBound(&stream, static_cast<uLong>(bytes.size())) + 32, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    stream.avail_in = static_cast<uInt>(bytes.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    const int status = deflate(&stream, Z_FINISH);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    REQUIRE(status == Z_STREAM_END);
    return out;
}

/// The message load_idx_images (3 dimensions) or load_idx_labels (1) throws on `bytes`.
std::string error_of(const Bytes& bytes, bool images = true) {
    std::istringstream in(bytes);
    try {
        if (images) {
            load_idx_images(in, "bad.idx");
        } else {
            load_idx_labels(in, "bad.idx");
        }
    } catch (const std::runtime_error& error) {
        return error.what();
    }
    return "no exception";
}

// Three 2x4 images, pixel (i, h, w) = known[i·8 + h·4 + w]; their labels.
const Bytes known_pixels{'\x00', '\x01', '\x7f', '\x80', '\xfe', '\xff', '\x10', '\x20',
                         '\xff', '\x00', '\x00', '\x00', '\x00', '\x00', '\x00', '\x05',
                         '\x03', '\x04', '\x05', '\x06', '\x07', '\x08', '\x09', '\x0a'};
const Bytes known_labels{'\x00', '\x09', '\x03'};

}  // namespace

TEMPLATE_TEST_CASE("IDX: known values round trip through plain and gzip'd files", "[idx]", float,
                   double) {
    const Bytes images = idx_file({3, 2, 4}, known_pixels);
    const Bytes labels = idx_file({3}, known_labels);
    const std::string prefix = std::string("test_idx_known_") + (sizeof(TestType) == 4 ? "f" : "d");
    const std::string images_path = prefix + "_images";
    const std::string labels_path = prefix + "_labels";

    SECTION("plain") {
        write_file(images_path, images);
        write_file(labels_path, labels);
    }
    SECTION("gzip'd through gzwrite") {
        write_gzip(images_path, images);
        write_gzip(labels_path, labels);
        REQUIRE(read_file(images_path).substr(0, 2) == "\x1f\x8b");
    }
    SECTION("gzip'd in several members, as cat a.gz b.gz makes") {
        write_file(images_path, gzip(images.substr(0, 5)) + gzip(images.substr(5, 20)) +
                                    gzip(images.substr(25)));
        write_file(labels_path, gzip(labels.substr(0, 4)) + gzip(labels.substr(4)));
    }

    const auto raw = load_idx_images(images_path);
    CHECK(raw.count == 3);
    CHECK(raw.rows == 2);
    CHECK(raw.cols == 4);
    CHECK(Bytes(raw.pixels.begin(), raw.pixels.end()) == known_pixels);
    CHECK(raw.matrix().rows() == 3);
    CHECK(raw.matrix()(1, 7) == 5);  // image 1, h 1, w 3
    CHECK(load_idx_labels(labels_path) == Eigen::Vector3i(0, 9, 3));

    const auto data = load_idx<TestType>(images_path, labels_path);
    REQUIRE(data.X.rows() == 3);
    REQUIRE(data.X.cols() == 8);
    for (Eigen::Index i = 0; i < 3; ++i) {
        for (Eigen::Index h = 0; h < 2; ++h) {
            for (Eigen::Index w = 0; w < 4; ++w) {
                const auto byte = static_cast<unsigned char>(known_pixels[std::size_t(i * 8 + h * 4 + w)]);
                CHECK(data.X(i, h * 4 + w) == TestType(byte) * (TestType(1) / TestType(255)));
            }
        }
    }
    CHECK(data.X(0, 5) == TestType(1));  // 255 is exactly 1
    CHECK(data.X(1, 1) == TestType(0));
    CHECK(data.labels == Eigen::Vector3i(0, 9, 3));
    CHECK(data.classes() == 10);
    CHECK(data.header.empty());

    const auto scaled = load_idx<TestType>(images_path, labels_path, TestType(2));
    CHECK(scaled.X(0, 5) == TestType(510));

    std::remove(images_path.c_str());
    std::remove(labels_path.c_str());
}

TEST_CASE("IDX: labels above 9 are not an error, and classes() follows them", "[idx]") {
    std::istringstream images(idx_file({3, 1, 1}, "abc"));
    std::istringstream labels(idx_file({3}, Bytes{'\x00', '\xc8', '\x0c'}));
    const auto data = load_idx<double>(images, "images", labels, "labels");
    CHECK(data.labels == Eigen::Vector3i(0, 200, 12));
    CHECK(data.classes() == 201);
}

TEST_CASE("IDX: every corrupt file is rejected, naming the file and what was expected", "[idx]") {
    const Bytes images = idx_file({3, 2, 4}, known_pixels);

    SECTION("an empty file") {
        CHECK(error_of("") == "bad.idx: the file is empty: expected an IDX file of images "
                              "(count, rows, cols), magic number 0x00000803");
    }
    SECTION("bad magic: another format, its bytes escaped") {
        CHECK(error_of("P5\n28 28\n255\n") ==
              "bad.idx: not an IDX file: the magic number is 'P5\\x0a2', expected two zero "
              "bytes, the data type and the number of dimensions (0x00000803 for images "
              "(count, rows, cols))");
    }
    SECTION("a data type this loader does not read, or none at all") {
        CHECK(error_of(idx_file({3, 2, 4}, Bytes(96, '\0'), 0x0D)) ==
              "bad.idx: the data type is 0x0d (float32), which is not supported: expected 0x08 "
              "(unsigned byte)");
        CHECK(error_of(idx_file({3, 2, 4}, known_pixels, 0x07)) ==
              "bad.idx: the data type is 0x07, which is no IDX data type: expected 0x08 "
              "(unsigned byte)");
    }
    SECTION("another number of dimensions: labels given as images, and the reverse") {
        CHECK(error_of(idx_file({3}, known_labels)) ==
              "bad.idx: the file has 1 dimension (magic number 0x00000801) but images (count, "
              "rows, cols) need 3 (magic number 0x00000803)");
        CHECK(error_of(images, false) ==
              "bad.idx: the file has 3 dimensions (magic number 0x00000803) but labels (count) "
              "need 1 (magic number 0x00000801)");
    }
    SECTION("a dimension of zero") {
        CHECK(error_of(idx_file({3, 0, 4}, "")) ==
              "bad.idx: dimension 2 of 3 of images (count, rows, cols) is 0, expected a positive "
              "size");
        CHECK(error_of(idx_file({0}, ""), false) ==
              "bad.idx: dimension 1 of 1 of labels (count) is 0, expected a positive size");
    }
    SECTION("huge dimensions are refused before any allocation") {
        CHECK(error_of(idx_file({60000, 60000, 60000}, known_pixels)) ==
              "bad.idx: the dimensions 60000 x 60000 x 60000 make more than 2147483648 bytes of "
              "data, the most an IDX file may hold (idx_max_bytes)");
        CHECK_THAT(error_of(idx_file({0xffffffff, 0xffffffff, 0xffffffff}, "")),
                   Contains("4294967295 x 4294967295 x 4294967295 make more than"));
        // 1 GiB promised, 24 bytes present: memory grows only as the data arrives.
        CHECK(error_of(idx_file({1 << 14, 1 << 8, 1 << 8}, known_pixels)) ==
              "bad.idx: truncated data: the dimensions 16384 x 256 x 256 make 1073741824 bytes "
              "but the file ends after 24");
    }
    SECTION("a truncated header") {
        CHECK(error_of(images.substr(0, 3)) ==
              "bad.idx: truncated header: expected 4 bytes of magic number, found 3");
        CHECK(error_of(images.substr(0, 10)) ==
              "bad.idx: truncated header: expected 4 bytes of dimension 2 of 3, found 2");
    }
    SECTION("a truncated payload") {
        CHECK(error_of(images.substr(0, images.size() - 1)) ==
              "bad.idx: truncated data: the dimensions 3 x 2 x 4 make 24 bytes but the file ends "
              "after 23");
    }
    SECTION("trailing bytes") {
        CHECK(error_of(images + "\n\x01") ==
              "bad.idx: trailing bytes: the dimensions 3 x 2 x 4 make 24 bytes of data but 2 more "
              "follow ('\\x0a\\x01')");
        CHECK_THAT(error_of(images + Bytes(10000, 'x')),
                   Contains("but 10000 more follow ('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...')"));
    }
    SECTION("a gzip'd file with a truncated or trailing payload, the gzip stream intact") {
        CHECK(error_of(gzip(images.substr(0, 20))) ==
              "bad.idx: truncated data: the dimensions 3 x 2 x 4 make 24 bytes but the file ends "
              "after 4");
        CHECK_THAT(error_of(gzip(images + "!")), StartsWith("bad.idx: trailing bytes:") &&
                                                     Contains("1 more follow ('!')"));
    }
    SECTION("a truncated gzip stream") {
        const Bytes packed = gzip(images);
        for (const std::size_t cut : {std::size_t(2), std::size_t(12), packed.size() / 2,
                                      packed.size() - 8, packed.size() - 1}) {
            INFO("cut to " << cut << " of " << packed.size() << " bytes");
            CHECK_THAT(error_of(packed.substr(0, cut)),
                       StartsWith("bad.idx: truncated gzip stream: the file ends before the end "
                                  "of the compressed data"));
        }
    }
    SECTION("a corrupt gzip stream") {
        Bytes packed = gzip(images);
        Bytes bad_crc = packed;
        bad_crc[packed.size() - 8] ^= 1;
        CHECK(error_of(bad_crc) == "bad.idx: corrupt gzip stream after 40 bytes decompressed: "
                                   "zlib says 'incorrect data check'");
        Bytes bad_length = packed;
        bad_length[packed.size() - 4] ^= 1;
        CHECK_THAT(error_of(bad_length), Contains("zlib says 'incorrect length check'"));
        Bytes bad_method = packed;
        bad_method[2] = 7;  // compression method: only 8 (deflate) exists
        CHECK_THAT(error_of(bad_method),
                   StartsWith("bad.idx: corrupt gzip stream after 0 bytes decompressed"));
        Bytes bad_block = packed;
        bad_block[10] = '\x07';  // a final block of the reserved type 3
        CHECK_THAT(error_of(bad_block), Contains("zlib says 'invalid block type'"));
    }
    SECTION("bytes after the gzip stream") {
        CHECK(error_of(gzip(images) + Bytes("\0\0\x01", 3)) ==
              "bad.idx: bytes after the end of the gzip stream: expected the end of the file or "
              "another gzip member (0x1f 0x8b), found '\\x00\\x00\\x01'");
        CHECK_THAT(error_of(gzip(images) + "\x1f"), Contains("found '\\x1f'"));
    }
    SECTION("a file that cannot be opened") {
        CHECK_THROWS_WITH(load_idx_images("test_idx_no_such_file"),
                          "test_idx_no_such_file: cannot open the file for reading");
        CHECK_THROWS_WITH(load_idx<float>("test_idx_no_such_file", "test_idx_no_labels"),
                          "test_idx_no_such_file: cannot open the file for reading");
    }
    SECTION("images and labels of different counts; the target of a failed load is unchanged") {
        std::istringstream images_in(images);
        std::istringstream labels_in(idx_file({4}, Bytes(4, '\x01')));
        backprop::LabeledData<float> data;
        data.labels = Eigen::Vector2i(7, 7);
        CHECK_THROWS_WITH(data = load_idx<float>(images_in, "images.idx", labels_in, "labels.idx"),
                          "load_idx: images.idx holds 3 images but labels.idx holds 4 labels; "
                          "expected one label per image");
        CHECK(data.labels == Eigen::Vector2i(7, 7));
        CHECK(data.X.size() == 0);
    }
    SECTION("a corrupt labels file names the labels file") {
        std::istringstream images_in(images);
        std::istringstream labels_in(idx_file({3}, "ab"));
        CHECK_THROWS_WITH(load_idx<float>(images_in, "images.idx", labels_in, "labels.idx"),
                          "labels.idx: truncated data: the dimensions 3 make 3 bytes but the file "
                          "ends after 2");
    }
}

TEST_CASE("IDX: Fashion-MNIST's test set (Debian's dataset-fashion-mnist)", "[idx][fashion-mnist]") {
    const std::string folder = "/usr/share/datasets/fashion-mnist/";
    const std::string images = folder + "t10k-images-idx3-ubyte.gz";
    const std::string labels = folder + "t10k-labels-idx1-ubyte.gz";
    if (!std::ifstream(images) || !std::ifstream(labels)) {
        // "SKIPPED:" makes ctest report the test as skipped (tests/CMakeLists.txt).
        WARN("SKIPPED: Fashion-MNIST's test set is not in " << folder
             << " (install Debian's dataset-fashion-mnist to run this test)");
        return;
    }
    const auto raw = load_idx_images(images);
    CHECK(raw.count == 10000);
    CHECK(raw.rows == 28);
    CHECK(raw.cols == 28);

    const auto data = load_idx<float>(images, labels);
    REQUIRE(data.X.rows() == 10000);
    REQUIRE(data.X.cols() == 784);
    CHECK(data.X.minCoeff() == 0.0f);
    CHECK(data.X.maxCoeff() == 1.0f);
    CHECK(data.X(0, 0) == float(raw.pixels[0]) / 255.0f);
    CHECK(data.X(9999, 783) == float(raw.pixels.back()) / 255.0f);
    CHECK(data.classes() == 10);
    std::vector<int> per_class(10, 0);
    for (Eigen::Index i = 0; i < data.labels.size(); ++i) {
        REQUIRE(data.labels(i) >= 0);
        REQUIRE(data.labels(i) <= 9);
        ++per_class[static_cast<std::size_t>(data.labels(i))];
    }
    CHECK(per_class == std::vector<int>(10, 1000));
}
