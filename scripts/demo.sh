#!/usr/bin/env bash
# Builds the demo page with trunk and serves it, with the devserver, on http://127.0.0.1:4000
# (PORT=… to change). Test endpoints are on so the page's "drop" and "crash" buttons work.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
echo "[demo] building the devserver and the demo page"
cargo build --quiet -p musubi-devserver
TARGET_DIR=${CARGO_TARGET_DIR:-target}
mkdir -p "$TARGET_DIR"
trunk build --config Trunk.toml >"$TARGET_DIR/demo-trunk.log" 2>&1 || { tail -n 40 "$TARGET_DIR/demo-trunk.log"; exit 1; }
echo "[demo] open http://127.0.0.1:${PORT:-4000}/ (Ctrl-C stops)"
exec "$TARGET_DIR/debug/musubi-devserver" --host 127.0.0.1 --port "${PORT:-4000}" --test-endpoints --static-dir www/dist
