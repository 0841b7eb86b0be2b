#!/usr/bin/env bash
# Builds the npm package, the demo page (trunk) and the npm examples, and serves them with the
# devserver on http://127.0.0.1:4000 (PORT=… to change). Test endpoints are on so the pages'
# "drop" and "crash" buttons work.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
echo "[demo] building the devserver, the npm package, the demo page and the examples"
cargo build --quiet -p musubi-devserver
TARGET_DIR=${CARGO_TARGET_DIR:-target}
mkdir -p "$TARGET_DIR"
scripts/build-pkg.sh >"$TARGET_DIR/demo-pkg.log" 2>&1 || { tail -n 40 "$TARGET_DIR/demo-pkg.log"; exit 1; }
trunk build --config Trunk.toml >"$TARGET_DIR/demo-trunk.log" 2>&1 || { tail -n 40 "$TARGET_DIR/demo-trunk.log"; exit 1; }
scripts/build-examples.sh
URL="http://127.0.0.1:${PORT:-4000}"
echo "[demo] open $URL/ (Leptos demo), $URL/js/ (plain JS), $URL/react/ (React); Ctrl-C stops"
exec "$TARGET_DIR/debug/musubi-devserver" --host 127.0.0.1 --port "${PORT:-4000}" --test-endpoints --static-dir www/dist
