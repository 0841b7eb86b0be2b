// In-browser benchmark of the npm package (reported, never asserted): a Demo.BigStore root of
// 1k / 10k / 100k leaves, one `touch` (2 ops) per round. For each size it prints the median time
// of `snapshot()` after a change (accepting the envelope already happened in the message
// handler) and of the whole round trip (command → reply → patch → subscriber).
import assert from "node:assert/strict";
import { devserverAndBrowser, e2e, openPage } from "./support.mjs";

const env = devserverAndBrowser();

e2e(
  "benchmark: per-change cost for 1k, 10k and 100k-leaf stores (printed, not asserted)",
  async (t) => {
    const page = await openPage(t, env.browser, `${env.baseUrl}/js/leak.html`);
    const results = await page.evaluate(async () => {
      const { connect } = await import("/pkg/index.js");
      const connection = await connect("/socket");
      const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
      const rows = [];
      for (const nodes of [1_000, 10_000, 100_000]) {
        const mountStarted = performance.now();
        const { store, unmount } = await connection.mountStore({ module: "Demo.BigStore", id: `bench-${nodes}-${Date.now()}`, params: { nodes } });
        const mountMs = performance.now() - mountStarted;
        const firstStarted = performance.now();
        store.snapshot();
        const firstSnapshotMs = performance.now() - firstStarted;
        const snapshotMs = [];
        const roundTripMs = [];
        for (let round = 0; round < 40; round++) {
          const changed = new Promise((resolve) => {
            const off = store.subscribe(() => {
              off();
              resolve(performance.now());
            });
          });
          const sent = performance.now();
          await store.dispatchCommand("touch", { count: 1 });
          const notified = await changed;
          const start = performance.now();
          store.snapshot();
          snapshotMs.push(performance.now() - start);
          roundTripMs.push(notified - sent);
        }
        rows.push({ nodes, mountMs, firstSnapshotMs, snapshotMs: median(snapshotMs), roundTripMs: median(roundTripMs) });
        await unmount();
      }
      await connection.disconnect();
      return rows;
    });
    const format = (ms) => `${ms.toFixed(2)} ms`;
    console.log("[bench] leaves | mount (incl. initial state) | first snapshot() | snapshot() after a change | command → patch round trip");
    for (const row of results) {
      console.log(`[bench] ${row.nodes} | ${format(row.mountMs)} | ${format(row.firstSnapshotMs)} | ${format(row.snapshotMs)} | ${format(row.roundTripMs)}`);
    }
    assert.equal(results.length, 3);
  },
  { timeout: 120_000 },
);
