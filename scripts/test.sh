#!/usr/bin/env bash
# Runs every test tier and ends with one line "N passed, N failed".
#   lint:    cargo fmt --check, clippy (host and wasm32) and rustdoc (wasm32, all features) with -D warnings
#   host:    cargo test --workspace (unit, simulation, devserver integration, doctests)
#   browser: wasm-pack test --headless --chrome against a devserver started here (socket, runtime, Leptos hooks)
#   js:      node --test (the npm package's JS layer; phoenix.js against the devserver)
#   build:   the npm package (pkg/, wasm-pack web + bundler), the trunk demo, the JS/React examples
#   e2e:     the demo pages served by the devserver, driven in Chromium by playwright-core
#   guides:  each guide of docs/guides/ followed on a copy of its example (npm pack + install, Vite/webpack/Next.js builds, Chromium)
# Every server started here binds 127.0.0.1 on an ephemeral port and is stopped on exit.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/bootstrap.sh || { echo "0 passed, 1 failed"; exit 1; }
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
LOGS="$TARGET_DIR/test-logs"
mkdir -p "$LOGS"
passed=0
failed=0
failed_steps=()
server_pids=()

cleanup() {
  for pid in "${server_pids[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  server_pids=()
}
trap cleanup EXIT INT TERM

# Adds the test counts a runner printed to the totals; a step that failed without counting any
# failure still counts as one failure.
count() {
  local log=$1 status=$2 p=0 f=0
  p=$(grep -aE '^test result: ' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
  f=$(grep -aE '^test result: ' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
  p=$((p + $(grep -aE '^# pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')))
  f=$((f + $(grep -aE '^# fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')))
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then p=1; fi # a check with no test counts (fmt, clippy)
  passed=$((passed + p))
  failed=$((failed + f))
  echo "    -> $p passed, $f failed"
}

# Prints what a failed step's log says of its failures (capped, so CI's excerpt stays readable):
# TAP's "not ok" entries with the YAML block after them, libtest's "---- name stdout ----"
# sections and cargo's error lines.
failures() {
  awk '
    /^ *not ok / || /^---- .* ----$/ || /^error(\[E[0-9]+\])?: / || /^test .* FAILED$/ { show = 30 }
    show > 0 { print; show-- }
  ' "$1" | head -n 150
}

# step NAME COMMAND...: runs a step, logs it, and counts its results.
step() {
  local name=$1
  shift
  local log="$LOGS/$name.log" start=$SECONDS status
  echo "==> $name: $*"
  "$@" >"$log" 2>&1
  status=$?
  if [ $status -ne 0 ]; then
    failed_steps+=("$name")
    echo "    FAILED ($((SECONDS - start)) s); the failures in $log:"
    failures "$log" | sed 's/^/    | /'
    echo "    last lines:"
    tail -n 15 "$log" | sed 's/^/    | /'
  else
    echo "    ok ($((SECONDS - start)) s)"
  fi
  count "$log" $status
}

step fmt cargo fmt --all --check
step clippy-host cargo clippy --workspace --all-targets --quiet -- -D warnings
step clippy-wasm cargo clippy -p musubi-wasm -p musubi-demo --features musubi-wasm/js,musubi-wasm/leptos --target wasm32-unknown-unknown --lib --bins --tests --quiet -- -D warnings
step docs env RUSTDOCFLAGS="-D warnings" cargo doc --quiet -p musubi-wasm --features js,leptos --target wasm32-unknown-unknown --no-deps
step host-tests cargo test --workspace
step build-devserver cargo build -p musubi-devserver --quiet

# Devservers for the browser tier: one speaking both wires (with a short idle timeout the
# heartbeat test relies on), one per-root only and one connection-channel only (for auto mode).
# start_devserver NAME ARGS... sets server_url and records the pid in this shell (not in a
# subshell), so cleanup can stop it.
start_devserver() {
  local name=$1 out="$LOGS/devserver-$1.out"
  shift
  : >"$out"
  "$TARGET_DIR/debug/musubi-devserver" --port 0 --test-endpoints "$@" >"$out" 2>"$LOGS/devserver-$name.err" &
  server_pids+=($!)
  for _ in $(seq 1 100); do
    server_url=$(sed -n 's/^listening on //p' "$out" | head -1)
    [ -n "$server_url" ] && return 0
    sleep 0.1
  done
  return 1
}

server_url=""
if start_devserver both --idle-timeout-ms 1500 && both_url=$server_url &&
  start_devserver per-root --wire per-root && per_root_url=$server_url &&
  start_devserver connection --wire connection && connection_url=$server_url; then
  echo "==> devservers at $both_url (both wires), $per_root_url (per-root), $connection_url (connection)"
  export MUSUBI_TEST_SERVER="$both_url" MUSUBI_TEST_SERVER_PER_ROOT="$per_root_url" MUSUBI_TEST_SERVER_CONNECTION="$connection_url"
  export WASM_BINDGEN_TEST_TIMEOUT=60
  step browser-tests wasm-pack test --headless --chrome --mode no-install -- --features leptos --test web --test sync_web --test leptos_web --test hardening_web --test wire_web --test upload_web --test stash_web
else
  echo "    a devserver did not start; see $LOGS/devserver-*.err"
  failed=$((failed + 1))
  failed_steps+=("devserver")
fi
cleanup

export MUSUBI_DEVSERVER_BIN="$TARGET_DIR/debug/musubi-devserver" MUSUBI_TEST_ARTIFACTS="$LOGS"
step build-pkg scripts/build-pkg.sh
step js-tests node --test --test-concurrency=1 --test-reporter=tap tests/js/
step build-demo env TRUNK_SKIP_VERSION_CHECK=true trunk build --config Trunk.toml
step build-examples scripts/build-examples.sh
step e2e-tests node --test --test-concurrency=1 --test-reporter=tap tests/e2e/
step guides node --test --test-concurrency=1 --test-reporter=tap tests/guides/

echo
if [ ${#failed_steps[@]} -gt 0 ]; then
  echo "failed steps: ${failed_steps[*]} (logs in $LOGS)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failed_steps[@]} -eq 0 ]
