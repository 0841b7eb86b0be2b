// Byte budget of what a web app loads from the npm package (pkg/, built by scripts/build-pkg.sh):
// the web build's wasm, gzip level 9. Deterministic, so it is asserted. Lower the budget whenever
// a change makes the module smaller; a change that needs more must say why.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// Uploads (PROTOCOL.md §3) raised both, measured here (gzip -9 by node's zlib): the wasm from
// 239,348 B before uploads to 280,664 B (+41.3 kB: the runtime's transfer machine and view, the
// browser's file reads and uploaders, the npm package's upload handles); the glue from 12,751 B
// to 14,310 B (the upload exports and their ESM layer).
// The durable stash (openStash) raised both by its cost alone, measured as two builds of one tree
// with and without its export: the wasm +9,816 B (the slice join and format over the runtime's
// JSON nodes, the browser's localStorage driver, the RawStash exports), the glue +2,350 B
// (api.js's stash block +1,323 B, index.js +59 B, wasm-bindgen's RawStash glue +968 B).
// The command outbox and the last good state (queued commands, DisconnectedInFlight, cached
// mounts and exports, their exports to JS and the ESM layer's cache wiring) cost the rest: the
// wasm 297,772 B in all (+~7.1 kB), the glue 17,783 B (+~0.9 kB).
// Mistakes that fail loudly (id_in_use, unknown_store, the resync cause) took the wasm to
// 298,510 B (+738 B); the connect() checks and the development join warning in api.js took the
// glue to 19,065 B (+1,282 B). The React entry (musubi-wasm/react) is not glue: only React apps
// load it. One wasm subscription per store handle, fanned out in JS, with the snapshot kept
// between the wasm side's calls (what React's one read per hook per change needs; api.js
// makeStore/fromWasm) took api.js +435 B.
const WASM_GZIP_BUDGET = 299_000;
const GLUE_GZIP_BUDGET = 19_600;

/** The JS snippets wasm-bindgen emits next to the web build (`inline_js`), relative to pkg/. */
const snippets = () =>
  readdirSync(path.join(ROOT, "pkg/web/snippets"), { recursive: true })
    .filter((file) => file.endsWith(".js"))
    .map((file) => path.join("web/snippets", file));

const gzipped = (file) => gzipSync(readFileSync(path.join(ROOT, "pkg", file)), { level: 9 }).length;

test(`the web build's wasm stays within ${WASM_GZIP_BUDGET} bytes gzipped`, () => {
  const bytes = gzipped("web/musubi_wasm_bg.wasm");
  console.log(`[size] wasm ${bytes} B gzipped (budget ${WASM_GZIP_BUDGET} B)`);
  assert.ok(bytes <= WASM_GZIP_BUDGET, `musubi_wasm_bg.wasm is ${bytes} B gzipped, over the budget of ${WASM_GZIP_BUDGET} B`);
});

test(`the JS glue stays within ${GLUE_GZIP_BUDGET} bytes gzipped`, () => {
  const bytes = ["web/musubi_wasm.js", "api.js", "index.js", ...snippets()].map(gzipped).reduce((a, b) => a + b, 0);
  console.log(`[size] JS glue ${bytes} B gzipped (budget ${GLUE_GZIP_BUDGET} B)`);
  assert.ok(bytes <= GLUE_GZIP_BUDGET, `the JS glue is ${bytes} B gzipped, over the budget of ${GLUE_GZIP_BUDGET} B`);
});
