// The npm package (release wasm, as users ship it) in Chromium against faults that used to kill or
// wedge it: a connection that dies silently while the page sleeps (a proxy that stops forwarding
// without closing), trees built to 5,000 levels through valid patches, a deep initial envelope
// after a drop, and an auth token that can never be sent.
import assert from "node:assert/strict";
import net from "node:net";
import { devserverAndBrowser, e2e, openPage } from "./support.mjs";

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/leak.html"] });

/** A TCP proxy to the devserver whose `blackhole()` stops forwarding on every open connection
 * without closing it (a dead NAT entry, a sleeping laptop's Wi-Fi); new connections work. */
async function blackholeProxy(target) {
  const pairs = new Set();
  let connections = 0;
  const server = net.createServer((client) => {
    connections += 1;
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair = { client, upstream, holed: false };
    pairs.add(pair);
    client.on("data", (data) => pair.holed || upstream.write(data));
    upstream.on("data", (data) => pair.holed || client.write(data));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on("close", end);
      socket.on("error", end);
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `ws://127.0.0.1:${server.address().port}/socket`,
    get connections() {
      return connections;
    },
    blackhole() {
      for (const pair of pairs) pair.holed = true;
    },
    close() {
      for (const pair of pairs) pair.client.destroy();
      server.close();
    },
  };
}

const post = (path) => fetch(env.baseUrl + path, { method: "POST" }).then((response) => response.json());

e2e("a connection that died silently is replaced within seconds of the page waking up", async (t) => {
  const proxy = await blackholeProxy(new URL(env.baseUrl));
  t.after(() => proxy.close());
  const page = await openPage(t, env.browser, `${env.baseUrl}/js/leak.html`);
  const id = `wake-${Date.now()}`;
  await page.evaluate(
    async ({ url, id }) => {
      const { connect } = await import("/pkg/index.js");
      // The default heartbeat (30 s, then 30 s more) is far too slow to notice a dead line.
      window.viaProxy = await connect(url);
      window.mounted = await window.viaProxy.mountStore({ module: "Demo.CounterStore", id });
      window.direct = await connect("/socket");
      window.other = await window.direct.mountStore({ module: "Demo.CounterStore", id });
    },
    { url: proxy.url, id },
  );
  proxy.blackhole();
  const before = await page.evaluate(async () => {
    await window.other.store.dispatchCommand("increment", { by: 5 });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    return { status: window.viaProxy.status, count: window.mounted.store.snapshot().count, server: window.other.store.snapshot().count };
  });
  assert.deepEqual(before, { status: "open", count: 0, server: 5 }, "the dead line is not noticed by itself");
  const woke = await page.evaluate(async () => {
    const started = performance.now();
    document.dispatchEvent(new Event("visibilitychange"));
    window.dispatchEvent(new Event("online"));
    const statuses = [];
    window.viaProxy.onStatusChange(({ to }) => statuses.push(to));
    const { store } = window.mounted;
    while (performance.now() - started < 10_000) {
      const live = window.viaProxy.info().roots.every((root) => root.status === "live");
      if (window.viaProxy.status === "open" && live && !store.stale && store.snapshot().count === window.other.store.snapshot().count) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { ms: Math.round(performance.now() - started), statuses, count: store.snapshot().count, status: window.viaProxy.status };
  });
  t.diagnostic(`[hardening] wake-up to live on a new socket: ${woke.ms} ms`);
  assert.equal(woke.count, 5, JSON.stringify(woke));
  assert.ok(woke.ms < 5_000, `live again after ${woke.ms} ms`);
  assert.deepEqual(woke.statuses, ["reconnecting", "open"]);
  assert.equal(proxy.connections, 2, "the client is on a new socket");
});

/** Page helpers: the depth of a JS value (iteratively) and a poller. */
const helpers = () => {
  window.depthOf = (value) => {
    let deepest = 0;
    const pending = [[value, 1]];
    while (pending.length > 0) {
      const [node, level] = pending.pop();
      if (node !== null && typeof node === "object") {
        deepest = Math.max(deepest, level);
        for (const child of Object.values(node)) pending.push([child, level + 1]);
      }
    }
    return deepest;
  };
  window.until = async (what, condition, ms = 10_000) => {
    const started = performance.now();
    while (!condition()) {
      if (performance.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
};

e2e("5,000 levels through valid patches, then a drop and a deep initial envelope: alive, truthful, settled", async (t) => {
  const page = await openPage(t, env.browser, `${env.baseUrl}/js/leak.html`);
  await page.evaluate(helpers);
  const id = `deep-${Date.now()}`;
  await page.evaluate(async (id) => {
    const { connect } = await import("/pkg/index.js");
    window.connection = await connect("/socket");
    window.mounted = await window.connection.mountStore({ module: "Demo.CounterStore", id });
    window.seen = [];
    window.connection.onStatusChange(({ to }) => window.seen.push(`connection ${to}`));
    const root = () => window.connection.info().roots[0];
    window.rootStatus = () => root()?.status;
    // Every root status the page can observe, as it changes.
    window.watching = setInterval(() => {
      const status = `root ${root()?.status}`;
      if (window.seen.at(-1) !== status) window.seen.push(status);
    }, 5);
  }, id);

  const sent = await post(`/_test/deepen?root_id=${id}&levels=5000&step=100`);
  assert.equal(sent.envelopes, 50);
  const recovered = await page.evaluate(async () => {
    await window.until("the recovery", () => window.seen.includes("root recovering"));
    await window.until("live again", () => window.rootStatus() === "live");
    const depth = window.depthOf(window.mounted.store.snapshot());
    const reply = await window.mounted.store.dispatchCommand("increment", { by: 2 });
    await window.until("the increment", () => window.mounted.store.snapshot().count === 2);
    return { depth, reply, status: window.connection.status, seen: [...window.seen] };
  });
  assert.ok(recovered.depth < 1000, `the refused envelope left nothing behind (depth ${recovered.depth})`);
  assert.equal(recovered.status, "open");
  assert.ok(!recovered.seen.some((status) => status.startsWith("connection ")), `the socket was never in doubt: ${recovered.seen}`);

  await post(`/_test/deep_initial?root_id=${id}&levels=5000`);
  await post("/_test/drop?code=4000");
  const failed = await page.evaluate(async () => {
    await window.until("the root failed", () => window.rootStatus() === "failed");
    const info = window.connection.info().roots[0];
    let refused;
    try {
      await window.mounted.store.dispatchCommand("increment", { by: 1 });
    } catch (error) {
      refused = { message: error.message, kind: error.kind };
    }
    await window.until("open again", () => window.connection.status === "open");
    clearInterval(window.watching);
    const finalStatus = window.rootStatus();
    return { reason: info.reason, refused, count: window.mounted.store.snapshot().count, stale: window.mounted.store.stale, seen: window.seen, finalStatus };
  });
  assert.match(failed.reason, /deeper than 1000 levels/);
  assert.deepEqual(failed.refused, { message: "Store is not connected", kind: "not_connected" });
  assert.equal(failed.count, 2, "the last good state stays readable");
  assert.equal(failed.stale, true);
  const afterDrop = failed.seen.slice(failed.seen.lastIndexOf("root live"));
  assert.ok(afterDrop.includes("connection reconnecting") && afterDrop.includes("connection open"), JSON.stringify(failed.seen));
  assert.equal(failed.finalStatus, "failed", "and it stays failed: nothing retries it by itself");
});

e2e("a tree at the limit converts to frozen JS objects and keeps its identity", async (t) => {
  const page = await openPage(t, env.browser, `${env.baseUrl}/js/leak.html`);
  await page.evaluate(helpers);
  const id = `limit-${Date.now()}`;
  await page.evaluate(async (id) => {
    const { connect } = await import("/pkg/index.js");
    window.connection = await connect("/socket");
    window.mounted = await window.connection.mountStore({ module: "Demo.CounterStore", id });
  }, id);
  await post(`/_test/deepen?root_id=${id}&levels=998&step=100`);
  const result = await page.evaluate(async () => {
    const { store } = window.mounted;
    await window.until("the chain", () => window.depthOf(store.snapshot()) === 999);
    const before = store.snapshot();
    await store.dispatchCommand("increment", { by: 1 });
    await window.until("the increment", () => store.snapshot().count === 1);
    const after = store.snapshot();
    return { same: before.deep === after.deep, frozen: Object.isFrozen(after.deep.next.next), status: window.connection.info().roots[0].status };
  });
  assert.deepEqual(result, { same: true, frozen: true, status: "live" });
});

e2e("an auth token whose Base64 cannot be a subprotocol rejects connect() with what to change, opening no socket", async (t) => {
  const page = await openPage(t, env.browser, `${env.baseUrl}/js/leak.html`);
  const connectsBefore = (await fetch(`${env.baseUrl}/_test/stats`).then((r) => r.json())).connects;
  const outcome = await page.evaluate(async () => {
    const { connect } = await import("/pkg/index.js");
    try {
      await connect("/socket", { authToken: "???", signal: AbortSignal.timeout(5_000) });
      return { resolved: true };
    } catch (error) {
      return { message: error.message, kind: error.kind };
    }
  });
  assert.equal(outcome.kind, "connect_failed", JSON.stringify(outcome));
  assert.match(outcome.message, /Base64 form contains '\/'.*base64url/);
  const connectsAfter = (await fetch(`${env.baseUrl}/_test/stats`).then((r) => r.json())).connects;
  assert.equal(connectsAfter, connectsBefore, "no WebSocket reached the server");
});
