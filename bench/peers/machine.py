"""What the peer benchmarks report about the machine, shared by bench/peers and bench/diffusion."""
import sys


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cpu_info():
    """Model name, family/model numbers and the flags that pick kernel paths, from /proc/cpuinfo."""
    fields = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {"cpu_model": fields.get("model name"), "cpu_family": int(fields.get("cpu family", -1)),
            "cpu_model_number": int(fields.get("model", -1)),
            "cpu_flags": {f: f in flags for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")}}
