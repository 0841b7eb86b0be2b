#!/usr/bin/env bash
# Adds the npm-package examples to the trunk-built demo in www/dist (run after `trunk build`,
# which replaces www/dist, and after scripts/build-pkg.sh, which produces pkg/):
#   www/dist/pkg/     the npm package as built (pages import /pkg/index.js)
#   www/dist/js/      the plain HTML + JS example (copied as is) and the leak-test harness
#   www/dist/react/   the React example (www/react/*.tsx on musubi-wasm/react): type-checked by
#                     tsc (strict, against pkg/'s .d.ts), then built by Vite with the package
#                     from pkg/ bundled in (www/react/vite.config.ts; app.js + assets/ with the
#                     .wasm). MUSUBI_REACT_MODE=production builds React's production version
#                     (default: development, so <StrictMode> double-renders and warns).
# Idempotent: the three directories are replaced on every run.
set -euo pipefail
cd "$(dirname "$0")/.."

DIST=${MUSUBI_DIST:-www/dist} # another directory holding a trunk build, e.g. a private copy for tests
TSC=node_modules/.bin/tsc
VITE=node_modules/.bin/vite
die() { printf '[examples] ERROR: %s\n' "$*" >&2; exit 1; }
[ -f "$DIST/index.html" ] || die "$DIST/index.html is missing; run trunk build --config Trunk.toml first"
[ -f pkg/index.js ] || die "pkg/index.js is missing; run scripts/build-pkg.sh first"
[ -f pkg/react.js ] && [ -f pkg/react.d.ts ] || die "pkg/react.js is missing (pkg/ predates musubi-wasm/react); run scripts/build-pkg.sh"
for tool in "$TSC" "$VITE"; do
  [ -x "$tool" ] || die "$tool is missing; run npm ci (scripts/bootstrap.sh does)"
done

# Type errors in the React example fail the build (and so `make test`) before anything is replaced.
"$TSC" --noEmit -p www/react/tsconfig.json || die "the React example (www/react) does not type-check"
"$TSC" --noEmit -p www/react/tsconfig.node.json || die "www/react/vite.config.ts does not type-check"

rm -rf "$DIST/pkg" "$DIST/js" "$DIST/react"
cp -R pkg "$DIST/pkg"
cp -R www/js "$DIST/js"
# Vite writes $DIST/react itself (outDir, emptied first); it reads MUSUBI_DIST for where that is.
# NODE_ENV picks React's build (Vite's `--mode` alone would still bundle the production one).
REACT_MODE=${MUSUBI_REACT_MODE:-development}
MUSUBI_DIST="$DIST" NODE_ENV="$REACT_MODE" "$VITE" build --config www/react/vite.config.ts --mode "$REACT_MODE"
echo "[examples] $DIST/pkg, $DIST/js and $DIST/react are up to date"
