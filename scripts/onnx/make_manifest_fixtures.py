#!/usr/bin/env python3
"""Writes the ONNX manifest fixtures of Tests/ONNXTests/Goldens/manifests/.

Two small real models with fixed random weights (numpy seed 20261126), their manifests, and
onnxruntime's outputs for the exact tensors Peregrine's manifest runner will feed them:

  tiny-filter.onnx     image-to-image: Conv 3->8 3x3, Relu, Conv 8->3 3x3, Sigmoid, any H x W.
                       Golden: a 23x17 RGB PNG and onnxruntime's output for pixel / 255.
  tiny-generator.onnx  noise [1,4,8,8] * strength -> Conv 1x1 -> Resize x2 -> Tanh: a 16x16 RGB
                       image in [-1, 1], plus the per-channel mean as a tensor output.
                       Golden: the noise of seed 1234 (SplitMix64 + Box-Muller, exactly as
                       Sources/Models/Terrain/TerrainNoise.swift draws it) at strength 0.75.
  unsupported-op.onnx  one Hardmax node (an operator the importer does not implement).
  models.d/*.json      the manifests that register the two models (no code).

Usage: .venv-onnx/bin/python scripts/onnx/make_manifest_fixtures.py
"""
import hashlib
import json
import math
import os
import struct
import zlib

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "ONNXTests", "Goldens", "manifests")
RNG = np.random.default_rng(20261126)
MASK = (1 << 64) - 1


def splitmix_normals(seed, count):
    """TerrainNoise.normals: SplitMix64 feeding Box-Muller, pairs (r cos, r sin), in double."""
    state = seed
    out = []

    def nxt():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    while len(out) < count:
        u1 = (nxt() >> 11) * 2.0 ** -53
        u2 = (nxt() >> 11) * 2.0 ** -53
        r = math.sqrt(-2 * math.log(1 - u1))
        angle = 2 * math.pi * u2
        out.append(r * math.cos(angle))
        out.append(r * math.sin(angle))
    return np.array(out[:count], dtype=np.float32)


def weights(name, shape, scale):
    return numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name)


def save(model, name):
    model.opset_import[0].version = 17
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name))


def tiny_filter():
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "height", "width"])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "height", "width"])
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["h1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["h2"], name="relu1"),
        helper.make_node("Conv", ["h2", "w2", "b2"], ["h3"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["h3", "image"], ["h4"], name="skip"),
        helper.make_node("Sigmoid", ["h4"], ["output"], name="squash"),
    ]
    inits = [weights("w1", [8, 3, 3, 3], 0.3), weights("b1", [8], 0.1),
             weights("w2", [3, 8, 3, 3], 0.3), weights("b2", [3], 0.1)]
    save(helper.make_model(helper.make_graph(nodes, "tiny-filter", [x], [y], inits)), "tiny-filter.onnx")


def tiny_generator():
    noise = helper.make_tensor_value_info("noise", TensorProto.FLOAT, [1, 4, 8, 8])
    strength = helper.make_tensor_value_info("strength", TensorProto.FLOAT, [1])
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])
    mean = helper.make_tensor_value_info("channel_mean", TensorProto.FLOAT, [1, 3, 1, 1])
    nodes = [
        helper.make_node("Reshape", ["strength", "shape4"], ["s4"], name="strength4"),
        helper.make_node("Mul", ["noise", "s4"], ["scaled"], name="scale"),
        helper.make_node("Conv", ["scaled", "w", "b"], ["mixed"], name="mix"),
        helper.make_node("Resize", ["mixed", "", "scales"], ["big"], name="up", mode="nearest"),
        helper.make_node("Tanh", ["big"], ["image"], name="squash"),
        helper.make_node("ReduceMean", ["image"], ["channel_mean"], name="mean", axes=[2, 3], keepdims=1),
    ]
    inits = [weights("w", [3, 4, 1, 1], 0.6), weights("b", [3], 0.2),
             numpy_helper.from_array(np.array([1, 1, 1, 1], dtype=np.int64), "shape4"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")]
    save(helper.make_model(helper.make_graph(nodes, "tiny-generator", [noise, strength], [image, mean], inits)),
         "tiny-generator.onnx")


def unsupported():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [helper.make_node("Hardmax", ["x"], ["y"], name="odd_one")]
    save(helper.make_model(helper.make_graph(nodes, "unsupported", [x], [y])), "unsupported-op.onnx")


def png_rgb(pixels):
    """A minimal 8-bit RGB PNG writer (no filters), so the fixture needs no imaging package."""
    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def run(name, feeds):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(os.path.join(OUT, name), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def manifests():
    """The fixtures' manifests in models.d/ (the tiny filter's carries its file's sha256)."""
    directory = os.path.join(OUT, "models.d")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(OUT, "tiny-filter.onnx"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    author = "Apache-2.0, the Peregrine authors"
    filt = {
        "format": "peregrine.onnx-manifest/1",
        "endpoint_id": "local/tiny-filter",
        "title": "Tiny Filter",
        "description": "A two-convolution image filter with fixed random weights (test fixture).",
        "license": author,
        "model": {"file": "../tiny-filter.onnx", "sha256": digest},
        "memory_estimate_mb": 16,
        "inputs": [{"kind": "image", "tensor": "image", "field": "image_url", "channels": "rgb", "range": "unit",
                    "layout": "NCHW"}],
        "outputs": [{"kind": "image", "tensor": "output", "field": "image", "channels": "rgb", "range": "unit",
                     "format": "png"}],
    }
    gen = {
        "format": "peregrine.onnx-manifest/1",
        "endpoint_id": "local/tiny-generator",
        "title": "Tiny Generator",
        "description": "Noise times strength through a 1x1 convolution, upsampled and squashed (test fixture).",
        "license": author,
        "model": {"file": "../tiny-generator.onnx"},
        "inputs": [
            {"kind": "seed_noise", "tensor": "noise", "shape": [1, 4, 8, 8]},
            {"kind": "number", "tensor": "strength", "field": "strength", "minimum": 0, "maximum": 2, "default": 1,
             "description": "Scale of the noise."},
        ],
        "outputs": [
            {"kind": "image", "tensor": "image", "field": "image", "range": "symmetric", "bit_depth": 16},
            {"kind": "tensor", "tensor": "channel_mean", "field": "channel_mean"},
        ],
    }
    for name, manifest in [("tiny-filter.json", filt), ("tiny-generator.json", gen)]:
        with open(os.path.join(directory, name), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    tiny_filter()
    tiny_generator()
    unsupported()
    manifests()

    pixels = RNG.integers(0, 256, size=(17, 23, 3))
    with open(os.path.join(OUT, "tiny-filter-input.png"), "wb") as f:
        f.write(png_rgb(pixels))
    planes = (pixels.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255)).astype(np.float32)
    (out,) = run("tiny-filter.onnx", {"image": planes})

    noise = splitmix_normals(1234, 4 * 8 * 8).reshape(1, 4, 8, 8)
    image, mean = run("tiny-generator.onnx", {"noise": noise, "strength": np.array([0.75], dtype=np.float32)})
    goldens = {
        "seed": 1234, "strength": 0.75,
        "noise_first": [float(v) for v in noise.reshape(-1)[:8]],
        "image_shape": list(image.shape), "image": [float(v) for v in image.reshape(-1)],
        "channel_mean_shape": list(mean.shape), "channel_mean": [float(v) for v in mean.reshape(-1)],
    }
    with open(os.path.join(OUT, "tiny-generator-output.json"), "w") as f:
        json.dump(goldens, f)
    filt = {"shape": list(out.shape), "values": [float(v) for v in out.reshape(-1)]}
    with open(os.path.join(OUT, "tiny-filter-output.json"), "w") as f:
        json.dump(filt, f)


if __name__ == "__main__":
    main()
