#!/usr/bin/env bash
# Peregrine (fp32, bf16) against ncnn, PyTorch and OpenVINO on the same network and input, in
# alternating rounds so all see the same load; one JSON document on stdout (progress on stderr).
#
#   bench/peers/run.sh                                  # realesr-animevideov3 x4, 256x256, 2 threads, 5 rounds
#   bench/peers/run.sh --models x4,x2,x4plus-anime,x4plus --rounds 3
#   bench/peers/run.sh --skip-build --no-peregrine      # torch/OpenVINO only
#
# Creates .venv-peers on first use (torch from TORCH_WHEEL, default the CPU wheel in /opt/wheels,
# else torch from the package index; openvino, ncnn and numpy pinned in requirements.txt) and
# builds the EngineBench product (skip with --skip-build). See bench/peers/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
TORCH_WHEEL=${TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}
if [ ! -x .venv-peers/bin/python ]; then
    python3 -m venv .venv-peers
    if [ -f "$TORCH_WHEEL" ]; then torch="$TORCH_WHEEL"; else torch="torch==2.13.0"; fi
    .venv-peers/bin/pip install -q "$torch" -r bench/peers/requirements.txt >&2
fi
build=1
args=()
for a in "$@"; do
    if [ "$a" = "--skip-build" ]; then build=0; else args+=("$a"); fi
done
if [ "$build" = 1 ]; then swift build --product EngineBench >&2; fi
exec .venv-peers/bin/python bench/peers/peers.py --engine-bench .build/debug/EngineBench ${args[@]+"${args[@]}"}
