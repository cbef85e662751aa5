#!/usr/bin/env python3
"""The ncnn side of the side-by-side benchmark (driven by Peregrine's EngineBenchmark).

Reads one JSON request per line on stdin and answers one JSON line on stdout:
  {"param": P, "bin": B, "input_blob": I, "output_blob": O, "input": path, "shape": [c, h, w],
   "output": path, "threads": 2}
The input file holds float32 CHW values; the output (float32 CHW) is written to "output" so the
caller can compare. Answers {"seconds": s, "shape": [c, h, w]} with the wall time of extract().
Networks stay loaded between requests; ncnn runs fp32 (no fp16/bf16 storage or arithmetic),
with its default Winograd and packing optimizations.
"""
import json
import sys
import time

import ncnn
import numpy as np

nets = {}


def net_for(param, binary, threads):
    key = (param, binary, threads)
    if key not in nets:
        net = ncnn.Net()
        net.opt.use_vulkan_compute = False
        net.opt.num_threads = threads
        for opt in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
            setattr(net.opt, opt, False)
        net.load_param(param)
        net.load_model(binary)
        nets[key] = net
    return nets[key]


for line in sys.stdin:
    if not line.strip():
        continue
    req = json.loads(line)
    net = net_for(req["param"], req["bin"], req.get("threads", 2))
    x = np.fromfile(req["input"], dtype="<f4").reshape(req["shape"])
    ex = net.create_extractor()
    ex.input(req["input_blob"], ncnn.Mat(x))
    start = time.perf_counter()
    ret, mat = ex.extract(req["output_blob"])
    seconds = time.perf_counter() - start
    out = np.array(mat, dtype=np.float32)
    if req.get("output"):
        out.astype("<f4").tofile(req["output"])
    print(json.dumps({"seconds": seconds, "shape": list(out.shape), "ret": ret}), flush=True)
