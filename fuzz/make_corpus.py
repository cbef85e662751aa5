#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora under fuzz/corpus/NAME/: a few small valid inputs each.

Run from anywhere: python3 fuzz/make_corpus.py. The output is committed; rerun it only to
change the seeds. JPEG and WebP seeds need ffmpeg (skipped with a note when it is missing).
"""

import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(name, file, data):
    directory = os.path.join(CORPUS, name)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, file), "wb") as fh:
        fh.write(data if isinstance(data, bytes) else data.encode())


def onnx():
    goldens = os.path.join(ROOT, "Tests", "ONNXTests", "Goldens", "ops")
    for case in ("conv_3x3_pad", "softmax_axis1", "shape_start_end_concat_reshape", "clip_min_only"):
        with open(os.path.join(goldens, case, "model.onnx"), "rb") as fh:
            put("onnx", case + ".onnx", fh.read())


def ncnn():
    weights = struct.pack("<I", 0) + struct.pack("<4f", 0.5, -1, 2, 0.25) + struct.pack("<f", 0.1)
    put("ncnn", "conv.param", "7767517\n3 3\nInput in 0 1 data 0=4 1=4 2=1\n"
        "Convolution c 1 1 data conv 0=1 1=2 5=1 6=4 9=2 -23310=1,1.000000e-01\n"
        "ReLU r 1 1 conv out 0=0.2\n\0".encode() + weights)
    put("ncnn", "ops.param", "7767517\n5 6\nInput in 0 1 data\nSplit s 1 2 data a b\n"
        "BinaryOp add 2 1 a b sum 0=0\nInterp up 1 1 sum up 0=2 1=2.0 2=2.0\n"
        "Eltwise e 2 1 up up out 0=1 -23301=2,1.0,0.5\n")


def safetensors():
    header = json.dumps({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                         "b": {"dtype": "F16", "shape": [2], "data_offsets": [16, 20]},
                         "__metadata__": {"format": "pt"}}).encode()
    put("safetensors", "two.safetensors", struct.pack("<Q", len(header)) + header + bytes(range(20)))


def png(width, height, color_type, channels):
    raw = b"".join(b"\0" + bytes((x * 37 + y * 11 + c * 5) & 0xFF for x in range(width) for c in range(channels))
                   for y in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def images():
    put("image", "rgb.png", png(4, 3, 2, 3))
    put("image", "gray-alpha.png", png(3, 3, 4, 2))
    if shutil.which("ffmpeg") is None:
        print("ffmpeg missing: no JPEG/WebP seeds")
        return
    with tempfile.TemporaryDirectory() as scratch:
        for name, args in (("small.jpg", []), ("small.webp", ["-c:v", "libwebp"])):
            out = os.path.join(scratch, name)
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=8x8", "-frames:v", "1"] + args + [out],
                           check=True)
            with open(out, "rb") as fh:
                put("image", name, fh.read())


def data_uri():
    put("datauri", "png", "data:image/png;base64," + __import__("base64").b64encode(png(2, 2, 2, 3)).decode())
    put("datauri", "text", "data:text/plain;charset=utf-8,hello%20world")
    put("datauri", "params", "data:image/jpeg;name=a.jpg;base64,/9j/4AAQ")


def schema():
    put("schema", "object", json.dumps({"a": "x", "b": 3, "c": [1.5, 2], "d": None, "e": {"f": "abc"}}))
    put("schema", "pair", json.dumps([{"type": "array", "items": {"type": "integer", "multipleOf": 3}, "uniqueItems": True},
                                      [3, 6, 9]]))
    put("schema", "oneof", json.dumps([{"oneOf": [{"type": "string", "format": "uri"}, {"type": "object", "minProperties": 1}]},
                                       "https://example.com/x.png"]))


def byte_range():
    for name, size, header in (("full", 1000, "bytes=0-99"), ("suffix", 1000, "bytes=-10"), ("open", 50, "bytes=10-"),
                               ("multi", 1000, "bytes=0-1,5-6"), ("huge", 1000, "bytes=0-9223372036854775806")):
        put("byterange", name, struct.pack("<Q", size) + header.encode())


if __name__ == "__main__":
    onnx()
    ncnn()
    safetensors()
    images()
    data_uri()
    schema()
    byte_range()
