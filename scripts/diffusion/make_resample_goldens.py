"""Writes Tests/DiffusionTests/Goldens/resample.json: Pillow's Lanczos resize for LanczosResampleTests.

diffusers' VaeImageProcessor sizes an image-to-image or inpainting input with
`PIL.Image.resize(size, resample=Image.LANCZOS)`. Each case makes a pseudo-random 8-bit image
(a fixed LCG, rebuilt in the Swift test), resizes it with Pillow and keeps the output bytes.
The cases shrink and enlarge, change one axis only, and cover grey and RGB images. Run with the
pinned venv (see README.md); the output is byte for byte the same on every run.
"""
import json
import pathlib

import PIL
from PIL import Image

assert PIL.__version__ == "13.0.0", PIL.__version__

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/DiffusionTests/Goldens/resample.json"

# (mode, width, height, output width, output height)
CASES = [
    ("RGB", 13, 9, 7, 5),
    ("RGB", 5, 4, 11, 10),
    ("RGB", 20, 3, 20, 8),
    ("RGB", 17, 6, 4, 6),
    ("L", 40, 30, 16, 12),
    ("L", 9, 31, 9, 2),
    ("RGB", 30, 27, 24, 24),
    ("RGB", 13, 11, 32, 24),
]


def pixels(seed, count):
    """The LCG the Swift test rebuilds: x = x * 6364136223846793005 + 1442695040888963407 mod 2^64, byte = x >> 56."""
    x = seed
    out = []
    for _ in range(count):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        out.append(x >> 56)
    return out


def main():
    cases = []
    for i, (mode, w, h, ow, oh) in enumerate(CASES):
        channels = 3 if mode == "RGB" else 1
        data = bytes(pixels(i + 1, w * h * channels))
        image = Image.frombytes(mode, (w, h), data)
        out = image.resize((ow, oh), resample=Image.LANCZOS)
        cases.append({"seed": i + 1, "channels": channels, "width": w, "height": h, "output_width": ow,
                      "output_height": oh, "output": list(out.tobytes())})
    OUT.write_text(json.dumps(cases, separators=(",", ":")) + "\n")
    print(OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
