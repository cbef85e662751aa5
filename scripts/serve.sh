#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is needed, builds Peregrine
# (release), pulls the default model's published weights, and serves it over HTTPS on the
# embedded default (SQLite + local files under $PEREGRINE_HOME, default ~/.peregrine).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
swift build -c release --product peregrine
BIN="$(swift build -c release --show-bin-path)/peregrine"

"$BIN" models pull realesr-animevideov3

# Auth is on by default: create a first key when there is none, and print it once.
if ! "$BIN" keys list --json | grep -q '"id"'; then
    echo "Creating a first API key (shown once):"
    "$BIN" keys create --name default
fi

PORT="${PEREGRINE_PORT:-8443}"
HOST="${PEREGRINE_HOST:-127.0.0.1}"
CERT="$("$BIN" cert)"
cat <<MSG

Peregrine is starting on https://$HOST:$PORT
Open the playground in a browser at https://$HOST:$PORT/ (sign in with the key above).

Call it with fal's Python client (pip install fal-client):
  export FAL_KEY=<the key id:secret printed by 'peregrine keys create'>
  export FAL_RUN_HOST=$HOST:$PORT/run FAL_QUEUE_RUN_HOST=$HOST:$PORT/queue
  export SSL_CERT_FILE=$CERT
  python3 -c 'import fal_client; print(fal_client.subscribe("peregrine/realesr-animevideov3", {"image_url": "data:image/png;base64,..."}))'

or with curl:
  curl --cacert $CERT -H "Authorization: Key \$FAL_KEY" https://$HOST:$PORT/models

MSG
exec "$BIN" serve --host "$HOST" --port "$PORT" "$@"
