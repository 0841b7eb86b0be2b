#!/usr/bin/env bash
# Installs whatever the project needs and is missing; idempotent and fast when all is present.
# The pinned versions are below (the wasm-bindgen CLI follows Cargo.lock). Never installs Debian's
# binaryen (its wasm-opt 108 corrupts wasm-bindgen output); wasm-opt comes from the npm package
# binaryen@132 in node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_PACK_VERSION=0.15.1
TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132

log() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# Runs apt-get install for packages whose command is missing (root only; updates lists once).
apt_updated=""
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not available to install: $*"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ -z "$apt_updated" ]; then
    $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

# cargo_install BIN EXPECTED_VERSION_TEXT INSTALL_ARGS...
cargo_install() {
  local bin=$1 want=$2
  shift 2
  if command -v "$bin" >/dev/null && "$bin" --version 2>/dev/null | grep -qF "$want"; then
    return 0
  fi
  log "cargo install $* (a few minutes on first run)"
  cargo install --quiet "$@" || die "cargo install $* failed"
}

command -v cargo >/dev/null || die "cargo not found; install Rust with rustup first"
command -v rustup >/dev/null || die "rustup not found; the wasm32 target is installed with rustup"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown >/dev/null || die "cannot add the wasm32 target"
fi

# The wasm-bindgen CLI must match the crate version in Cargo.lock exactly.
[ -f Cargo.lock ] || cargo generate-lockfile --offline 2>/dev/null || cargo generate-lockfile
wb_version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$wb_version" ] || die "wasm-bindgen not found in Cargo.lock"
# Without --locked: the CLI's own lockfile pins a webpki-roots version a registry mirror may lack.
cargo_install wasm-bindgen "wasm-bindgen $wb_version" "wasm-bindgen-cli@$wb_version"
cargo_install wasm-pack "wasm-pack $WASM_PACK_VERSION" --locked "wasm-pack@$WASM_PACK_VERSION"
cargo_install trunk "trunk $TRUNK_VERSION" --locked "trunk@$TRUNK_VERSION"

command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm

# npm dev tools into the repo's own node_modules (binaryen, playwright-core, phoenix, ws, esbuild,
# react + react-dom for the React example, typescript for the declaration tests).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed"
fi
wasm-opt --version 2>/dev/null | grep -q "version $BINARYEN_VERSION" || die "wasm-opt on PATH is not binaryen $BINARYEN_VERSION (expected node_modules/.bin/wasm-opt)"

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt_install chromium chromium-driver
fi

# Trunk builds offline, so every crate must already be in the local registry cache.
cargo fetch --quiet || die "cargo fetch failed"
log "ready: $(wasm-bindgen --version), $(wasm-pack --version 2>/dev/null), $(trunk --version), wasm-opt $BINARYEN_VERSION, $(chromium --version 2>/dev/null | head -1)"
