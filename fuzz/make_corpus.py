#!/usr/bin/python3
"""Writes the fuzzers' seed corpus: a few valid inputs of each loader and a few near misses.

Run once from anywhere; the output is committed under fuzz/corpus/. The parameter files and
checkpoints follow docs/file_format.md (versions 1 and 2) and fit the harness's models; the IDX
files follow data/idx.hpp's comment, plain and gzip'd.
"""
import gzip
import math
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent


SPECIALS = [0.5, -0.0, math.inf, -1.25, 1e-30, math.nan, 3.0, -2.0]


def values(fmt, shapes, start=0):
    count = sum(rows * cols for rows, cols in shapes)
    return b"".join(struct.pack(fmt, SPECIALS[(start + i) % len(SPECIALS)]) for i in range(count))


def parameter_file(dtype, shapes, version=1, magic=b"BACKPROP"):
    """A version 1 file: the tensors' shapes, then their values."""
    code, fmt = {"float32": (1, "<f"), "float64": (2, "<d")}[dtype]
    out = magic + struct.pack("<IIQ", version, code, len(shapes))
    for rows, cols in shapes:
        out += struct.pack("<QQ", rows, cols)
    return out + values(fmt, shapes)


def name(text):
    return struct.pack("<B", len(text)) + text.encode()


def settings(pairs):
    return struct.pack("<I", len(pairs)) + b"".join(name(k) + struct.pack("<d", v) for k, v in pairs)


def dense(rows, cols):
    """The layer record of a Dense(rows, cols) and the shapes of its W and b."""
    record = (name("Dense") + settings([("in", rows), ("out", cols)]) + struct.pack("<I", 2) +
              name("W") + struct.pack("<QQ", rows, cols) + name("b") + struct.pack("<QQ", 1, cols))
    return record, [(rows, cols), (1, cols)]


def activation(kind, pairs=()):
    return name(kind) + settings(list(pairs)) + struct.pack("<I", 0), []


# An optimiser's kind code, its settings, and the number of moments its states keep.
OPTIMIZERS = {
    "SGD": (1, [("lr", 0.1), ("weight_decay", 0.0)], 0),
    "Momentum": (2, [("lr", 0.1), ("momentum", 0.9), ("nesterov", 0.0), ("weight_decay", 0.0)], 1),
    "Adam": (4, [("lr", 0.001), ("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-8)], 2),
}


def version_2_file(dtype, layers, optimizer=None, steps=3):
    """A version 2 parameter file, or a checkpoint of `optimizer` after `steps` steps (0: every
    state fresh)."""
    code, fmt = {"float32": (1, "<f"), "float64": (2, "<d")}[dtype]
    shapes = [shape for _, layer_shapes in layers for shape in layer_shapes]
    out = b"BACKPROP" + struct.pack("<IIII", 2, code, 2 if optimizer else 1, len(layers))
    out += b"".join(record for record, _ in layers)
    if optimizer:
        kind, pairs, _ = OPTIMIZERS[optimizer]
        if dtype == "float32":  # a float optimiser's settings are floats, widened to float64
            pairs = [(k, struct.unpack("<f", struct.pack("<f", v))[0]) for k, v in pairs]
        out += struct.pack("<I", kind) + settings(pairs)
    out += values(fmt, shapes)
    if optimizer:
        kind, _, moments = OPTIMIZERS[optimizer]
        if steps == 0:
            kind, moments = 0, 0
        for shape in shapes:
            out += struct.pack("<Iq", kind, steps) + b"".join(
                values(fmt, [shape], start=m + 1) for m in range(moments))
    return out


def write(folder, name, data):
    path = HERE / "corpus" / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# The harness's models: a float Dense(3, 2), and a double Dense(2, 2) → LeakyReLU(0.25) →
# Dense(2, 1) (see fuzz_load_parameters.cpp).
float_model = [dense(3, 2)]
double_model = [dense(2, 2), activation("LeakyReLU", [("slope", 0.25)]), dense(2, 1)]

float_v1 = parameter_file("float32", [(3, 2), (1, 2)])
double_v1 = parameter_file("float64", [(2, 2), (1, 2)])
write("load_parameters", "float_dense_3x2", float_v1)
write("load_parameters", "double_dense_2x2", double_v1)
write("load_parameters", "truncated", double_v1[:-5])
write("load_parameters", "version_3", parameter_file("float32", [(3, 2), (1, 2)], version=3))
write("load_parameters", "wrong_shape", parameter_file("float64", [(2, 3), (1, 3)]))
write("load_parameters", "no_tensors", b"BACKPROP" + struct.pack("<IIQ", 1, 0, 0))

write("load_parameters", "v2_float_dense", version_2_file("float32", float_model))
write("load_parameters", "v2_double_net", version_2_file("float64", double_model))
write("load_parameters", "v2_other_slope", version_2_file(
    "float64", [dense(2, 2), activation("LeakyReLU", [("slope", 0.01)]), dense(2, 1)]))
write("load_parameters", "v2_tanh", version_2_file(
    "float64", [dense(2, 2), activation("Tanh"), dense(2, 1)]))
write("load_parameters", "v2_relu_alone", version_2_file("float32", [activation("ReLU")]))
write("load_parameters", "ckpt_float_momentum",
      version_2_file("float32", float_model, optimizer="Momentum"))
write("load_parameters", "ckpt_double_adam", version_2_file("float64", double_model, "Adam"))
write("load_parameters", "ckpt_double_sgd", version_2_file("float64", double_model, "SGD"))
write("load_parameters", "ckpt_fresh", version_2_file("float32", float_model, "Momentum", 0))
write("load_parameters", "ckpt_truncated", version_2_file("float64", double_model, "Adam")[:-9])

write("load_csv", "header", "x1,x2,label\n0.5,-1e-3,1\n2,3,0\n")
write("load_csv", "iris_like", "150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n"
      "4.9,3.0,1.4,0.2,0\n6.3,3.3,6.0,2.5,2\n")
write("load_csv", "windows", " 1 ,\t2,3\r\n\r\n4,5,6\r\n")
write("load_csv", "malformed", "1,2,3\n4,x,6\n7,8\n")
write("load_csv", "bom_header", b"\xef\xbb\xbfx,label\n1,0\n2,1\n")
write("load_csv", "bom_samples", b"\xef\xbb\xbf1,0\r\n2,1\r\n")
write("load_csv", "escaped_bytes", b"1,2,3\n4,a\x01\x00\xc3\xa9\x1b[31m,6\n")
write("load_csv", "header_mix", "0.1,O.2,1\n0.3,0.4,0\n")
write("load_csv", "huge_labels",
      "1,16777215\n2,16777216\n3,2147483647\n4,123456789012345678901234567890\n")
write("load_csv", "signed_first_line", "+1,.5,1.,0\n1e39,-2E+2,1e-40,1\n")
write("load_csv", "trailing_comma", "1,2,0,\n3,4,1,\n")


def idx(dims, data, type_code=0x08):
    """An IDX file: magic 00 00 type ndims, the dimensions (big-endian uint32), then `data`."""
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def gz(data):
    """`data` gzip'd, the same bytes on every run (no time stamp)."""
    return gzip.compress(data, compresslevel=9, mtime=0)


images = idx([3, 2, 4], bytes([0, 1, 127, 128, 254, 255, 16, 32] + list(range(16))))
labels = idx([3], bytes([0, 9, 3]))
write("load_idx", "images", images)
write("load_idx", "labels", labels)
write("load_idx", "images_gz", gz(images))
write("load_idx", "labels_gz", gz(labels))
write("load_idx", "images_28x28", idx([1, 28, 28], bytes(range(256)) * 3 + bytes(16)))
write("load_idx", "images_gz_members", gz(images[:10]) + gz(images[10:]))
write("load_idx", "images_truncated", images[:-3])
write("load_idx", "images_trailing", images + b"\x00\x01")
write("load_idx", "images_float32", idx([1, 1, 2], struct.pack(">ff", 0.5, 1.0), 0x0D))
write("load_idx", "images_zero_dim", idx([3, 0, 4], b""))
write("load_idx", "images_huge_dims", idx([60000, 60000, 60000], b"\x01" * 8))
write("load_idx", "images_gig_promised", idx([1 << 14, 256, 256], b"\x02" * 8))
write("load_idx", "gz_truncated", gz(images)[:-6])
write("load_idx", "gz_bad_crc", gz(images)[:-8] + b"\x00\x00\x00\x00" + gz(images)[-4:])
write("load_idx", "gz_trailing", gz(labels) + b"\x00\x00")
write("load_idx", "gz_payload_short", gz(images[:-1]))
