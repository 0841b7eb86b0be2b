// Leak check of the npm package in Chromium, on /js/leak.html (which only puts the package on
// window.musubi). Everything runs inside the page; debugStats() is recorded between phases and
// printed so the numbers show up in the test log.
//
// Root ids are unique per cycle (`leak-<run>-<i>`): every cycle is then a real mount on the
// server and a new root in the client (new ids in every map), the harder case for leaks; a
// shared id would mostly exercise the "already mounted" path.
//
// Phases: 1,000 cycles of mountStore → subscribe → snapshot → (every 10th: a command and its
// patch) → unsubscribe → unmount; then, with one root mounted and subscribed, 100 reconnects
// (POST /_test/drop, wait for "open" and the root live again) and 600 changes read with
// snapshot(); then 20 extra connections, each connect → mount → subscribe → disconnect().
//
// Bounds. liveHandles (and each of its parts) must come back exactly to the baseline once nothing
// is mounted; while a root stays mounted its snapshot cache may keep superseded snapshots until
// it prunes them, so there only the handles proper must match, and the cache must stay bounded
// (CACHE_BOUND). WebAssembly memory never shrinks, so only growth *after* a warm-up is judged: the
// allocator reaches its high-water mark during warm-up, after which identical cycles reuse the
// same memory. The module's memory is 1 MiB of stack + ~45 KiB of static data + the heap (about
// 85 KiB here), so there is little free heap to hide a leak in. We allow 2 pages (128 KiB) of
// growth over the 900 cycles and over the 90 reconnects after warm-up: room for one more table
// doubling or some fragmentation, while a leak of ~250 bytes per cycle (far less than one mounted
// root's tree, index and handles) exceeds it even if it first fills the free heap. No timing is
// asserted.
import assert from "node:assert/strict";
import { devserverAndBrowser, e2e, openPage } from "./support.mjs";

const CYCLES = 1_000;
const WARM_UP_CYCLES = 100;
const RECONNECTS = 100;
const WARM_UP_RECONNECTS = 10;
const CONNECTIONS = 20;
const CHANGES = 600;
// Superseded snapshots may stay cached until a prune (the package prunes once the cache holds
// more than 256 entries); the point is that the count does not follow the number of changes.
const CACHE_BOUND = 300;
const PAGE = 64 * 1024;
const MEMORY_BOUND = 2 * PAGE;

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/leak.html"] });

/** Sets up helpers in the page: a connection, a timeout guard and the three workloads. */
function install() {
  const { musubi } = window;
  const withTimeout = (promise, what, ms = 10_000) =>
    Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))]);
  const run = Math.random().toString(36).slice(2, 8);

  /** Dispatches `increment` and waits for the listener to see the patch. */
  async function incrementAndWait(store, changed) {
    const seen = changed();
    const start = store.snapshot().count;
    await withTimeout(Promise.all([seen, store.dispatchCommand("increment", { by: 1 })]), "increment");
    if (store.snapshot().count !== start + 1) throw new Error(`count ${store.snapshot().count}, expected ${start + 1}`);
  }

  /** A listener whose next call can be awaited. */
  function listener() {
    let wake = () => {};
    return {
      call: () => wake(),
      next: () => new Promise((resolve) => (wake = resolve)),
    };
  }

  window.leak = {
    stats: () => ({ ...musubi.debugStats() }),
    async connect() {
      window.connection = await withTimeout(musubi.connect("/socket"), "connect");
    },
    /** mountStore → subscribe → snapshot → (every 10th: command + patch) → unsubscribe → unmount. */
    async cycles(from, to) {
      for (let i = from; i < to; i++) {
        const { store, unmount } = await withTimeout(window.connection.mountStore({ module: "Demo.CounterStore", id: `leak-${run}-${i}` }), "mount");
        const changes = listener();
        const unsubscribe = store.subscribe(changes.call);
        if (typeof store.snapshot().count !== "number") throw new Error(`cycle ${i}: no count in the snapshot`);
        if (i % 10 === 0) await incrementAndWait(store, changes.next);
        unsubscribe();
        await withTimeout(unmount(), "unmount");
      }
    },
    /** With one root mounted and subscribed: drop every connection and wait until it is back. */
    async mountForReconnects() {
      const { store, unmount } = await window.connection.mountStore({ module: "Demo.CounterStore", id: `leak-${run}-reconnects` });
      const changes = listener();
      window.reconnecting = { store, unmount, changes, unsubscribe: store.subscribe(changes.call) };
    },
    async reconnects(from, to) {
      const { connection } = window;
      const { store, changes } = window.reconnecting;
      for (let i = from; i < to; i++) {
        const reopened = new Promise((resolve) => {
          const off = connection.onStatusChange(({ to: status }) => status === "open" && (off(), resolve()));
        });
        const response = await fetch("/_test/drop?code=4000", { method: "POST" });
        if (!response.ok) throw new Error(`/_test/drop: HTTP ${response.status}`);
        await withTimeout(reopened, `reconnect ${i}`);
        // The root remounts after the socket is back; wait until it is live again.
        const deadline = Date.now() + 10_000;
        while (store.stale || connection.info().roots.some((root) => root.status !== "live")) {
          if (Date.now() > deadline) throw new Error(`reconnect ${i}: root not live again: ${JSON.stringify(connection.info().roots)}`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        if (i % 10 === 0) await incrementAndWait(store, changes.next);
      }
    },
    /** `n` increments on the reconnect root, each read with snapshot(): a new snapshot every time. */
    async changes(n) {
      const { store, changes } = window.reconnecting;
      for (let i = 0; i < n; i++) await incrementAndWait(store, changes.next);
    },
    async unmountAfterReconnects() {
      window.reconnecting.unsubscribe();
      await window.reconnecting.unmount();
      window.reconnecting = null;
    },
    /** Extra connections, each with a mounted and subscribed root, ended by disconnect() alone. */
    async connections(n) {
      for (let i = 0; i < n; i++) {
        const connection = await withTimeout(musubi.connect("/socket"), "connect");
        const { store } = await withTimeout(connection.mountStore({ module: "Demo.CounterStore", id: `leak-${run}-connection-${i}` }), "mount");
        store.subscribe(() => {});
        let refused;
        try {
          store.child(["nothing", "here"]);
        } catch (error) {
          refused = error;
        }
        if (refused?.kind !== "unknown_store") throw new Error(`child() of an unknown store: ${refused ?? "no error"}`);
        store.child([]).snapshot();
        await withTimeout(connection.disconnect(), "disconnect");
        if (connection.status !== "closed") throw new Error(`status after disconnect: ${connection.status}`);
      }
    },
  };
}

const STRUCTURAL_KEYS = ["connections", "mounts", "stores", "subscriptions"];
const HANDLE_KEYS = ["liveHandles", ...STRUCTURAL_KEYS, "cachedObjects"];
const pick = (stats, keys = HANDLE_KEYS) => Object.fromEntries(keys.map((key) => [key, stats[key]]));

e2e(
  `${CYCLES} mount cycles, ${RECONNECTS} reconnects, ${CHANGES} changes and ${CONNECTIONS} connections leave no handles behind and memory flat`,
  async (t) => {
    const page = await openPage(t, env.browser, env.baseUrl + "/js/leak.html");
    await page.waitForFunction(() => window.musubi, null, { timeout: 10_000 });
    await page.evaluate(install);
    const stats = () => page.evaluate(() => window.leak.stats());
    const rows = [];
    const record = async (phase) => {
      const row = { phase, ...(await stats()) };
      rows.push(row);
      console.log(`[leak] ${phase}: ${JSON.stringify(row)}`);
      return row;
    };

    await page.evaluate(() => window.leak.connect());
    const baseline = await record("connected, nothing mounted");
    await page.evaluate(([from, to]) => window.leak.cycles(from, to), [0, WARM_UP_CYCLES]);
    const warm = await record(`after ${WARM_UP_CYCLES} cycles (warm-up)`);
    await page.evaluate(([from, to]) => window.leak.cycles(from, to), [WARM_UP_CYCLES, CYCLES]);
    const cycled = await record(`after ${CYCLES} cycles`);

    await page.evaluate(() => window.leak.mountForReconnects());
    const mounted = await record("one root mounted for the reconnects");
    await page.evaluate(([from, to]) => window.leak.reconnects(from, to), [0, WARM_UP_RECONNECTS]);
    const warmReconnects = await record(`after ${WARM_UP_RECONNECTS} reconnects (warm-up)`);
    await page.evaluate(([from, to]) => window.leak.reconnects(from, to), [WARM_UP_RECONNECTS, RECONNECTS]);
    const reconnected = await record(`after ${RECONNECTS} reconnects`);
    await page.evaluate((n) => window.leak.changes(n), CHANGES);
    const changed = await record(`after ${CHANGES} changes read with snapshot()`);
    await page.evaluate(() => window.leak.unmountAfterReconnects());
    const unmounted = await record("reconnect root unmounted");

    await page.evaluate((n) => window.leak.connections(n), CONNECTIONS);
    const connections = await record(`after ${CONNECTIONS} connect → mount → disconnect`);
    console.table(rows);

    assert.deepEqual(pick(cycled), pick(baseline), "mount cycles leave no handles behind");
    // While a root stays mounted its snapshot cache may hold superseded snapshots for a while
    // (it prunes them in batches), so only the handles proper must match exactly here; the
    // cache must stay bounded however many snapshots a root goes through.
    assert.deepEqual(pick(reconnected, STRUCTURAL_KEYS), pick(mounted, STRUCTURAL_KEYS), "reconnects leave no handles behind");
    assert.deepEqual(pick(changed, STRUCTURAL_KEYS), pick(mounted, STRUCTURAL_KEYS), "changes leave no handles behind");
    assert.ok(changed.cachedObjects <= CACHE_BOUND, `${changed.cachedObjects} cached objects after ${CHANGES} snapshots of one root`);
    assert.deepEqual(pick(unmounted), pick(baseline), "unmounting the reconnect root releases it");
    assert.deepEqual(pick(connections), pick(baseline), "disconnect() releases a connection's mounts and handles");
    const cycleGrowth = cycled.memoryBytes - warm.memoryBytes;
    const reconnectGrowth = reconnected.memoryBytes - warmReconnects.memoryBytes;
    console.log(`[leak] memory growth after warm-up: ${cycleGrowth} B over ${CYCLES - WARM_UP_CYCLES} cycles, ` +
      `${reconnectGrowth} B over ${RECONNECTS - WARM_UP_RECONNECTS} reconnects (bound ${MEMORY_BOUND} B each)`);
    assert.ok(cycleGrowth <= MEMORY_BOUND, `memory grew by ${cycleGrowth} B over ${CYCLES - WARM_UP_CYCLES} cycles after warm-up`);
    assert.ok(reconnectGrowth <= MEMORY_BOUND, `memory grew by ${reconnectGrowth} B over ${RECONNECTS - WARM_UP_RECONNECTS} reconnects after warm-up`);
  },
  { timeout: 300_000 },
);
