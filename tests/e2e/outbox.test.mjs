// End-to-end: the command outbox of the npm package in Chromium against an own devserver. A
// click while the connection is dropped waits ("1 change waiting") and is applied exactly once
// after the reconnect — the server's counter proves it; a command dispatched right when the
// status turns `open` (the root still remounting) succeeds; a command in flight at the drop
// rejects as ambiguous and is not re-sent; without the outbox it is refused at once.
import assert from "node:assert/strict";
import { connectOptionErrors, devserverAndBrowser, e2e, openPage } from "./support.mjs";

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/"] });

/** Opens the plain JS page (it serves /pkg/) and imports the package there. */
async function packagePage(t) {
  // Sockets refused during a `/_test/pause` are reported by the browser itself.
  const page = await openPage(t, env.browser, env.baseUrl + "/js/", [/WebSocket connection to .* failed/]);
  await page.evaluate(async () => {
    window.musubi = await import("/pkg/index.js");
  });
  return page;
}

/** The counter's count as the server has it (a fresh connection reads it). */
async function serverCount(page, id) {
  return page.evaluate(async (id) => {
    const connection = await window.musubi.connect("/socket");
    const { store } = await connection.mountStore({ module: "Demo.CounterStore", id });
    const count = store.snapshot().count;
    await connection.disconnect();
    return count;
  }, id);
}

e2e("outbox: a click during a drop waits, then is applied exactly once after the reconnect", async (t) => {
  const page = await packagePage(t);
  const id = `outbox-${Date.now()}`;
  const seen = await page.evaluate(async (id) => {
    const connection = await window.musubi.connect("/socket", { outbox: true, reconnectAfterMs: [200] });
    const { store } = await connection.mountStore({ module: "Demo.CounterStore", id });
    window.outbox = { connection, store };
    const before = store.snapshot().count;
    // Listening first: the drop and the status change may both happen before `fetch` resolves.
    const dropped = new Promise((resolve) => {
      const off = connection.onStatusChange(({ to }) => to === "reconnecting" && (off(), resolve()));
    });
    await fetch("/_test/drop?code=1011", { method: "POST" });
    await dropped;
    const pending = store.dispatchCommand("increment", { by: 1 });
    const waiting = store.queued();
    const info = connection.info().roots.find((root) => root.id === id);
    const reply = await pending;
    await new Promise((resolve) => {
      const check = () => store.snapshot().count === before + 1 && (off(), resolve());
      const off = store.subscribe(check);
      check();
    });
    return { before, waiting, infoQueued: info.queued, reply, after: store.snapshot().count, queuedAfter: store.queued() };
  }, id);
  assert.equal(seen.waiting, 1, "the store shows 1 change waiting");
  assert.equal(seen.infoQueued, 1, "info().roots[].queued too");
  assert.deepEqual(seen.reply, {}, "the queued command resolves with its reply");
  assert.equal(seen.after, seen.before + 1);
  assert.equal(seen.queuedAfter, 0);
  assert.equal(await serverCount(page, id), seen.before + 1, "applied exactly once on the server");
});

e2e("outbox: a command dispatched as the status turns open (the root still remounting) succeeds", async (t) => {
  const page = await packagePage(t);
  const id = `outbox-open-${Date.now()}`;
  const outcome = await page.evaluate(async (id) => {
    const connection = await window.musubi.connect("/socket", { outbox: { maxQueued: 5, maxAgeMs: 20_000 }, reconnectAfterMs: [200] });
    const { store } = await connection.mountStore({ module: "Demo.CounterStore", id });
    const before = store.snapshot().count;
    const sent = new Promise((resolve) => {
      const off = connection.onStatusChange(({ from, to }) => {
        if (from === "reconnecting" && to === "open") {
          off();
          resolve({ stale: store.stale, promise: store.dispatchCommand("increment", { by: 2 }) });
        }
      });
    });
    await fetch("/_test/drop?code=1011", { method: "POST" });
    const { stale, promise } = await sent;
    const reply = await promise.then(
      (value) => ({ ok: value }),
      (error) => ({ error: error.kind ?? error.message }),
    );
    await new Promise((resolve) => {
      const check = () => store.snapshot().count === before + 2 && (off(), resolve());
      const off = store.subscribe(check);
      check();
    });
    await connection.disconnect();
    return { stale, reply };
  }, id);
  assert.equal(outcome.stale, true, "the root was still remounting when the status said open");
  assert.deepEqual(outcome.reply, { ok: {} });
});

e2e("without the outbox a command while dropped is refused at once; a command in flight at a drop is ambiguous", async (t) => {
  const page = await packagePage(t);
  const id = `no-outbox-${Date.now()}`;
  const outcome = await page.evaluate(async (id) => {
    const connection = await window.musubi.connect("/socket", { reconnectAfterMs: [200] });
    const { store } = await connection.mountStore({ module: "Demo.CounterStore", id });
    // `slow` replies after 2 s: the drop comes first, so the command was sent and not answered.
    const inFlight = store.dispatchCommand("slow", { ms: 2_000 }).then(
      () => "resolved",
      (error) => error.kind,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const dropped = new Promise((resolve) => {
      const off = connection.onStatusChange(({ to }) => to === "reconnecting" && (off(), resolve()));
    });
    await fetch("/_test/drop?code=1011", { method: "POST" });
    await dropped;
    const refused = await store.dispatchCommand("increment", { by: 1 }).then(
      () => "resolved",
      (error) => error.kind,
    );
    const queuedAnyway = store.dispatchCommand("increment", { by: 1 }, { queue: true });
    const waiting = store.queued();
    await queuedAnyway;
    const typeError = await store.dispatchCommand("increment", {}, { queue: "yes" }).then(
      () => "resolved",
      (error) => error instanceof TypeError,
    );
    await connection.disconnect();
    return { inFlight: await inFlight, refused, waiting, typeError };
  }, id);
  assert.equal(outcome.inFlight, "disconnected_in_flight");
  assert.equal(outcome.refused, "not_connected");
  assert.equal(outcome.waiting, 1, "queue: true queues without a connection-wide outbox");
  assert.equal(outcome.typeError, true);
  assert.equal(await serverCount(page, id), 1, "only the queued increment ran");
});

e2e("outbox options are checked", async (t) => {
  const page = await packagePage(t);
  const errors = await connectOptionErrors(page, [{ outbox: "yes" }, { outbox: { maxQueued: 0 } }, { outbox: { maxAgeMs: -1 } }]);
  assert.match(errors[0], /outbox must be a boolean or an object/);
  assert.match(errors[1], /outbox.maxQueued must be a positive integer/);
  assert.match(errors[2], /outbox.maxAgeMs must be a non-negative number/);
});

e2e("the JS demo: +1 while the server refuses sockets shows \"1 change waiting\", then counts once; a reload shows the cached count", async (t) => {
  const page = await openPage(t, env.browser, env.baseUrl + "/js/", [/WebSocket connection to .* failed/]);
  await page.waitForFunction(() => document.querySelector("#status")?.textContent === "open", null, { timeout: 10_000 });
  await page.waitForFunction(() => /^-?\d+$/.test(document.querySelector("#count")?.textContent ?? ""), null, { timeout: 10_000 });
  await page.locator("#counter:not(.stale)").waitFor({ timeout: 5_000 });
  const before = Number(await page.locator("#count").textContent());
  await page.evaluate(async () => {
    await fetch("/_test/pause?ms=2000", { method: "POST" });
    await fetch("/_test/drop?code=1011", { method: "POST" });
  });
  await page.locator("#counter.stale").waitFor({ timeout: 5_000 });
  await page.click("#increment");
  await page.locator("[data-testid=outbox-waiting]", { hasText: "1 change waiting" }).waitFor({ timeout: 2_000 });
  await page.waitForFunction((want) => Number(document.querySelector("#count")?.textContent) === want, before + 1, { timeout: 15_000 });
  const emptied = (testid) => page.waitForFunction((id) => document.querySelector(`[data-testid=${id}]`)?.textContent === "", testid, { timeout: 15_000 });
  await emptied("outbox-waiting");
  assert.equal(await serverCount(await packagePage(t), "demo-counter"), before + 1, "applied exactly once");
  // The page's cache holds the count: a reload while sockets are refused shows it at once.
  await page.waitForTimeout(1_200); // one write-back interval
  await page.evaluate(() => fetch("/_test/pause?ms=2000", { method: "POST" }));
  await page.reload();
  await page.locator("[data-testid=counter-state]", { hasText: "cached" }).waitFor({ timeout: 5_000 });
  assert.equal(Number(await page.locator("#count").textContent()), before + 1, "the cached count, before the server answers");
  await emptied("counter-state");
  await page.locator("#counter:not(.stale)").waitFor({ timeout: 5_000 });
});
