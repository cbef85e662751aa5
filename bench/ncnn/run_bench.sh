#!/usr/bin/env bash
# Side-by-side benchmark of Peregrine and the official ncnn runtime (JSON on stdout).
#
#   bench/ncnn/run_bench.sh                      # headline: realesr-animevideov3 x4, 256x256, 2 threads
#   bench/ncnn/run_bench.sh --models all --sizes 128 --repeats 3
#
# Creates .venv-ncnn (ncnn + numpy from PyPI) on first use, pulls the weights into
# .peregrine-test/models, builds the EngineBench product and runs it; the ncnn side runs in
# bench/ncnn/ncnn_worker.py, alternating with Peregrine on identical inputs. bench/peers/run.sh
# adds PyTorch and OpenVINO on the same network and input.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv-ncnn/bin/python ]; then
    python3 -m venv .venv-ncnn
    .venv-ncnn/bin/pip install -q ncnn numpy
fi
swift build --product EngineBench >&2
exec .build/debug/EngineBench --python .venv-ncnn/bin/python "$@"
