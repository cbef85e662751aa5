#!/usr/bin/env bash
# Peregrine's DiffusionBench against PyTorch (diffusers) and OpenVINO on the Stable Diffusion UNet
# and VAE decoder, in alternating rounds so all see the same load; one JSON document on stdout
# (progress on stderr). See bench/diffusion/README.md.
#
#   bench/diffusion/run.sh                            # SD 1.5 UNet 512 batch 2 + SD VAE decoder 512, 2 threads, 3 rounds
#   bench/diffusion/run.sh --sd21 --sdxl --rounds 2   # add SD 2.1 (768) and SDXL (1024)
#   bench/diffusion/run.sh --skip-build --engine-bench before=/tmp/DiffusionBench --engine-bench after=.build/debug/DiffusionBench
#
# The Python side needs torch, diffusers and openvino: PEERS_PYTHON, else .venv-peers/bin/python
# (created on first use: torch from TORCH_WHEEL or the package index, the rest pinned in
# bench/diffusion/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
TORCH_WHEEL=${TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}
python=${PEERS_PYTHON:-.venv-peers/bin/python}
if [ ! -x "$python" ]; then
    python3 -m venv .venv-peers
    if [ -f "$TORCH_WHEEL" ]; then torch="$TORCH_WHEEL"; else torch="torch==2.13.0"; fi
    .venv-peers/bin/python -m pip install -q "$torch" -r bench/diffusion/requirements.txt >&2
    python=.venv-peers/bin/python
fi
build=1
args=()
for a in "$@"; do
    if [ "$a" = "--skip-build" ]; then build=0; else args+=("$a"); fi
done
if [ "$build" = 1 ]; then swift build --product DiffusionBench >&2; fi
exec "$python" bench/diffusion/peers.py ${args[@]+"${args[@]}"}
