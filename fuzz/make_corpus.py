#!/usr/bin/python3
"""Writes the fuzzers' seed corpus: a few valid inputs of each loader and a few near misses.

Run once from anywhere; the output is committed under fuzz/corpus/. The parameter files follow
docs/file_format.md and fit the harness's models: a float Dense(3, 2) and a double Dense(2, 2).
"""
import math
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent


def parameter_file(dtype, shapes, version=1, magic=b"BACKPROP"):
    code, fmt = {"float32": (1, "<f"), "float64": (2, "<d")}[dtype]
    out = magic + struct.pack("<IIQ", version, code, len(shapes))
    for rows, cols in shapes:
        out += struct.pack("<QQ", rows, cols)
    specials = [0.5, -0.0, math.inf, -1.25, 1e-30, math.nan, 3.0, -2.0]
    count = sum(rows * cols for rows, cols in shapes)
    for i in range(count):
        out += struct.pack(fmt, specials[i % len(specials)])
    return out


def write(folder, name, data):
    path = HERE / "corpus" / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_bytes(data if isinstance(data, bytes) else data.encode())


float_model = parameter_file("float32", [(3, 2), (1, 2)])
double_model = parameter_file("float64", [(2, 2), (1, 2)])
write("load_parameters", "float_dense_3x2", float_model)
write("load_parameters", "double_dense_2x2", double_model)
write("load_parameters", "truncated", double_model[:-5])
write("load_parameters", "version_2", parameter_file("float32", [(3, 2), (1, 2)], version=2))
write("load_parameters", "wrong_shape", parameter_file("float64", [(2, 3), (1, 3)]))
write("load_parameters", "no_tensors", b"BACKPROP" + struct.pack("<IIQ", 1, 0, 0))

write("load_csv", "header", "x1,x2,label\n0.5,-1e-3,1\n2,3,0\n")
write("load_csv", "iris_like", "150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n"
      "4.9,3.0,1.4,0.2,0\n6.3,3.3,6.0,2.5,2\n")
write("load_csv", "windows", " 1 ,\t2,3\r\n\r\n4,5,6\r\n")
write("load_csv", "malformed", "1,2,3\n4,x,6\n7,8\n")
