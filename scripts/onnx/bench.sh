#!/bin/sh
# Benchmarks the terrain UNet: Peregrine's ONNX importer (the ONNXBench product; the engine
# targets are optimized in every configuration) and onnxruntime on the same input with the same
# thread count. Prints one JSON line each, with the CPU model name.
#   scripts/onnx/bench.sh [THREADS] [RUNS] [ROUNDS]
# SKIP_ORT=1 runs Peregrine only (the ONNX → Graph translation on GraphExecutor).
# ROUNDS > 1 alternates the two engines ROUNDS times (one JSON line per engine and round), so
# that on a shared machine both see the same background load.
set -e
cd "$(dirname "$0")/../.."
THREADS=${1:-2}
RUNS=${2:-3}
ROUNDS=${3:-1}
MODEL=${PEREGRINE_HOME:-$HOME/.peregrine}/models/terrain-diffusion/terrain_consistency_unet_difficulty100.onnx
GOLDEN=Tests/ONNXTests/Goldens/terrain
swift build --product ONNXBench >&2
BENCH="$(swift build --product ONNXBench --show-bin-path)/ONNXBench"
for _ in $(seq "$ROUNDS"); do
    PEREGRINE_THREADS=$THREADS "$BENCH" "$MODEL" $GOLDEN $RUNS
    [ -n "$SKIP_ORT" ] || .venv-onnx/bin/python scripts/onnx/bench_ort.py "$MODEL" $GOLDEN --threads $THREADS --runs $RUNS
done
