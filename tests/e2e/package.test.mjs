// The npm package (www/dist/pkg, served by the devserver) in Chromium: it runs under a strict
// Content-Security-Policy (only 'wasm-unsafe-eval'), server keys like `__proto__` become own data
// properties, snapshots keep their identity until their store changes, and stores flag `stale`
// during an outage while keeping the last good state.
import assert from "node:assert/strict";
import { deadPort, devserverAndBrowser, e2e, openPage } from "./support.mjs";

// Pages fulfilled by playwright count as "public" for Chromium's local-network checks, which
// would then refuse their WebSocket to the loopback devserver.
const env = devserverAndBrowser({ browserArgs: ["--disable-features=LocalNetworkAccessChecks"] });

/** A page at `path` on the devserver's origin whose HTML (and app script) playwright serves with `csp`. */
async function cspPage(t, csp, path) {
  const page = await env.browser.newPage();
  const violations = [];
  page.on("console", (message) => violations.push(`console ${message.type()}: ${message.text()}`));
  await page.route(`${env.baseUrl}${path}`, (route) =>
    route.fulfill({
      status: 200,
      headers: { "content-type": "text/html", "content-security-policy": csp },
      body: `<!doctype html><meta charset="utf-8"><title>csp</title><script type="module" src="${path}.js"></script>`,
    }),
  );
  await page.route(`${env.baseUrl}${path}.js`, (route) =>
    route.fulfill({
      status: 200,
      headers: { "content-type": "text/javascript" },
      body: `
        addEventListener("securitypolicyviolation", (e) => { document.body.dataset.violation = e.violatedDirective; });
        try {
          const { connect } = await import("/pkg/index.js");
          const connection = await connect("/socket");
          const { store, unmount } = await connection.mountStore({ module: "Demo.CounterStore", id: "csp-${path.slice(1)}" });
          await store.dispatchCommand("increment", { by: 1 });
          for (let i = 0; i < 250 && store.snapshot().count < 1; i++) await new Promise((r) => setTimeout(r, 20));
          document.body.dataset.count = String(store.snapshot().count);
          await unmount();
          await connection.disconnect();
          document.body.dataset.result = "ok";
        } catch (error) {
          document.body.dataset.result = "error: " + error.message;
        }`,
    }),
  );
  await page.goto(`${env.baseUrl}${path}`);
  await page.waitForFunction(() => document.body?.dataset.result !== undefined, null, { timeout: 15_000 });
  const result = await page.evaluate(() => ({ ...document.body.dataset }));
  await page.close();
  return { result, violations };
}

e2e("the package works under script-src 'self' 'wasm-unsafe-eval' (and the policy is enforced)", async (t) => {
  const strict = await cspPage(t, "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'", "/csp-strict");
  assert.equal(strict.result.result, "ok", JSON.stringify(strict));
  assert.equal(strict.result.violation, undefined);
  assert.ok(Number(strict.result.count) >= 1);
  // Control: without 'wasm-unsafe-eval' the browser refuses to compile the module.
  const control = await cspPage(t, "default-src 'self'; script-src 'self'; connect-src 'self'", "/csp-control");
  assert.match(control.result.result, /^error/, JSON.stringify(control));
});

e2e("server keys such as __proto__ become own properties, never prototypes; untouched subtrees keep identity", async (t) => {
  const page = await openPage(t, env.browser, `${env.baseUrl}/js/leak.html`);
  const result = await page.evaluate(async () => {
    const { connect } = await import("/pkg/index.js");
    const connection = await connect("/socket");
    const { store, unmount } = await connection.mountStore({ module: "Demo.CounterStore", id: "e2e-proto" });
    for (const key of ["__proto__", "constructor", "prototype", "toString"]) {
      await store.dispatchCommand("set_meta", { key, value: { polluted: true } });
    }
    const deadline = Date.now() + 5000;
    while (Object.keys(store.snapshot().meta ?? {}).length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const meta = store.snapshot().meta;
    const out = {
      keys: Object.keys(meta).sort(),
      prototypeIsObject: Object.getPrototypeOf(meta) === Object.prototype,
      ownProto: Object.getOwnPropertyDescriptor(meta, "__proto__")?.value?.polluted,
      ownConstructor: meta.constructor?.polluted,
      frozen: Object.isFrozen(meta) && Object.isFrozen(store.snapshot()),
      globalClean: {}.polluted === undefined && Object.prototype.polluted === undefined,
      json: JSON.stringify(meta),
    };
    // An untouched plain subtree keeps its identity when another field changes.
    const count = store.snapshot().count;
    await store.dispatchCommand("increment", { by: 1 });
    while (store.snapshot().count === count && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 20));
    out.metaKeptIdentity = store.snapshot().meta === meta && store.snapshot().count === count + 1;
    await unmount();
    await connection.disconnect();
    return out;
  });
  assert.deepEqual(result.keys, ["__proto__", "constructor", "prototype", "toString"]);
  assert.ok(result.prototypeIsObject && result.frozen && result.globalClean);
  assert.equal(result.ownProto, true);
  assert.ok(result.metaKeptIdentity, "meta is the identical object after an increment");
  assert.equal(result.ownConstructor, true);
  assert.match(result.json, /"__proto__":\{"polluted":true\}/);
});

e2e("snapshots keep their identity until their store changes; child stores are shared", async (t) => {
  const page = await openPage(t, env.browser, `${env.baseUrl}/js/leak.html`);
  const result = await page.evaluate(async () => {
    const { connect } = await import("/pkg/index.js");
    const connection = await connect("/socket");
    const { store, unmount } = await connection.mountStore({ module: "Demo.BoardStore", id: `e2e-identity-${Date.now()}` });
    const until = async (check) => {
      const deadline = Date.now() + 5000;
      while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return check();
    };
    const before = store.snapshot();
    const firstCard = before.cards[0];
    const cardStore = store.child(firstCard);
    const cardBefore = cardStore.snapshot();
    let boardNotified = 0;
    let cardNotified = 0;
    const offBoard = store.subscribe(() => boardNotified++);
    const offCard = cardStore.subscribe(() => cardNotified++);
    await store.dispatchCommand("add_card", { title: "identity" });
    await until(() => store.snapshot().cards.length === before.cards.length + 1);
    const after = store.snapshot();
    const out = {
      sameWhenUnchanged: store.snapshot() === store.snapshot(),
      boardChanged: after !== before,
      childKeptIdentity: after.cards[0] === firstCard,
      childStoreSnapshotIsNested: cardStore.snapshot() === after.cards[0],
      cardUnchanged: cardStore.snapshot() === cardBefore,
      boardNotified,
      cardNotifiedBeforeRename: cardNotified,
      cardsAreAnArray: Array.isArray(after.cards),
      asyncShape: Object.keys(after.stats).sort(),
    };
    await cardStore.dispatchCommand("rename", { title: "renamed" });
    await until(() => cardStore.snapshot().title === "renamed");
    out.cardChanged = cardStore.snapshot() !== cardBefore && cardNotified >= 1;
    out.boardSeesRename = store.snapshot().cards[0].title === "renamed";
    offBoard();
    offCard();
    await unmount();
    await connection.disconnect();
    return out;
  });
  assert.deepEqual(
    { ...result, boardNotified: result.boardNotified > 0 },
    {
      sameWhenUnchanged: true,
      boardChanged: true,
      childKeptIdentity: true,
      childStoreSnapshotIsNested: true,
      cardUnchanged: true,
      boardNotified: true,
      cardNotifiedBeforeRename: 0,
      cardsAreAnArray: true,
      asyncShape: ["data", "error", "status"],
      cardChanged: true,
      boardSeesRename: true,
    },
  );
});

e2e("during an outage stores are stale with their last state; after it they are live again", async (t) => {
  const page = await openPage(t, env.browser, `${env.baseUrl}/js/leak.html`);
  const result = await page.evaluate(async () => {
    const { connect } = await import("/pkg/index.js");
    // A slow first retry keeps the outage observable.
    const connection = await connect("/socket", { reconnectAfterMs: [300, 300] });
    const { store, unmount } = await connection.mountStore({ module: "Demo.CounterStore", id: "e2e-stale" });
    const before = store.snapshot();
    const statuses = [];
    connection.onStatusChange(({ to }) => statuses.push(to));
    const staleSeen = [];
    // The outage can be shorter than a poll (the client recovers in milliseconds): what it
    // looks like is recorded when the store hears it go stale.
    let duringOutage;
    const off = store.subscribe(() => {
      staleSeen.push(store.stale);
      if (store.stale && duringOutage === undefined) duringOutage = { count: store.snapshot().count, info: connection.info().status };
    });
    await fetch("/_test/drop?code=4000", { method: "POST" });
    const until = async (check) => {
      const deadline = Date.now() + 8000;
      while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return check();
    };
    const sawStale = await until(() => duringOutage !== undefined);
    const recovered = await until(() => connection.status === "open" && !store.stale);
    const sameAfterRemount = store.snapshot() === before;
    await store.dispatchCommand("increment", { by: 1 });
    const incremented = await until(() => store.snapshot().count === before.count + 1);
    off();
    await unmount();
    await connection.disconnect();
    return { sawStale, duringOutage, recovered, incremented, statuses, beforeCount: before.count, staleSeen, sameAfterRemount };
  });
  assert.ok(result.sawStale, JSON.stringify(result));
  assert.equal(result.duringOutage.count, result.beforeCount, "last good state stays readable");
  assert.equal(result.duringOutage.info, "reconnecting");
  assert.ok(result.recovered && result.incremented, JSON.stringify(result));
  assert.ok(result.sameAfterRemount, "nothing changed during the outage: the snapshot keeps its identity");
  assert.deepEqual(result.statuses.slice(0, 2), ["reconnecting", "open"]);
  // Subscribers hear the root go stale and live again, so `() => store.stale` can be a snapshot.
  assert.equal(result.staleSeen[0], true, JSON.stringify(result.staleSeen));
  assert.ok(result.staleSeen.includes(false), JSON.stringify(result.staleSeen));
});

e2e("connect() to an unreachable server retries until an AbortSignal gives up, leaving nothing behind", async (t) => {
  // A loopback port nobody listens on: every attempt is refused and the socket keeps retrying.
  const port = await deadPort();
  // The refused attempts are logged by Chromium as console errors, so this page is not checked
  // for them (only for uncaught errors).
  const page = await env.browser.newPage();
  const uncaught = [];
  page.on("pageerror", (error) => uncaught.push(error.message));
  await page.goto(`${env.baseUrl}/js/leak.html`);
  const result = await page.evaluate(async (port) => {
    const { connect, debugStats } = await import("/pkg/index.js");
    const error = await connect(`ws://127.0.0.1:${port}/socket`, { reconnectAfterMs: [50], signal: AbortSignal.timeout(600) }).catch((e) => e);
    return { name: error?.name, stats: debugStats() };
  }, port);
  await page.close();
  assert.deepEqual(uncaught, []);
  assert.equal(result.name, "TimeoutError", JSON.stringify(result));
  assert.equal(result.stats.connections, 0, "the connection was released");
  assert.equal(result.stats.liveHandles, 0);
});
