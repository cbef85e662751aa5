#!/bin/sh
# Video benchmark: peregrine/video-upscale against ncnn + ffmpeg (frames per second and CPU
# seconds per frame), the raw-frame pipe's cost, and the memory high-water mark of a short and
# a 12x longer clip. Needs ffmpeg and a venv with ncnn:
#   python3 -m venv .venv-ncnn && .venv-ncnn/bin/pip install ncnn numpy
# Run from the repository root; prints one JSON document. On a shared machine, set
# OMP_WAIT_POLICY=PASSIVE so that ncnn's OpenMP threads do not spin against other load.
set -eu
swift build -c release --product VideoBench >&2
bin="$(swift build -c release --show-bin-path)/VideoBench"
speed="$("$bin" --threads "${THREADS:-2}" --frames480 "${FRAMES480:-12}" --frames256 "${FRAMES256:-24}")"
short="$("$bin" --memory "${SHORT:-120}")"
long="$("$bin" --memory "${LONG:-1440}")"
printf '{"speed": %s, "memory": [%s, %s]}\n' "$speed" "$short" "$long"
