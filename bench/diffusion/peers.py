#!/usr/bin/env python3
"""Peregrine's DiffusionBench against PyTorch (diffusers) and OpenVINO on the same networks, shapes and load.

Networks: the Stable Diffusion UNets of DiffusionBench's `UNetBenchConfigs` (SD 1.5 by default;
SD 2.1 at 768 and SDXL at 1024 on request) at batch 2 (classifier-free guidance), and the SD
VAE decoder at batch 1. Weights are diffusers' random initialization (speed does not depend on
their values). Every engine runs in its own process (an SDXL UNet in fp32 needs ~10 GB per
engine), one after another inside a round, rounds repeated, so all see the same machine load.
Each engine process makes its first call apart (warm-up, memory planning) and times `--runs`
more; the report gives, per network and engine, the median over every timed call, each
round's median, and the ratio to Peregrine.

OpenVINO converts the torch module (`ov.convert_model` with example inputs) once per network and
caches the IR in `--ir-cache` (fp32, uncompressed), then each round compiles it for CPU with
INFERENCE_NUM_THREADS and an f32 inference precision (bf16 too with --bf16).

Run through bench/diffusion/run.sh, which builds DiffusionBench and picks the virtual environment.
"""
import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from machine import cpu_info, log  # noqa: E402

# The fields of diffusers' unet/config.json that shape each network (DiffusionBench's UNetBenchConfigs).
UNETS = {
    "sd15": {"cross_attention_dim": 768, "attention_head_dim": 8, "sample_size": 64},
    "sd21": {"cross_attention_dim": 1024, "attention_head_dim": [5, 10, 20, 20], "use_linear_projection": True,
             "sample_size": 96},
    "sdxl": {"cross_attention_dim": 2048, "attention_head_dim": [5, 10, 20], "use_linear_projection": True,
             "sample_size": 128, "block_out_channels": [320, 640, 1280], "transformer_layers_per_block": [1, 2, 10],
             "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
             "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
             "addition_embed_type": "text_time", "addition_time_embed_dim": 256,
             "projection_class_embeddings_input_dim": 2816},
}
VAE_SD = {"block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "latent_channels": 4, "norm_num_groups": 32,
          "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4, "sample_size": 512}
# network name -> (DiffusionBench family, image size, batch)
NETWORKS = {"sd15": ("sd15", 512, 2), "sd21": ("sd21", 768, 2), "sdxl": ("sdxl", 1024, 2), "vae-sd": ("vae-sd", 512, 1)}


# MARK: Worker side (one engine, one network, in its own process)

def build(network):
    """The torch module for `network`, in eval mode, and its example inputs."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    family, size, batch = NETWORKS[network]
    torch.manual_seed(0)
    latent = size // 8
    if family == "vae-sd":
        vae = AutoencoderKL(**VAE_SD).eval()

        class Decoder(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.vae = vae

            def forward(self, z):
                return self.vae.decode(z, return_dict=False)[0]

        return Decoder().eval(), (torch.rand(batch, 4, latent, latent) * 2 - 1,)
    config = UNETS[family]
    unet = UNet2DConditionModel(**config).eval()
    sample = torch.rand(batch, 4, latent, latent) * 2 - 1
    context = torch.rand(batch, 77, config["cross_attention_dim"]) * 2 - 1
    timestep = torch.full((batch,), 500.0)
    if config.get("addition_embed_type") == "text_time":
        text = torch.rand(batch, config["projection_class_embeddings_input_dim"] - 6 * config["addition_time_embed_dim"])
        ids = torch.tensor([[size, size, 0, 0, size, size]] * batch, dtype=torch.float32)

        class XL(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.unet = unet

            def forward(self, sample, timestep, context, text_embeds, time_ids):
                return self.unet(sample, timestep, context, added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids},
                                 return_dict=False)[0]

        return XL().eval(), (sample, timestep, context, text, ids)

    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, context):
            return self.unet(sample, timestep, context, return_dict=False)[0]

    return Plain().eval(), (sample, timestep, context)


def timed(call, runs):
    """The first call apart, then `runs` timed calls."""
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {"first_call_s": first, "run_s": times, "median_s": statistics.median(times)}


def worker(args):
    import torch
    torch.set_num_threads(args.threads)
    module, inputs = build(args.network)
    if args.worker == "torch":
        def call():
            with torch.inference_mode():
                module(*inputs)
        result = timed(call, args.runs)
        result["version"] = torch.__version__
    else:
        import openvino as ov
        path = os.path.join(args.ir_cache, f"{args.network}.xml")
        if not os.path.exists(path):
            os.makedirs(args.ir_cache, exist_ok=True)
            start = time.perf_counter()
            with torch.no_grad():
                converted = ov.convert_model(module, example_input=inputs)
            ov.save_model(converted, path, compress_to_fp16=False)
            log(f"  converted {args.network} to OpenVINO IR in {time.perf_counter() - start:.0f} s")
            del converted
        del module
        core = ov.Core()
        hint = "f32" if args.worker == "openvino_fp32" else "bf16"
        compiled = core.compile_model(core.read_model(path), "CPU", {
            "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": args.threads, "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        feed = [x.numpy() for x in inputs]
        result = timed(lambda: request.infer(feed), args.runs)
        result["version"] = importlib.metadata.version("openvino")
        result["inference_precision"] = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    print(json.dumps(result))


# MARK: Driver side

def run_process(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", choices=["torch", "openvino_fp32", "openvino_bf16"], help=argparse.SUPPRESS)
    p.add_argument("--network", help=argparse.SUPPRESS)
    p.add_argument("--networks", default="sd15,vae-sd", help="comma-separated: sd15, vae-sd, sd21, sdxl")
    p.add_argument("--sd21", action="store_true", help="add the SD 2.1 UNet at 768x768")
    p.add_argument("--sdxl", action="store_true", help="add the SDXL UNet at 1024x1024 (~10 GB per engine in fp32)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--runs", type=int, default=2, help="timed calls per engine process (after one warm-up call)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bf16", action="store_true", help="also Peregrine bf16 and OpenVINO bf16")
    p.add_argument("--engine-bench", action="append", default=[],
                   help="LABEL=PATH of a DiffusionBench binary (repeatable: before/after); default peregrine=.build/debug/DiffusionBench")
    p.add_argument("--no-peers", action="store_true", help="DiffusionBench binaries only")
    p.add_argument("--ir-cache", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "peregrine-diffusion-ir"))
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    networks = [n for n in args.networks.split(",") if n]
    if args.sd21 and "sd21" not in networks: networks.append("sd21")
    if args.sdxl and "sdxl" not in networks: networks.append("sdxl")
    for n in networks:
        if n not in NETWORKS: p.error(f"unknown network {n}")
    benches = [b.split("=", 1) for b in (args.engine_bench or ["peregrine=.build/debug/DiffusionBench"])]
    engines = [(label, "fp32", path) for label, path in benches]
    if args.bf16:
        engines += [(f"{label}_bf16", "bf16", path) for label, path in benches]
    peers = [] if args.no_peers else ["torch", "openvino_fp32"] + (["openvino_bf16"] if args.bf16 else [])
    times = {n: {} for n in networks}
    rounds = {n: {} for n in networks}
    details = {n: {} for n in networks}
    for r in range(args.rounds):
        for n in networks:
            family, size, batch = NETWORKS[n]
            for label, precision, path in engines:
                env = dict(os.environ, PEREGRINE_THREADS=str(args.threads), PEREGRINE_PRECISION=precision)
                try:
                    res = run_process([path, family, str(size), str(batch), str(args.runs)], env=env)
                except subprocess.CalledProcessError as e:
                    # An older binary (a "before" build) may lack a network's mode.
                    log(f"round {r + 1} {n} {label}: failed ({e.returncode}): {(e.stdout or '').strip()[:200]}")
                    continue
                log(f"round {r + 1} {n} {label}: median {res['median_s']:.2f} s")
                times[n].setdefault(label, []).extend(res["run_s"])
                rounds[n].setdefault(label, []).append(res["median_s"])
                details[n][label] = {"kernel_path": res.get("kernel_path"), "first_call_s": res.get("first_call_s")}
            for peer in peers:
                res = run_process([sys.executable, os.path.abspath(__file__), "--worker", peer, "--network", n,
                                   "--runs", str(args.runs), "--threads", str(args.threads), "--ir-cache", args.ir_cache])
                log(f"round {r + 1} {n} {peer}: median {res['median_s']:.2f} s")
                times[n].setdefault(peer, []).extend(res["run_s"])
                rounds[n].setdefault(peer, []).append(res["median_s"])
                details[n][peer] = {k: v for k, v in res.items() if k not in ("run_s", "median_s")}
    results = {}
    for n in networks:
        family, size, batch = NETWORKS[n]
        first = engines[0][0]
        base = statistics.median(times[n][first]) if first in times[n] else None
        row = {"size": size, "batch": batch, "engines": {}}
        for e, ts in times[n].items():
            m = statistics.median(ts)
            row["engines"][e] = {"median_s": m, "round_medians_s": rounds[n][e], **details[n][e]}
            if base:
                row["engines"][e][f"ratio_to_{first}"] = m / base
        results[n] = row
    versions = {}
    for pkg in ("torch", "diffusers", "openvino"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    print(json.dumps({**cpu_info(), "threads": args.threads, "rounds": args.rounds, "runs_per_round": args.runs,
                      "versions": versions, "networks": results}, indent=1))


if __name__ == "__main__":
    main()
