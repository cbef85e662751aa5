"""Writes Tests/DiffusionTests/Goldens/rng.json: torch's CPU generator outputs for TorchGeneratorTests.

Each case seeds `torch.Generator().manual_seed(seed)` and makes a sequence of draws
(`randn`/`rand` of a number of elements, in float32) on that one generator; the golden keeps, per
draw, the element count, the first 64 values as float32 bit patterns and an FNV-1a 64 hash of all
bit patterns (little-endian), so large latents stay small on disk. Run with the pinned venv
(see README.md); the output is byte for byte the same on every run.
"""
import json
import pathlib

import torch

assert torch.__version__ == "2.13.0+cpu", torch.__version__

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/DiffusionTests/Goldens/rng.json"

CASES = [
    (0, [("randn", 1), ("randn", 15), ("randn", 16), ("randn", 17)]),
    (42, [("randn", 4 * 64 * 64)]),
    (42, [("randn", 3), ("randn", 5), ("randn", 33), ("randn", 1), ("rand", 10), ("randn", 2)]),
    (2**32 - 1, [("randn", 31), ("randn", 4 * 64 * 64)]),
    (2**63 - 1, [("randn", 7), ("randn", 4 * 128 * 128)]),
    (12345, [("rand", 20), ("randn", 4 * 96 * 80), ("randn", 4 * 96 * 80)]),
    (1, [("randn", 2 * 4 * 64 * 64)]),
]


def fnv1a(values):
    h = 0xCBF29CE484222325
    for byte in values.astype("<f4").tobytes():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    cases = []
    for seed, draws in CASES:
        g = torch.Generator().manual_seed(seed)
        out = []
        for kind, count in draws:
            fn = torch.randn if kind == "randn" else torch.rand
            values = fn(count, generator=g, dtype=torch.float32).numpy()
            out.append({
                "kind": kind,
                "count": count,
                "head": [int(v) for v in values[:64].view("<u4")],
                "fnv1a": f"{fnv1a(values):016x}",
            })
        cases.append({"seed": str(seed), "draws": out})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"torch": torch.__version__, "cases": cases}, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
