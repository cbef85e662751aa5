#!/bin/sh
# Benchmarks the terrain UNet: Peregrine's ONNX importer (optimized build of the ONNX sources)
# and onnxruntime on the same input with the same thread count. Prints one JSON line each.
#   scripts/onnx/bench.sh [THREADS] [RUNS] [ROUNDS]
# SKIP_ORT=1 runs Peregrine only; ONNX_BENCH_DETAIL=1 adds seconds per operator shape.
# ROUNDS > 1 alternates the two engines ROUNDS times (one JSON line per engine and round), so
# that on a shared machine both see the same background load.
set -e
cd "$(dirname "$0")/../.."
THREADS=${1:-2}
RUNS=${2:-3}
ROUNDS=${3:-1}
MODEL=${PEREGRINE_HOME:-$HOME/.peregrine}/models/terrain-diffusion/terrain_consistency_unet_difficulty100.onnx
GOLDEN=Tests/ONNXTests/Goldens/terrain
OUT=.build-onnx-bench
mkdir -p $OUT/cmod
# CKernels (C, per-function ISA targets), then Tensor and Kernels as Swift modules, as the package
# builds them; skipped when none of their sources changed since the last build.
if [ ! -f $OUT/libKernels.a ] || [ -n "$(find Sources/CKernels Sources/Tensor Sources/Kernels -newer $OUT/libKernels.a -type f)" ]; then
printf 'module CKernels {\n  header "%s"\n  export *\n}\n' "$PWD/Sources/CKernels/include/CKernels.h" > $OUT/cmod/module.modulemap
for f in Sources/CKernels/*.c; do
    clang -O3 -fno-math-errno -ISources/CKernels/include -c "$f" -o $OUT/$(basename "$f" .c).o
done
ar rcs $OUT/libCKernels.a $OUT/*.o
swiftc -Ounchecked -wmo -parse-as-library -module-name Tensor -emit-module -emit-module-path $OUT/Tensor.swiftmodule \
    -emit-library -static -o $OUT/libTensor.a Sources/Tensor/*.swift
swiftc -Ounchecked -wmo -parse-as-library -module-name Kernels -I $OUT -I $OUT/cmod -emit-module \
    -emit-module-path $OUT/Kernels.swiftmodule -emit-library -static -o $OUT/libKernels.a Sources/Kernels/*.swift
fi
swiftc -O -wmo -module-name ONNXBench -I $OUT -I $OUT/cmod -L $OUT -lKernels -lTensor -lCKernels -o $OUT/onnx-bench \
    Sources/ModelFormats/ModelFormatError.swift $(find Sources/ModelFormats/ONNX -name '*.swift' ! -name 'ONNXPlan+Graph.swift') scripts/onnx/bench/main.swift
for _ in $(seq "$ROUNDS"); do
    PEREGRINE_THREADS=$THREADS $OUT/onnx-bench "$MODEL" $GOLDEN $RUNS
    [ -n "$SKIP_ORT" ] || .venv-onnx/bin/python scripts/onnx/bench_ort.py "$MODEL" $GOLDEN --threads $THREADS --runs $RUNS
done
