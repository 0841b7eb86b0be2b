// The React benchmark (reported, never asserted on time): `musubi-wasm/react` (src/js/npm/react.js
// over the built pkg/), and optionally the TypeScript reference's React package, in the same
// Chromium on identical frames from the scripted WebSocket stand-in of tests/e2e/bench/trace.js,
// React's production build (tests/e2e/react-bench/app.jsx is the page; how commits are timed is
// in its header). Per size: the mount through the hooks (render of the provider → first commit
// showing data) and, under 100 rows each selecting one leaf plus one whole-snapshot reader, the
// time from a one-leaf envelope reaching the socket to React's commit, with the number of rows
// (and readers) re-rendered per envelope. The rendered values are asserted. `make test` runs it as
// a smoke run (1k leaves, 30 envelopes). The full table:
//
//   MUSUBI_BENCH_SIZES=1000,10000 MUSUBI_BENCH_ENVELOPES=200 [MUSUBI_BENCH_MOUNTS=5] \
//     [MUSUBI_BENCH_REACT_REFERENCE=target/react-bench/reference.js] node --test tests/e2e/react-bench.test.mjs
//
// The reference bundle is built, never committed, from fahchen/arbor 0.6.1 (4216285):
//
//   mkdir -p /tmp/arbor && git -C <arbor clone> archive 4216285 packages/client/src packages/react/src | tar -x -C /tmp/arbor
//   (cd /tmp/arbor && echo '{"private":true}' > package.json && npm install --legacy-peer-deps use-sync-external-store@1.6.0)
//   node tests/e2e/react-bench/build.mjs /tmp/arbor target/react-bench/reference.js
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { buildBenchPage } from "./react-bench/build.mjs";
import { devserverAndBrowser, e2e, openPage, ROOT } from "./support.mjs";

// --expose-gc: the page collects garbage before each mount and each run of envelopes.
const env = devserverAndBrowser({ browserArgs: ["--js-flags=--expose-gc"] });
const sizes = (process.env.MUSUBI_BENCH_SIZES ?? "1000").split(",").map(Number);
const envelopes = Number(process.env.MUSUBI_BENCH_ENVELOPES ?? "30");
const mounts = Number(process.env.MUSUBI_BENCH_MOUNTS ?? "3");
const reference = process.env.MUSUBI_BENCH_REACT_REFERENCE;

const CONTENT_TYPES = { ".js": "text/javascript", ".wasm": "application/wasm" };

/** Serves the page (cross-origin isolated: 5 µs timer steps), its bundle and pkg/ under `/_bench/`. */
async function routeBench(page, bundle) {
  const isolated = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
  await page.route(`${env.baseUrl}/_bench/page.html`, (route) =>
    route.fulfill({ status: 200, headers: { "content-type": "text/html", ...isolated }, body: `<!doctype html><meta charset="utf-8"><title>react bench</title>` }),
  );
  await page.route(`${env.baseUrl}/_bench/app.js`, (route) => route.fulfill({ status: 200, headers: { "content-type": "text/javascript" }, body: bundle }));
  await page.route(`${env.baseUrl}/_bench/pkg/**`, (route) => {
    const file = path.join(ROOT, "pkg", new URL(route.request().url()).pathname.slice("/_bench/pkg/".length));
    route.fulfill({ status: 200, headers: { "content-type": CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream" }, body: readFileSync(file) });
  });
}

/** Runs the page around `client` ("ours" or a reference bundle's path) → its rows. */
async function measure(t, client) {
  const bundle = await buildBenchPage(client);
  const page = await openPage(t, env.browser, `${env.baseUrl}/js/leak.html`);
  await routeBench(page, bundle);
  await page.goto(`${env.baseUrl}/_bench/page.html`);
  assert.equal(await page.evaluate(() => crossOriginIsolated), true, "the benchmark page is cross-origin isolated");
  return page.evaluate(async (options) => (await import("/_bench/app.js")).run(options), { sizes, envelopes, mounts });
}

const us = (value) => `${value.toFixed(0)} µs`;

function report(name, rows) {
  console.log(`[react-bench] ${name}: leaves | mount → first commit (median of ${mounts}) | envelope → commit, median / p95 (${envelopes} envelopes) | of which delivery | rows re-rendered per envelope (mean, max) | reader re-renders per envelope`);
  for (const { leaves, mountMs, update } of rows) {
    const { medianUs, p95Us, deliverUs, rowsPerEnvelope, maxRows, readerPerEnvelope } = update;
    console.log(`[react-bench] ${name}: ${leaves} | ${mountMs.toFixed(1)} ms | ${us(medianUs)} / ${us(p95Us)} | ${us(deliverUs)} | ${rowsPerEnvelope.toFixed(2)}, ${maxRows} | ${readerPerEnvelope.toFixed(2)}`);
  }
}

/** What is asserted: every mount showed the whole tree, every row and the reader end on the expected values. */
function checkRendered(rows) {
  for (const { leaves, mountTexts, update } of rows) {
    assert.deepEqual(mountTexts, Array(mounts).fill(`10 × ${leaves / 10}`), `${leaves} leaves: each mount rendered the initial state`);
    assert.deepEqual(update.shown, update.expected, `${leaves} leaves: the rows show the final values`);
    assert.deepEqual(update.inSnapshot, update.expected, `${leaves} leaves: the whole snapshot holds the final values`);
  }
}

e2e(
  "react benchmark: musubi-wasm/react, mount and envelope → commit (printed, not asserted)",
  async (t) => {
    const rows = await measure(t, "ours");
    report("musubi-wasm", rows);
    checkRendered(rows);
  },
  { timeout: 600_000 },
);

if (reference) {
  e2e(
    "react benchmark: the reference's React package on the same frames (printed, not asserted)",
    async (t) => {
      const rows = await measure(t, reference);
      report("reference", rows);
      checkRendered(rows);
    },
    { timeout: 600_000 },
  );
}
