// End-to-end: last good state across page loads (`connect(url, { cache })`) in Chromium. A root
// is written back to IndexedDB; a reload while the server refuses sockets (`/_test/pause`)
// mounts it at once from the cache — status "cached", stale, readable — and once the server is
// back the real state swaps in, the unchanged snapshot keeping its identity. Also: a changed
// buster or an old entry is not used, bad options are TypeErrors, and what the write-back of a
// 100k-leaf root costs (printed, never asserted).
import assert from "node:assert/strict";
import { connectOptionErrors, devserverAndBrowser, e2e, openPage } from "./support.mjs";

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/"] });

async function packagePage(t, page) {
  // The sockets refused during `/_test/pause` are reported by the browser itself.
  page ??= await openPage(t, env.browser, env.baseUrl + "/js/", [/WebSocket connection to .* failed/]);
  await page.evaluate(async () => {
    window.musubi = await import("/pkg/index.js");
    // Resolves once the cache holds an entry for root `id` (writes are asynchronous).
    window.cacheEntry = async (id) => {
      const db = await new Promise((resolve, reject) => {
        const open = indexedDB.open("musubi-wasm-cache");
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      try {
        for (let i = 0; i < 250; i++) {
          const entries = await new Promise((resolve) => {
            const req = db.transaction("roots").objectStore("roots").getAll();
            req.onsuccess = () => resolve(req.result);
            req.onerror = () => resolve([]);
          });
          const entry = entries.find((entry) => JSON.parse(entry.key)[1] === id);
          if (entry) return entry;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return undefined;
      } finally {
        db.close();
      }
    };
  });
  return page;
}

e2e("cache: a reload while the server is unreachable shows the cached root at once, then goes live", async (t) => {
  const page = await packagePage(t);
  const id = `cached-${Date.now()}`;
  const saved = await page.evaluate(async (id) => {
    const connection = await window.musubi.connect("/socket", { cache: true });
    const { store, unmount } = await connection.mountStore({ module: "Demo.CounterStore", id });
    await store.dispatchCommand("increment", { by: 5 });
    await new Promise((resolve) => {
      const check = () => store.snapshot().count === 5 && (off(), resolve());
      const off = store.subscribe(check);
      check();
    });
    const count = store.snapshot().count;
    await unmount(); // writes the root back at once
    await connection.disconnect();
    await window.cacheEntry(id);
    return count;
  }, id);
  assert.equal(saved, 5);
  // Sockets are refused for a while; the page itself still loads.
  await page.evaluate(() => fetch("/_test/pause?ms=2500", { method: "POST" }));
  await page.reload();
  await packagePage(t, page);
  const offline = await page.evaluate(async (id) => {
    const started = performance.now();
    const connection = await window.musubi.connect("/socket", { cache: true, reconnectAfterMs: [300] });
    const status = connection.status;
    const { store } = await connection.mountStore({ module: "Demo.CounterStore", id });
    const mountedInMs = performance.now() - started;
    window.cached = { connection, store, first: store.snapshot() };
    const root = connection.info().roots.find((root) => root.id === id);
    const refused = await store.dispatchCommand("increment", { by: 1 }).then(
      () => "resolved",
      (error) => error.kind,
    );
    return { status, mountedInMs, count: store.snapshot().count, stale: store.stale, rootStatus: root.status, refused };
  }, id);
  assert.equal(offline.status, "connecting", "connect() resolved at once, still connecting");
  assert.equal(offline.count, 5, "the cached state is readable at once");
  assert.equal(offline.stale, true);
  assert.equal(offline.rootStatus, "cached");
  assert.equal(offline.refused, "not_connected", "cached state never satisfies a command");
  const live = await page.evaluate(async (id) => {
    const { connection, store, first } = window.cached;
    await new Promise((resolve) => {
      const check = () => !store.stale && (off(), resolve());
      const off = store.subscribe(check);
      check();
    });
    const root = connection.info().roots.find((root) => root.id === id);
    const result = { rootStatus: root.status, count: store.snapshot().count, same: store.snapshot() === first };
    await connection.disconnect();
    return result;
  }, id);
  assert.deepEqual(live, { rootStatus: "live", count: 5, same: true }, "the server's equal state keeps the snapshot's identity");
});

e2e("cache: a changed buster or an expired entry is not used", async (t) => {
  const page = await packagePage(t);
  const id = `buster-${Date.now()}`;
  const outcome = await page.evaluate(async (id) => {
    const save = async (root, cache) => {
      const connection = await window.musubi.connect("/socket", { cache });
      const { unmount } = await connection.mountStore({ module: "Demo.CounterStore", id: root });
      await unmount();
      await connection.disconnect();
      await window.cacheEntry(root);
    };
    // Saved with buster v1, read back while the server refuses sockets: "mounted" at once means
    // the cache was used.
    const readBack = async (root, cache) => {
      await save(root, { buster: "v1" });
      await fetch("/_test/pause?ms=1000", { method: "POST" });
      const connection = await window.musubi.connect("/socket", { cache, reconnectAfterMs: [200] });
      const mounting = connection.mountStore({ module: "Demo.CounterStore", id: root });
      const first = await Promise.race([mounting.then(() => "mounted"), new Promise((resolve) => setTimeout(() => resolve("waiting"), 300))]);
      await mounting;
      await connection.disconnect();
      return first;
    };
    return {
      sameBuster: await readBack(`${id}-same`, { buster: "v1" }),
      otherBuster: await readBack(`${id}-other`, { buster: "v2" }),
      expired: await readBack(`${id}-old`, { buster: "v1", maxAgeMs: 0 }),
    };
  }, id);
  assert.deepEqual(outcome, { sameBuster: "mounted", otherBuster: "waiting", expired: "waiting" });
});

e2e("cache options are checked", async (t) => {
  const page = await packagePage(t);
  const errors = await connectOptionErrors(page, [{ cache: "yes" }, { cache: { maxAgeMs: -1 } }, { cache: { buster: 3 } }]);
  assert.match(errors[0], /cache must be a boolean or an object/);
  assert.match(errors[1], /cache.maxAgeMs must be a non-negative number/);
  assert.match(errors[2], /cache.buster must be a string/);
});

e2e("cache: what a write-back of a 100k-leaf root costs (measured, not asserted)", async (t) => {
  const page = await packagePage(t);
  const leaves = Number(process.env.MUSUBI_CACHE_BENCH_LEAVES ?? 100_000);
  const measured = await page.evaluate(async (leaves) => {
    const connection = await window.musubi.connect("/socket", { cache: true });
    const id = `big-cache-${Date.now()}`;
    const { unmount } = await connection.mountStore({ module: "Demo.BigStore", id, params: { nodes: leaves } });
    // Time one write-back: the export in wasm, then the IndexedDB transaction.
    const started = performance.now();
    await unmount();
    const exportAndQueueMs = performance.now() - started;
    await connection.disconnect();
    const entry = await window.cacheEntry(id);
    const storedMs = performance.now() - started;
    return { exportAndQueueMs, storedMs, bytes: entry?.text.length ?? 0 };
  }, leaves);
  console.log(
    `[cache] write-back of a ${leaves}-leaf root: export + queue ${measured.exportAndQueueMs.toFixed(1)} ms, stored after ${measured.storedMs.toFixed(1)} ms, ${measured.bytes} bytes`,
  );
  assert.ok(measured.bytes > 0, "the root was written");
});
