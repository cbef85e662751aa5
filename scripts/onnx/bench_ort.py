#!/usr/bin/env python3
"""onnxruntime side of scripts/onnx/bench.sh: the same model, inputs and thread count; prints
JSON with per-run seconds, per-operator-type seconds (from ORT's profiler) and the max abs
difference to the golden output."""
import argparse
import collections
import json
import os
import tempfile
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, numpy_helper


def read(directory, prefix):
    out, i = [], 0
    while os.path.exists(os.path.join(directory, f"{prefix}_{i}.pb")):
        t = TensorProto()
        with open(os.path.join(directory, f"{prefix}_{i}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        out.append((t.name, numpy_helper.to_array(t)))
        i += 1
    return out


def session(model, threads, profile_dir=None):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_dir:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(profile_dir, "ort")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("golden")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    feeds = dict(read(args.golden, "input"))
    expected = read(args.golden, "output")
    sess = session(args.model, args.threads)
    sess.run(None, feeds)  # warm-up
    times, err = [], 0.0
    for _ in range(args.runs):
        t = time.perf_counter()
        out = sess.run(None, feeds)
        times.append(time.perf_counter() - t)
        err = max(err, float(np.abs(out[0] - expected[0][1]).max()))
    per_op = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        prof = session(args.model, args.threads, tmp)
        prof.run(None, feeds)
        with open(prof.end_profiling()) as f:
            for e in json.load(f):
                if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                    per_op[e["args"]["op_name"]] += e["dur"] / 1e6
    print(json.dumps({"engine": "onnxruntime " + ort.__version__, "cpu": cpu_model_name(), "threads": args.threads, "run_s": times,
                      "best_s": min(times),
                      "median_s": sorted(times)[len(times) // 2], "per_op_s": dict(per_op), "max_abs_error": err}, sort_keys=True))


def cpu_model_name():
    """The `model name` line of /proc/cpuinfo, as ONNXBench reports it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
