#!/bin/sh
# Builds and runs the single-thread phase timings against the CKernels sources.
set -e
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../../Sources/CKernels"
out=${TMPDIR:-/tmp}/pg-wino-phases
clang -O3 -fno-math-errno -DPG_WINO_PROFILE -I"$src/include" "$here/wino_phases.c" "$src"/*.c -o "$out" -lpthread -lm
"$out" "$@"
