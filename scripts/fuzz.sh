#!/usr/bin/env bash
# Builds the libFuzzer harnesses under fuzz/ (PEREGRINE_FUZZ=1 adds them to the package) in
# their own scratch directory with -sanitize=fuzzer, then runs each for a bounded time from
# its committed seed corpus (fuzz/corpus/NAME/, made by fuzz/make_corpus.py). New inputs go
# to a scratch copy; crashes are written to .build-fuzz/artifacts/. Exits non-zero when any
# harness crashes, leaks a trap or times out.
#
#   scripts/fuzz.sh                       every harness, 20 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh FuzzNCNN
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
if [ $# -gt 0 ]; then harnesses=("$@"); else
    harnesses=(FuzzONNX FuzzNCNN FuzzSafetensors FuzzImage FuzzDataURI FuzzSchema FuzzByteRange)
fi
export PEREGRINE_FUZZ=1
# libFuzzer must see a Swift trap itself to save the input: no runtime backtracer first.
export SWIFT_BACKTRACE=enable=no
scratch=.build-fuzz
build=(swift build --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer -Xswiftc -use-ld=lld)

mkdir -p "$scratch/artifacts"
for harness in "${harnesses[@]}"; do
    echo "== building $harness"
    if ! "${build[@]}" --product "$harness" > "$scratch/build-$harness.log" 2>&1; then
        grep -E "error" "$scratch/build-$harness.log" | head -20
        echo "fuzz: $harness does not build (log: $scratch/build-$harness.log)"
        exit 1
    fi
done
bin=$("${build[@]}" --show-bin-path)

failed=()
for harness in "${harnesses[@]}"; do
    name=$(echo "${harness#Fuzz}" | tr '[:upper:]' '[:lower:]')
    work=$(mktemp -d)
    cp fuzz/corpus/"$name"/* "$work"/
    echo "== $harness: ${seconds}s from fuzz/corpus/$name"
    if "$bin/$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -use_value_profile=1 -print_final_stats=1 \
        -artifact_prefix="$scratch/artifacts/$harness-" "$work" > "$scratch/$harness.log" 2>&1; then
        grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$scratch/$harness.log" | tail -1 || true
    else
        failed+=("$harness")
        tail -40 "$scratch/$harness.log"
    fi
    rm -rf "$work"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]} (inputs in $scratch/artifacts/)"
    exit 1
fi
echo "fuzz: ${#harnesses[@]} harnesses, ${seconds}s each, no crash"
