#!/usr/bin/env python3
"""Summarizes an ONNX model with the reference `onnx` package, to cross-check Peregrine's
hand-written reader: opset, node count, operator histogram, inputs/outputs with their symbolic
shapes, and every initializer's name, type, shape and checksums (sum and sum of squares in float64).

    .venv-onnx/bin/python scripts/onnx/inspect_ops.py MODEL.onnx [--json OUT.json]
"""
import argparse
import collections
import json

import numpy as np
import onnx
from onnx import numpy_helper


def dims(value_info):
    shape = value_info.type.tensor_type.shape
    return [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else "?")
            for d in shape.dim]


def summarize(path):
    model = onnx.load(path)
    graph = model.graph
    initializers = []
    for t in graph.initializer:
        a = numpy_helper.to_array(t).astype(np.float64)
        initializers.append({"name": t.name, "data_type": t.data_type, "dims": list(t.dims),
                             "sum": float(a.sum()), "sum_squares": float((a * a).sum())})
    return {
        "ir_version": model.ir_version,
        "opset": {o.domain or "": o.version for o in model.opset_import},
        "node_count": len(graph.node),
        "operators": dict(sorted(collections.Counter(n.op_type for n in graph.node).items())),
        "inputs": [{"name": i.name, "elem_type": i.type.tensor_type.elem_type, "shape": dims(i)} for i in graph.input],
        "outputs": [{"name": o.name, "elem_type": o.type.tensor_type.elem_type, "shape": dims(o)} for o in graph.output],
        "initializers": initializers,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--json", help="write the summary here")
    args = ap.parse_args()
    s = summarize(args.model)
    print(f"ir_version {s['ir_version']}, opset {s['opset']}, {s['node_count']} nodes, "
          f"{len(s['initializers'])} initializers "
          f"({sum(int(np.prod(i['dims'])) for i in s['initializers'])} values)")
    for op, n in sorted(s["operators"].items(), key=lambda kv: -kv[1]):
        print(f"  {op:24s} {n}")
    for i in s["inputs"]:
        print(f"  input  {i['name']}: {i['shape']}")
    for o in s["outputs"]:
        print(f"  output {o['name']}: {o['shape']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(s, f, separators=(",", ":"), sort_keys=True)


if __name__ == "__main__":
    main()
