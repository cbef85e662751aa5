#!/usr/bin/env bash
# Installs the system packages Peregrine needs to build, test and serve (Debian 12).
# Fast when everything is already installed: only missing packages trigger apt-get.
set -euo pipefail

PACKAGES=(pkg-config libpng-dev libjpeg62-turbo-dev libturbojpeg0-dev libwebp-dev zlib1g-dev libsqlite3-dev ffmpeg)
# postgresql: the cluster job store's tests (scripts/postgres.sh starts their private server);
# scripts/test.sh asks for it.
if [[ "${PEREGRINE_SETUP_POSTGRES:-0}" == "1" ]]; then
    PACKAGES+=(postgresql)
fi
# The playground's browser test drives Debian's Chromium headless (scripts/test.sh asks for it).
if [[ "${PEREGRINE_SETUP_CHROMIUM:-0}" == "1" ]]; then
    PACKAGES+=(chromium)
fi

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The external-runner tests start the example Python runner, which computes with numpy.
python3 -c "import numpy" 2>/dev/null || python3 -m pip install -q numpy 2>/dev/null || python3 -m pip install -q --break-system-packages numpy \
    || echo "setup: could not install numpy for python3 (the external-runner example needs it)" >&2

if ! command -v swift >/dev/null; then
    echo "setup: Swift 6 toolchain not found on PATH (https://www.swift.org/install/linux/)" >&2
    exit 1
fi
