#!/usr/bin/env bash
# Builds the npm package `musubi-wasm` into pkg/: wasm-pack's `web` and `bundler` builds of the
# crate with the `js` feature (pkg/web, pkg/bundler) plus the hand-written ESM layer, types and
# README from src/js/npm. Prints the gzipped sizes. MUSUBI_PKG_DEV=1 builds without optimisation.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
profile=--release
[[ "${MUSUBI_PKG_DEV:-0}" == 1 ]] && profile=--dev

rm -rf pkg.tmp && mkdir -p pkg.tmp
for target in web bundler; do
  wasm-pack --quiet build --mode no-install "$profile" --no-pack --target "$target" \
    --out-dir pkg.tmp/"$target" --out-name musubi_wasm -- --features js
  rm -f pkg.tmp/"$target"/.gitignore
done
cp src/js/npm/{api.js,cache.js,index.js,index.d.ts,bundler.js,bundler.d.ts,react.js,react.d.ts,README.md} LICENSE CHANGELOG.md pkg.tmp/
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
node -e '
  const fs = require("fs");
  const manifest = JSON.parse(fs.readFileSync("src/js/npm/package.json", "utf8"));
  manifest.version = process.argv[1];
  fs.writeFileSync("pkg.tmp/package.json", JSON.stringify(manifest, null, 2) + "\n");
' "$version"
rm -rf pkg && mv pkg.tmp pkg

size() { gzip -9 -c "$1" | wc -c; }
wasm=$(size pkg/web/musubi_wasm_bg.wasm)
glue=$(( $(size pkg/web/musubi_wasm.js) + $(size pkg/api.js) + $(size pkg/index.js) ))
for snippet in $(find pkg/web/snippets -name '*.js' 2>/dev/null); do glue=$(( glue + $(size "$snippet") )); done
echo "[pkg] musubi-wasm $version built in pkg/ — gzipped: wasm $wasm B, JS glue $glue B, total $((wasm + glue)) B"
