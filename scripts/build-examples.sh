#!/usr/bin/env bash
# Adds the npm-package examples to the trunk-built demo in www/dist (run after `trunk build`,
# which replaces www/dist, and after scripts/build-pkg.sh, which produces pkg/):
#   www/dist/pkg/     the npm package as built (pages import /pkg/index.js)
#   www/dist/js/      the plain HTML + JS example (copied as is) and the leak-test harness
#   www/dist/react/   the React example, bundled by esbuild with "musubi-wasm" external
# Idempotent: the three directories are replaced on every run.
set -euo pipefail
cd "$(dirname "$0")/.."

DIST=${MUSUBI_DIST:-www/dist} # another directory holding a trunk build, e.g. a private copy for tests
ESBUILD=node_modules/.bin/esbuild
die() { printf '[examples] ERROR: %s\n' "$*" >&2; exit 1; }
[ -f "$DIST/index.html" ] || die "$DIST/index.html is missing; run trunk build --config Trunk.toml first"
[ -f pkg/index.js ] || die "pkg/index.js is missing; run scripts/build-pkg.sh first"
[ -x "$ESBUILD" ] || die "$ESBUILD is missing; run npm ci (scripts/bootstrap.sh does)"

rm -rf "$DIST/pkg" "$DIST/js" "$DIST/react"
cp -R pkg "$DIST/pkg"
cp -R www/js "$DIST/js"
mkdir -p "$DIST/react"
cp www/react/index.html "$DIST/react/index.html"
"$ESBUILD" www/react/app.jsx --bundle --format=esm --target=es2022 --jsx=automatic --minify \
  --external:musubi-wasm --define:process.env.NODE_ENV='"production"' \
  --log-level=warning --outfile="$DIST/react/app.js"
echo "[examples] $DIST/pkg, $DIST/js and $DIST/react are up to date"
