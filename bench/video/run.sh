#!/bin/sh
# Video benchmark: peregrine/video-upscale against ncnn + ffmpeg, pipe cost, and the memory
# high-water mark of a short and a 12x longer clip. Needs ffmpeg and a venv with ncnn:
#   python3 -m venv .venv-ncnn && .venv-ncnn/bin/pip install ncnn numpy
# Prints JSON. Run from the repository root.
set -eu
swift build -c release --product VideoBench >&2
bin="$(swift build -c release --show-bin-path)/VideoBench"
"$bin" --threads "${THREADS:-2}" --frames480 "${FRAMES480:-12}" --frames256 "${FRAMES256:-24}"
echo '{"memory": ['
"$bin" --memory "${SHORT:-120}"
echo ','
"$bin" --memory "${LONG:-1440}"
echo ']}'
