#!/usr/bin/env python3
"""Peregrine against ncnn, PyTorch and OpenVINO on the same network, input and load (JSON on stdout).

For each model: builds the ncnn network in PyTorch from the ncnn weights (ncnn_torch.py), checks
it against ncnn's own output on the same input (bench/ncnn/ncnn_worker.py in a subprocess),
converts it to OpenVINO, and then alternates, round by round, one EngineBench run (Peregrine fp32
and bf16 plus ncnn fp32, itself alternating; its medians are taken per round) with the in-process
peers (torch fp32, torch bf16 autocast, both channels-last; OpenVINO f32, OpenVINO bf16, interleaved run by run), so
every engine sees the same machine load. Reports the median over rounds of each per-round median,
ratios to ncnn fp32 and to OpenVINO at the same precision, and each output's PSNR against torch fp32.

Run through bench/peers/run.sh, which makes the virtual environment and builds EngineBench.
"""
import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import openvino as ov
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ncnn_torch import NCNNModule  # noqa: E402
from machine import cpu_info, log  # noqa: E402

MODELS = {
    "x4": "realesr-animevideov3/realesr-animevideov3-x4.param",
    "x2": "realesr-animevideov3/realesr-animevideov3-x2.param",
    "x4plus-anime": "realesrgan-x4plus-anime/realesrgan-x4plus-anime.param",
    "x4plus": "realesrgan-x4plus/realesrgan-x4plus.param",
}
PEERS = ["torch_fp32", "torch_bf16", "openvino_fp32", "openvino_bf16"]


def splitmix_input(size):
    """EngineBench's input: SplitMix64(seed: size), value = (next() % 256) / 255, CHW order."""
    n = 3 * size * size
    with np.errstate(over="ignore"):
        state = np.uint64(size) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z % np.uint64(256)).astype(np.float32) / np.float32(255)).reshape(1, 3, size, size)


def psnr(a, b):
    """PSNR with peak 1 over values clamped to [0, 1], as EngineBench computes it (None: identical)."""
    d = np.clip(a, 0, 1).astype(np.float64) - np.clip(b, 0, 1).astype(np.float64)
    mse = float(np.mean(d * d))
    return None if mse == 0 else float(10 * np.log10(1 / mse))


def ncnn_reference(python, worker, param, binary, module, x, threads):
    """ncnn's output for x, from the ncnn worker in its own process (its OpenMP stays out of ours)."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.f32")
        x[0].astype("<f4").tofile(inp)
        req = {"param": param, "bin": binary, "input_blob": module.input_blob, "output_blob": module.output_blob,
               "input": inp, "shape": list(x.shape[1:]), "output": out, "threads": threads}
        res = subprocess.run([python, worker], input=json.dumps(req) + "\n", capture_output=True, text=True, check=True)
        answer = json.loads(res.stdout.strip().splitlines()[-1])
        return np.fromfile(out, dtype="<f4").reshape([1] + answer["shape"])


class Peers:
    """The torch and OpenVINO runners of one model at one input size."""

    def __init__(self, param, x, threads):
        self.x = x
        self.xt = torch.from_numpy(x)
        self.module = NCNNModule(param, param[:-len(".param")] + ".bin")
        core = ov.Core()
        converted = ov.convert_model(self.module, example_input=self.xt)
        converted.reshape({converted.inputs[0]: ov.PartialShape(list(x.shape))})
        # torch runs channels-last (NHWC), its fast CPU layout: against NCHW it was 1.2x faster in
        # fp32 and 1.3-2.8x in bf16 on the AMD EPYC here. The conversion above traced the same module.
        self.module = self.module.to(memory_format=torch.channels_last)
        self.xt = self.xt.contiguous(memory_format=torch.channels_last)
        self.requests, self.ov_runtime = {}, {}
        for precision, hint in (("fp32", "f32"), ("bf16", "bf16")):
            compiled = core.compile_model(converted, "CPU", {
                "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
            self.requests[precision] = compiled.create_infer_request()
            # What the plugin really chose: the hint is only a request (no bf16 on CPUs without it).
            runtime = compiled.get_runtime_model()
            kernels = {}
            for op in runtime.get_ordered_ops():
                info = op.get_rt_info()
                if info["layerType"].astype(str) == "Convolution":
                    k = f'{info["runtimePrecision"].astype(str)} {info["primitiveType"].astype(str)}'
                    kernels[k] = kernels.get(k, 0) + 1
            self.ov_runtime[precision] = {"inference_precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
                                          "convolution_kernels": kernels}

    def run(self, engine):
        if engine == "torch_fp32":
            with torch.inference_mode():
                return self.module(self.xt).contiguous().numpy()
        if engine == "torch_bf16":
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return self.module(self.xt).float().contiguous().numpy()
        req = self.requests["fp32" if engine == "openvino_fp32" else "bf16"]
        req.infer({0: self.x})
        return req.get_output_tensor(0).data.copy()

    def time(self, engine):
        start = time.perf_counter()
        self.run(engine)
        return time.perf_counter() - start


def engine_bench(args, models):
    cmd = [args.engine_bench, "--python", args.ncnn_python, "--models", ",".join(models), "--sizes", str(args.size),
           "--threads", str(args.threads), "--repeats", str(args.repeats)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"EngineBench failed ({res.returncode}): {res.stderr[-2000:]}")
    return json.loads(res.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="x4", help="comma-separated: " + ", ".join(MODELS) + ", or all")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (EngineBench run, then the peers)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per engine in each round, after warm-up")
    ap.add_argument("--engine-bench", default=".build/debug/EngineBench")
    ap.add_argument("--ncnn-python", default=sys.executable, help="interpreter with ncnn for EngineBench's worker")
    ap.add_argument("--model-dir", default=".peregrine-test/models")
    ap.add_argument("--no-peregrine", action="store_true", help="peers only (no EngineBench)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    names = list(MODELS) if args.models == "all" else args.models.split(",")
    params = [MODELS.get(n, n) for n in names]
    x = splitmix_input(args.size)
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ncnn", "ncnn_worker.py")

    peers, accuracy = {}, {}
    for param in params:
        path = os.path.join(args.model_dir, param)
        log(f"{param}: building torch module, converting to OpenVINO")
        p = Peers(path, x, args.threads)
        ref = p.run("torch_fp32")
        ncnn_out = ncnn_reference(args.ncnn_python, worker, path, path[:-len(".param")] + ".bin", p.module, x, args.threads)
        acc = {"torch_fp32_vs_ncnn": {"max_abs_error": float(np.max(np.abs(ref - ncnn_out))), "psnr_db": psnr(ref, ncnn_out)}}
        for engine in PEERS:
            for _ in range(2):  # warm-up (first runs allocate, pick kernels)
                out = p.run(engine)
            if engine == "torch_fp32":
                continue  # the reference itself
            acc[engine] = {"psnr_db_vs_torch_fp32": psnr(out, ref), "max_abs_error_vs_torch_fp32": float(np.max(np.abs(out - ref)))}
        acc["ncnn_fp32"] = {"psnr_db_vs_torch_fp32": psnr(ncnn_out, ref)}
        log(f"{param}: torch fp32 vs ncnn max abs error {acc['torch_fp32_vs_ncnn']['max_abs_error']:.3g}")
        peers[param], accuracy[param] = p, acc

    per_round = {param: {} for param in params}
    engine_meta = {}
    for r in range(args.rounds):
        if not args.no_peregrine:
            report = engine_bench(args, params)
            # Peregrine's kernel choice, where EngineBench reports it (top level or per result);
            # EngineBench's own cpu_model is kept apart from the one read here.
            for key in ("cpu_model", "kernel_path", "kernel_paths", "bf16_path"):
                if key in report:
                    engine_meta["engine_bench_" + key if key == "cpu_model" else key] = report[key]
            for entry in report["results"]:
                rounds = per_round[entry["model"]]
                for key, label in (("peregrine_fp32", "peregrine_fp32"), ("peregrine_bf16", "peregrine_bf16"), ("ncnn_fp32", "ncnn_fp32")):
                    if key in entry:
                        rounds.setdefault(label, []).append(entry[key]["median_s"])
                for key in ("peregrine_fp32", "peregrine_bf16"):
                    if key in entry and "psnr_db_vs_ncnn" in entry[key]:
                        accuracy[entry["model"]].setdefault(key, {})["psnr_db_vs_ncnn"] = entry[key]["psnr_db_vs_ncnn"]
                    if key in entry and "kernel_path" in entry[key]:
                        engine_meta.setdefault("kernel_path_by_precision", {})[key] = entry[key]["kernel_path"]
                if "kernel_path" in entry:
                    engine_meta["kernel_path"] = entry["kernel_path"]
        for param, p in peers.items():
            samples = {e: [] for e in PEERS}
            for _ in range(args.repeats):
                for engine in PEERS:
                    samples[engine].append(p.time(engine))
            for engine in PEERS:
                per_round[param].setdefault(engine, []).append(statistics.median(samples[engine]))
        log(f"round {r + 1}/{args.rounds}: " + "; ".join(
            f"{param.split('/')[-1]} " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in per_round[param].items()) for param in params))

    results = []
    for param in params:
        medians = {k: statistics.median(v) for k, v in per_round[param].items()}
        engines = {}
        for label, m in sorted(medians.items()):
            engine, precision = label.rsplit("_", 1)
            row = {"median_s": m, "round_medians_s": per_round[param][label]}
            if "ncnn_fp32" in medians:
                row["ratio_to_ncnn_fp32"] = m / medians["ncnn_fp32"]
            if f"openvino_{precision}" in medians:
                row[f"ratio_to_openvino_{precision}"] = m / medians[f"openvino_{precision}"]
            acc = accuracy[param].get(label)
            if acc:
                row.update(acc)
            engines.setdefault(engine, {})[precision] = row
        results.append({"model": param, "size": args.size, "threads": args.threads,
                        "torch_fp32_vs_ncnn": accuracy[param]["torch_fp32_vs_ncnn"],
                        "openvino_runtime": peers[param].ov_runtime, "engines": engines})
    doc = {
        "benchmark": "engine-vs-peers", **cpu_info(),
        **engine_meta,
        "rounds": args.rounds, "repeats_per_round": args.repeats,
        # OpenMP's barrier policy moves ncnn and torch a lot on an oversubscribed machine.
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "versions": {"torch": torch.__version__, "openvino": ov.__version__, "ncnn": importlib.metadata.version("ncnn"), "numpy": np.__version__},
        "results": results,
    }
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
