"""Deterministic weights and inputs for the small diffusion models the goldens are made from.

Every value comes from SplitMix64 seeded with the FNV-1a hash of the tensor's name, so the
Swift tests (Tests/DiffusionTests/Support/TinyWeights.swift) rebuild the same weights bit for bit
and only the configuration, the inputs' labels and the reference outputs are committed.
"""
import math

import numpy as np

MASK = (1 << 64) - 1


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & MASK
    return h


def uniform(label: str, count: int) -> np.ndarray:
    """`count` values in [-1, 1): SplitMix64(fnv1a64(label)), top 24 bits of each draw, as float64."""
    state = fnv1a64(label)
    out = np.empty(count, dtype=np.float64)
    for i in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        out[i] = (z >> 40) / float(1 << 24)
    return out * 2.0 - 1.0


def value(name: str, shape) -> np.ndarray:
    """The weight `name` of `shape`: rank-1 `.weight` (norm scales) 1 ± 0.2, `.bias` ± 0.1,
    anything else uniform with variance 1/fan_in (fan_in = product of all but the first extent)."""
    count = int(np.prod(shape)) if len(shape) else 1
    u = uniform(name, count)
    if len(shape) == 1 and name.endswith(".weight"):
        v = 1.0 + 0.2 * u
    elif name.endswith(".bias") or len(shape) <= 1:
        v = 0.1 * u
    else:
        fan_in = int(np.prod(shape[1:]))
        v = u * math.sqrt(3.0 / fan_in)
    return v.astype(np.float32).reshape(shape)


def fill(module) -> None:
    """Overwrites every parameter and buffer of floating dtype of a torch module."""
    import torch

    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if not tensor.dtype.is_floating_point:
                continue
            tensor.copy_(torch.from_numpy(value(name, tuple(tensor.shape))))


def tensor_input(label: str, shape, scale: float = 1.0) -> np.ndarray:
    """An input tensor: uniform in [-scale, scale)."""
    count = int(np.prod(shape))
    return (uniform(label, count) * scale).astype(np.float32).reshape(shape)
