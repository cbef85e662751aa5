#!/bin/sh
# Builds Examples/ClientExample, a package that depends only on the `Client` library, to prove
# the SDK builds on its own. Kept out of `swift test`: it compiles NIO, NIOSSL (BoringSSL) and
# AsyncHTTPClient a second time, several minutes on a small machine. The main build's cloned
# repositories are linked into the example's scratch folder so nothing is fetched again.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
scratch="$root/.build-client-example"
mkdir -p "$scratch"
if [ -d "$root/.build/repositories" ] && [ ! -e "$scratch/repositories" ]; then
    cp -al "$root/.build/repositories" "$scratch/repositories" 2>/dev/null || cp -a "$root/.build/repositories" "$scratch/repositories"
fi
swift build --package-path "$root/Examples/ClientExample" --scratch-path "$scratch" "$@"
echo "built: $scratch/debug/ClientExample"
