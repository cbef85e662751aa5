#!/usr/bin/env bash
# Starts (or finds running) the private PostgreSQL cluster the tests use and prints its URL on
# stdout, e.g. postgres://postgres@localhost/postgres?host=/path/.peregrine-test/postgres
#
# Installs Debian's postgresql package when its programs are missing. The cluster lives in its
# own data directory (default: .peregrine-test/postgres under the project) and listens only on a
# Unix socket in that directory, so clusters of several checkouts never collide on a port.
# PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` user, and when
# that user cannot reach the project directory (a checkout under /root) the cluster goes under
# /var/tmp instead. Quick when already running. Tests create and drop their own databases in it.
#
#   scripts/postgres.sh          start if needed, print the URL
#   scripts/postgres.sh stop     stop the cluster
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT="$PWD"

find_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then echo "$dir"; return 0; fi
    done
    return 1
}

BIN="$(find_bin || true)"
if [[ -z "$BIN" ]]; then
    echo "postgres: installing Debian's postgresql package" >&2
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    BIN="$(find_bin)"
fi

# Who runs the server, and a directory that user can reach whose socket path fits the 107-byte
# limit; otherwise a directory under /var/tmp named after the project.
DIR="${PEREGRINE_TEST_POSTGRES_DIR:-$PROJECT/.peregrine-test/postgres}"
FALLBACK="/var/tmp/peregrine-test-postgres-$(printf '%s' "$PROJECT" | sha256sum | cut -c1-12)"
RUN=()
if [[ $(id -u) -eq 0 ]]; then RUN=(runuser -u postgres --); fi
prepare() {
    mkdir -p "$1" || return 1
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$1" && chmod 700 "$1" && "${RUN[@]}" test -w "$1"
    fi
}
if (( ${#DIR} > 90 )) || ! prepare "$DIR"; then
    DIR="$FALLBACK"
    prepare "$DIR"
fi

PORT=5432
URL="postgres://postgres@localhost:$PORT/postgres?host=$DIR"

if [[ "${1:-}" == "stop" ]]; then
    "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >&2 || true
    exit 0
fi

if [[ ! -f "$DIR/data/PG_VERSION" ]]; then
    rm -rf "$DIR/data"
    "${RUN[@]}" "$BIN/initdb" -D "$DIR/data" -A trust -U postgres --no-sync -E UTF8 >"$DIR/initdb.log" 2>&1 || {
        cat "$DIR/initdb.log" >&2
        exit 1
    }
fi

if ! "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    # Test-only settings: no fsync (the data is thrown away), enough connections for parallel
    # suites that each open a pool. PEREGRINE_TEST_POSTGRES_DURABLE=1 keeps PostgreSQL's durable
    # defaults (for benchmarks compared with SQLite's fsynced commits).
    OPTIONS="-p $PORT -k $DIR -c listen_addresses='' -c max_connections=500"
    if [[ "${PEREGRINE_TEST_POSTGRES_DURABLE:-0}" != "1" ]]; then
        OPTIONS+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    # The server outlives this script: it must not inherit the caller's descriptors (a pipe the
    # caller reads to its end would never end), so everything above stderr is closed for it.
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd="${fd##*/}"
            if (( fd > 2 )); then eval "exec ${fd}>&-" 2>/dev/null || true; fi
        done
        exec "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 -o "$OPTIONS" start </dev/null >&2
    ) || {
        tail -20 "$DIR/server.log" >&2
        exit 1
    }
fi
echo "$URL"
