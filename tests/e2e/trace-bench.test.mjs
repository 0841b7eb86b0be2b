// The in-browser trace benchmark (reported, never asserted on time): the npm package, and
// optionally the TypeScript reference, fed identical frames by a scripted WebSocket stand-in
// (tests/e2e/bench/trace.js) in the same Chromium. `make test` runs it as a smoke run (1k leaves,
// 30 envelopes per case). The full table:
//
//   MUSUBI_BENCH_SIZES=1000,10000,100000 MUSUBI_BENCH_ENVELOPES=300 [MUSUBI_BENCH_MOUNTS=3] \
//     [MUSUBI_BENCH_REFERENCE=/path/to/reference.js] node --test tests/e2e/trace-bench.test.mjs
//
// MUSUBI_BENCH_REFERENCE is an ES module bundle of another client that exports
// `connectReference(url)` with the same adapter shape as the package (see runTrace in trace.js).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { devserverAndBrowser, e2e, openPage, ROOT } from "./support.mjs";

const env = devserverAndBrowser();
const sizes = (process.env.MUSUBI_BENCH_SIZES ?? "1000").split(",").map(Number);
const envelopesPerCase = Number(process.env.MUSUBI_BENCH_ENVELOPES ?? "30");
// Mounts measured per size (their median is reported), besides the one the cases run on.
const mountSamples = Number(process.env.MUSUBI_BENCH_MOUNTS ?? "3");
const reference = process.env.MUSUBI_BENCH_REFERENCE;
// MUSUBI_BENCH_PROFILE=file.json writes a CPU profile of the package's run (Chrome DevTools'
// format; load it in the Performance panel) and prints the functions with the most self time.
const profile = process.env.MUSUBI_BENCH_PROFILE;

/** Serves `file` to the page at `/_bench/<name>`. */
async function serve(page, name, file) {
  const body = readFileSync(file, "utf8");
  await page.route(`${env.baseUrl}/_bench/${name}`, (route) => route.fulfill({ status: 200, headers: { "content-type": "text/javascript" }, body }));
}

/** Runs the trace in a fresh page against `clientModule`: "package" (the npm package) or "reference". */
async function measure(t, clientModule) {
  const page = await openPage(t, env.browser, `${env.baseUrl}/js/leak.html`);
  // Cross-origin isolation gives performance.now() 5 µs steps instead of 100 µs.
  await page.route(`${env.baseUrl}/_bench/page.html`, (route) =>
    route.fulfill({
      status: 200,
      headers: { "content-type": "text/html", "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" },
      body: `<!doctype html><meta charset="utf-8"><title>trace bench</title>`,
    }),
  );
  await serve(page, "trace.js", path.join(ROOT, "tests/e2e/bench/trace.js"));
  if (reference) await serve(page, "reference.js", reference);
  await page.goto(`${env.baseUrl}/_bench/page.html`);
  assert.equal(await page.evaluate(() => crossOriginIsolated), true, "the benchmark page is cross-origin isolated");
  const profiler = profile && clientModule === "package" ? await startProfile(page) : undefined;
  const rows = await page.evaluate(
    async ({ clientModule, sizes, envelopesPerCase, mountSamples }) => {
      const { runTrace } = await import("/_bench/trace.js");
      const client = clientModule === "package" ? { connect: (await import("/pkg/index.js")).connect } : { connect: (await import("/_bench/reference.js")).connectReference };
      return runTrace(client, { sizes, envelopesPerCase, mountSamples });
    },
    { clientModule, sizes, envelopesPerCase, mountSamples },
  );
  if (profiler) await stopProfile(profiler);
  return rows;
}

async function startProfile(page) {
  const session = await page.context().newCDPSession(page);
  await session.send("Profiler.enable");
  await session.send("Profiler.setSamplingInterval", { interval: 100 });
  await session.send("Profiler.start");
  return session;
}

async function stopProfile(session) {
  const { profile: cpu } = await session.send("Profiler.stop");
  writeFileSync(profile, JSON.stringify(cpu));
  const interval = (cpu.endTime - cpu.startTime) / Math.max(1, cpu.samples.length);
  const counts = new Map();
  for (const id of cpu.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const self = new Map();
  for (const node of cpu.nodes) {
    const name = node.callFrame.functionName || `(${node.callFrame.url.split("/").pop() || "program"})`;
    self.set(name, (self.get(name) ?? 0) + (counts.get(node.id) ?? 0) * interval);
  }
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 40);
  for (const [name, micros] of top) console.log(`[trace-bench] profile: ${(micros / 1000).toFixed(1)} ms ${name}`);
}

const us = (value) => (Number.isNaN(value) ? "–" : `${value.toFixed(0)} µs`);
const ms = (value) => `${value.toFixed(1)} ms`;

function print(name, rows) {
  console.log(`[trace-bench] ${name}: leaves | (a) no-op subscriber on g0 | (b) g0 reads snapshot(): all / touching g0 | (c) + root reads snapshot() | mount | first root snapshot()`);
  for (const row of rows) {
    console.log(`[trace-bench] ${name}: ${row.leaves} | ${us(row.a.all)} | ${us(row.b.all)} / ${us(row.b.g0)} | ${us(row.c.all)} | ${ms(row.mountMs)} | ${ms(row.firstSnapshotMs)}`);
  }
}

e2e(
  "trace benchmark: the package on the issue-11 trace (printed, not asserted)",
  async (t) => {
    const rows = await measure(t, "package");
    print("musubi-wasm", rows);
    assert.deepEqual(rows.map((row) => [row.leaves, row.applied]), sizes.map((leaves) => [leaves, true]), "every envelope of the trace was applied");
    assert.deepEqual(rows.map((row) => [row.leaves, row.identityKept]), sizes.map((leaves) => [leaves, true]), "a changed array is new and frozen, its untouched items keep their identity");
  },
  { timeout: 600_000 },
);

if (reference) {
  e2e(
    "trace benchmark: the reference client on the same frames (printed, not asserted)",
    async (t) => {
      const rows = await measure(t, "reference");
      print("reference", rows);
      assert.deepEqual(rows.map((row) => [row.leaves, row.applied]), sizes.map((leaves) => [leaves, true]));
    },
    { timeout: 600_000 },
  );
}
