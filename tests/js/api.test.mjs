// The npm package's JS layer (src/js/npm/api.js) over a fake wasm module: errors, bound store
// functions, listener bookkeeping and release on unsubscribe / unmount / disconnect. The real
// module is covered in Chromium by tests/e2e.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createApi, MusubiCommandError, toError } from "../../src/js/npm/api.js";

/** A stand-in for the wasm `RawConnection` that records what the JS layer holds. */
class FakeRaw {
  static last;
  constructor(url, options, onStatus) {
    Object.assign(this, { url, options, onStatus, freed: false, listeners: new Map(), stores: new Map(), next: 0 });
    this.snapshots = new Map();
    this.failConnect = options?.failConnect;
    FakeRaw.last = this;
  }
  connect() {
    if (this.failConnect) return Promise.reject({ name: "Error", message: "Channel join failed: {}", reply: {} });
    if (this.options?.hang) return new Promise(() => {});
    this.onStatus("connecting", "open", "connected");
    return Promise.resolve();
  }
  mount(module, id, params) {
    this.mounted = { module, id, params };
    return Promise.resolve(++this.next);
  }
  unmount(mount) {
    for (const [number, store] of this.stores) if (store.mount === mount) this.stores.delete(number);
    for (const [number, listener] of this.listeners) if (!this.stores.has(listener.store)) this.listeners.delete(number);
    return Promise.resolve();
  }
  store(mount, storeId) {
    const number = ++this.next;
    this.stores.set(number, { mount, storeId });
    this.snapshots.set(number, Object.freeze({ __musubi_store_id__: storeId, count: 1 }));
    return number;
  }
  snapshot(store) {
    return this.snapshots.get(store);
  }
  subscribe(store, listener) {
    const number = ++this.next;
    this.listeners.set(number, { store, listener });
    return number;
  }
  unsubscribe(number) {
    this.listeners.delete(number);
  }
  command(store, name, payload) {
    if (name === "fail") return Promise.reject({ name: "MusubiCommandError", kind: "failed", command: name, storeId: [], reply: { reason: "nope" } });
    if (name === "late") return Promise.reject({ name: "MusubiCommandError", kind: "timeout", command: name, storeId: ["a"] });
    if (name === "gone") return Promise.reject({ name: "Error", message: "Version mismatch" });
    return Promise.resolve({ ok: true, payload });
  }
  stale() {
    return false;
  }
  upload(store, name) {
    if (!this.stores.has(store)) throw Object.assign(new Error("Store is not connected"), { kind: "unmounted" });
    this.uploads ??= new Map();
    const key = `${store}/${name}`;
    if (!this.uploads.has(key)) this.uploads.set(key, ++this.next);
    const number = this.uploads.get(key);
    this.uploadSnapshots ??= new Map();
    if (!this.uploadSnapshots.has(number)) this.uploadSnapshots.set(number, Object.freeze({ status: "idle", entries: Object.freeze([]), name }));
    return number;
  }
  upload_snapshot(upload) {
    return this.uploadSnapshots.get(upload);
  }
  upload_subscribe(upload, listener) {
    return this.subscribe(upload, listener);
  }
  upload_select(upload, files) {
    this.calls = [...(this.calls ?? []), ["select", upload, files.length]];
    return Promise.resolve(Object.freeze([{ ref: "u1" }]));
  }
  upload_start(upload) {
    this.calls = [...(this.calls ?? []), ["start", upload]];
    return Promise.reject({ name: "Error", message: "Store is not connected", kind: "not_connected" });
  }
  upload_cancel(upload, ref) {
    this.calls = [...(this.calls ?? []), ["cancel", upload, ref]];
    return Promise.resolve();
  }
  upload_reset(upload) {
    this.calls = [...(this.calls ?? []), ["reset", upload]];
    return Promise.resolve(null);
  }
  held_files() {
    return 3;
  }
  dialed_url() {
    return `ws://127.0.0.1:5173${this.url}/websocket`;
  }
  status() {
    return this.options?.hang ? "reconnecting" : "open";
  }
  info() {
    return { status: this.status(), reason: this.options?.hang ? "connection lost (code 1006)" : "connected", url: this.url, roots: [] };
  }
  disconnect() {
    this.onStatus("open", "closed", "closed by the application");
    this.listeners.clear();
    this.stores.clear();
    return Promise.resolve();
  }
  free() {
    this.freed = true;
  }
  emit() {
    for (const { listener } of [...this.listeners.values()]) listener();
  }
}

/** What the wasm side's `rawError(kind)` builds (the messages live in Rust). */
const rawError = (kind) =>
  kind === "unmounted"
    ? { name: "Error", message: "Store is not connected (its root was unmounted)", kind }
    : { name: "Error", message: "Disconnected", kind: "disconnected" };
const api = () =>
  createApi(async () => ({ RawConnection: FakeRaw, rawError, rawStats: () => ({ liveHandles: FakeRaw.last?.listeners.size ?? 0 }) }));

// Node is no browser: connect() refuses it at once (tested first, below). The other tests stand
// in for a page: a `window` and a `WebSocket` constructor are what connect() checks for.
const NOT_A_BROWSER = "musubi-wasm needs a browser (WebSocket); on the server render from a snapshot";
function pretendBrowser() {
  globalThis.window = globalThis;
  globalThis.location = new URL("http://127.0.0.1:5173/app/");
  globalThis.WebSocket ??= class {};
}

test("connect() outside a browser throws at once, naming the fix; importing never throws", async () => {
  assert.equal(typeof globalThis.window, "undefined");
  const { connect } = api();
  assert.throws(() => connect("/socket"), { message: NOT_A_BROWSER }, "thrown synchronously, not a rejection");
  assert.equal(FakeRaw.last, undefined, "nothing was created");
  pretendBrowser();
});

test("waitForJoin: false resolves before the join; the join goes on", async () => {
  const { connect } = api();
  const connection = await connect("/socket", { hang: true, waitForJoin: false, diagnostics: false });
  assert.equal(FakeRaw.last.freed, false);
  const { store } = await connection.mountStore({ module: "M", id: "r" });
  assert.deepEqual(FakeRaw.last.mounted, { module: "M", id: "r", params: undefined }, "a root mounted before the join is handed on");
  assert.ok(store);
  await assert.rejects(connect("/socket", { waitForJoin: "no" }), TypeError);
  await assert.rejects(connect("/socket", { diagnostics: 1 }), TypeError);
  await connection.disconnect();
});

test("development builds warn once when the connection has not joined after 5 s", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const warnings = [];
  t.mock.method(console, "warn", (message) => warnings.push(message));
  const { connect } = api();
  const silenced = await connect("/quiet", { hang: true, waitForJoin: false, diagnostics: false });
  const connection = await connect("/socket", { hang: true, waitForJoin: false });
  const joined = await connect("/joined", { waitForJoin: false });
  t.mock.timers.tick(4_999);
  assert.deepEqual(warnings, []);
  t.mock.timers.tick(1);
  await Promise.resolve();
  assert.equal(warnings.length, 1, "once, for the connection that never joined");
  assert.match(warnings[0], /not connected after 5 s to ws:\/\/127\.0\.0\.1:5173\/socket\/websocket \(status "reconnecting", connection lost \(code 1006\)\)/);
  assert.match(warnings[0], /proxy WebSocket upgrades of "\/socket"/);
  assert.ok(warnings[0].includes('Next.js: rewrites() [{ source: "/socket/:path*", destination: "http://127.0.0.1:4000/socket/:path*" }]'), warnings[0]);
  assert.match(warnings[0], /server is not running/);
  t.mock.timers.tick(60_000);
  assert.equal(warnings.length, 1, "never again");
  await Promise.all([silenced.disconnect(), connection.disconnect(), joined.disconnect()]);
});

test("MusubiCommandError keeps the reference fields, message and name-based is()", () => {
  const failed = new MusubiCommandError({ kind: "failed", command: "save", storeId: ["cart"], reply: { code: "invalid", reason: "x" } });
  assert.equal(failed.name, "MusubiCommandError");
  assert.equal(failed.message, 'Command "save" failed: invalid');
  assert.deepEqual([failed.kind, failed.command, failed.code], ["failed", "save", "invalid"]);
  assert.deepEqual(failed.storeId, ["cart"]);
  assert.ok(failed instanceof Error && MusubiCommandError.is(failed));
  const timeout = new MusubiCommandError({ kind: "timeout", command: "save", storeId: [], cause: "slow" });
  assert.equal(timeout.message, 'Command "save" timed out');
  assert.equal(timeout.code, undefined);
  assert.equal(timeout.cause, "slow");
  assert.equal(new MusubiCommandError({ kind: "failed", command: "x", storeId: [], reply: { a: 1 } }).message, 'Command "x" failed: {"a":1}');
  assert.equal(new MusubiCommandError({ kind: "failed", command: "x", storeId: [], reply: { code: 5, error: "e" } }).code, "e");
  const lookalike = Object.assign(new Error("x"), { name: "MusubiCommandError" });
  assert.ok(MusubiCommandError.is(lookalike), "name-based, works across bundles");
  assert.ok(!MusubiCommandError.is({ name: "MusubiCommandError" }), "must be an Error");
  assert.ok(!MusubiCommandError.is(new Error("x")));
});

test("toError maps wasm rejections to stable errors, complete as the wasm side built them", () => {
  const error = toError({ name: "Error", message: "Unmounted", kind: "unmounted" });
  assert.ok(error instanceof Error);
  assert.equal(error.message, "Unmounted");
  assert.equal(error.kind, "unmounted");
  const command = toError({ name: "MusubiCommandError", message: "Command \"x\" failed: built in rust", kind: "failed", code: "c", command: "x", storeId: [], reply: { code: "other" } });
  assert.ok(MusubiCommandError.is(command));
  assert.equal(command.message, 'Command "x" failed: built in rust', "the message is taken, not derived again");
  assert.equal(command.code, "c", "the code is taken, not derived again");
  const mountFailed = toError({ name: "Error", message: "Root mount failed: {}", reply: { reason: "unknown root" } });
  assert.deepEqual(mountFailed.reply, { reason: "unknown root" });
  const same = new TypeError("t");
  assert.equal(toError(same), same);
  assert.equal(toError("weird").message, "weird");
});

test("connect resolves after the join; status listeners see changes; bad urls throw", async () => {
  const { connect } = api();
  await assert.rejects(connect(""), TypeError);
  const connection = await connect("/socket", { topic: "t" });
  assert.equal(FakeRaw.last.options.topic, "t");
  assert.equal(connection.status, "open");
  const seen = [];
  const off = connection.onStatusChange((change) => seen.push(change));
  const throwing = connection.onStatusChange(() => {
    throw new Error("listener bug");
  });
  const reported = [];
  const original = globalThis.reportError;
  globalThis.reportError = (e) => reported.push(e.message);
  FakeRaw.last.onStatus("open", "reconnecting", "connection lost (code 1006)");
  globalThis.reportError = original;
  assert.deepEqual(seen, [{ from: "open", to: "reconnecting", reason: "connection lost (code 1006)" }]);
  assert.ok(Object.isFrozen(seen[0]));
  assert.deepEqual(reported, ["listener bug"], "a throwing listener is reported, the others still run");
  off();
  throwing();
  FakeRaw.last.onStatus("reconnecting", "open", "connected");
  assert.equal(seen.length, 1, "unsubscribed");
  assert.throws(() => connection.onStatusChange("nope"), TypeError);
});

test("a failed join rejects connect and releases the connection", async () => {
  const { connect } = api();
  await assert.rejects(connect("/socket", { failConnect: true }), /Channel join failed/);
  assert.ok(FakeRaw.last.freed);
});

test("an AbortSignal gives up connecting and releases the connection", async () => {
  const { connect } = api();
  const controller = new AbortController();
  const pending = connect("/socket", { hang: true, signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 10));
  controller.abort(new Error("gave up"));
  await assert.rejects(pending, { message: "gave up" });
  assert.ok(FakeRaw.last.freed, "released");
  await assert.rejects(connect("/socket", { signal: AbortSignal.abort() }), { name: "AbortError" });
  await assert.rejects(connect("/socket", { signal: "nope" }), TypeError);
  // (AbortSignal.timeout's timer does not keep node's event loop alive, so drive a controller.)
  const later = new AbortController();
  setTimeout(() => later.abort(new DOMException("timed out", "TimeoutError")), 20);
  const timed = await connect("/socket", { hang: true, signal: later.signal }).catch((error) => error);
  assert.equal(timed.name, "TimeoutError");
});

test("store functions work unbound (useSyncExternalStore) and commands map errors", async () => {
  const { connect } = api();
  const connection = await connect("/socket");
  const { store, unmount } = await connection.mountStore({ module: "M", id: "r", params: { a: 1 } });
  assert.deepEqual(FakeRaw.last.mounted, { module: "M", id: "r", params: { a: 1 } });
  const { snapshot, subscribe, dispatchCommand } = store;
  assert.equal(snapshot(), snapshot(), "identical until changed");
  assert.equal(snapshot().count, 1);
  assert.deepEqual(store.storeId, []);
  let calls = 0;
  const unsubscribe = subscribe(() => calls++);
  FakeRaw.last.emit();
  assert.equal(calls, 1);
  assert.deepEqual(await dispatchCommand("inc", { by: 2 }), { ok: true, payload: { by: 2 } });
  const failed = await dispatchCommand("fail").catch((e) => e);
  assert.ok(MusubiCommandError.is(failed) && failed instanceof MusubiCommandError);
  assert.equal(failed.code, "nope");
  const late = await dispatchCommand("late").catch((e) => e);
  assert.deepEqual([late.kind, late.storeId], ["timeout", ["a"]]);
  await assert.rejects(dispatchCommand("gone"), { message: "Version mismatch" });
  await assert.rejects(dispatchCommand(""), TypeError);
  unsubscribe();
  unsubscribe();
  assert.equal(FakeRaw.last.listeners.size, 0);
  await unmount();
});

test("child stores accept an id or a child snapshot and validate ids", async () => {
  const { connect } = api();
  const connection = await connect("/socket");
  const { store } = await connection.mountStore({ module: "M", id: "r" });
  const card = store.child(["cards", "7"]);
  assert.deepEqual(card.storeId, ["cards", "7"]);
  const again = store.child({ __musubi_store_id__: ["cards", "8"] });
  assert.deepEqual(again.storeId, ["cards", "8"]);
  assert.throws(() => store.child([1]), TypeError);
  assert.throws(() => store.child("cards"), TypeError);
});

test("unmount releases listeners, is idempotent, and later calls fail with stable messages", async () => {
  const { connect } = api();
  const connection = await connect("/socket");
  const { store, unmount } = await connection.mountStore({ module: "M", id: "r" });
  const before = store.snapshot();
  store.subscribe(() => {});
  store.child(["c"]).subscribe(() => {});
  assert.equal(FakeRaw.last.listeners.size, 2);
  await Promise.all([unmount(), unmount()]);
  assert.equal(FakeRaw.last.listeners.size, 0);
  assert.equal(store.snapshot(), before, "the last snapshot stays readable");
  assert.equal(store.stale, false);
  // The reference message (PROTOCOL §4 item 12), with a typed kind.
  await assert.rejects(store.dispatchCommand("x"), { message: /^Store is not connected/, kind: "unmounted" });
  assert.equal(typeof store.subscribe(() => {}), "function", "subscribing after unmount is a no-op");
  assert.throws(() => store.child(["c"]), { message: /^Store is not connected/, kind: "unmounted" });
});

test("disconnect releases everything once and later calls are rejected", async () => {
  const { connect, debugStats } = api();
  const connection = await connect("/socket");
  const { store } = await connection.mountStore({ module: "M", id: "r" });
  store.subscribe(() => {});
  const statuses = [];
  connection.onStatusChange(({ to }) => statuses.push(to));
  await Promise.all([connection.disconnect(), connection.disconnect()]);
  assert.ok(FakeRaw.last.freed);
  assert.deepEqual(statuses, ["closed"]);
  assert.equal(connection.status, "closed");
  assert.equal(connection.info().status, "closed");
  assert.equal(debugStats().liveHandles, 0);
  await assert.rejects(store.dispatchCommand("x"), { message: "Disconnected", kind: "disconnected" });
  await assert.rejects(connection.mountStore({ module: "M", id: "r" }), { message: "Disconnected", kind: "disconnected" });
});

test("mountStore validates its options", async () => {
  const { connect } = api();
  const connection = await connect("/socket");
  await assert.rejects(connection.mountStore({ module: "", id: "r" }), TypeError);
  await assert.rejects(connection.mountStore({ module: "M" }), TypeError);
  await assert.rejects(connection.mountStore({ module: "M", id: "r", params: [1] }), TypeError);
});

test("debugStats is all zeros before the module loads", () => {
  const { debugStats } = createApi(async () => ({}));
  assert.deepEqual(debugStats(), {
    memoryBytes: 0, liveHandles: 0, connections: 0, mounts: 0, stores: 0, subscriptions: 0, uploads: 0, cachedObjects: 0, heldFiles: 0,
  });
});

test("a trap inside the module turns the status closed with the reason, once, and later calls fail cleanly", async () => {
  const { connect } = api();
  const connection = await connect("/socket");
  const { store } = await connection.mountStore({ module: "M", id: "r" });
  const good = store.snapshot();
  const seen = [];
  connection.onStatusChange((change) => seen.push(change));
  FakeRaw.last.snapshot = () => {
    throw new WebAssembly.RuntimeError("unreachable");
  };
  assert.equal(store.snapshot(), good, "the UI keeps the last good state");
  assert.equal(store.stale, true);
  assert.equal(seen.length, 1);
  assert.deepEqual([seen[0].from, seen[0].to], ["open", "closed"]);
  assert.match(seen[0].reason, /reload the page/);
  assert.equal(connection.status, "closed");
  assert.equal(connection.info().status, "closed");
  await assert.rejects(store.dispatchCommand("x"), { kind: "module_failed", message: /client module failed \(unreachable\); reload the page/ });
  assert.throws(() => store.subscribe(() => {}) && store.child(["c"]), { kind: "module_failed" });
  assert.equal(seen.length, 1, "reported once");
  await connection.disconnect();
});

test("store.onEvent delivers payloads, validates its arguments and unsubscribes once", async () => {
  const { connect } = api();
  const connection = await connect("/socket");
  const { store, unmount } = await connection.mountStore({ module: "M", id: "r" });
  const raw = FakeRaw.last;
  raw.on_event = (storeNumber, name, listener) => raw.subscribe(storeNumber, listener);
  const seen = [];
  const off = store.onEvent("toast", (payload) => seen.push(payload));
  for (const { listener } of raw.listeners.values()) listener({ text: "saved" });
  assert.deepEqual(seen, [{ text: "saved" }]);
  assert.throws(() => store.onEvent("", () => {}), TypeError);
  assert.throws(() => store.onEvent("toast", "nope"), TypeError);
  off();
  off();
  assert.equal(raw.listeners.size, 0);
  await unmount();
  assert.equal(typeof store.onEvent("toast", () => {}), "function", "after unmount: a no-op");
});

test("store.upload returns one handle per name whose bound functions call the wasm side and map errors", async () => {
  const { connect, debugStats } = api();
  const connection = await connect("/socket");
  const { store, unmount } = await connection.mountStore({ module: "M", id: "r" });
  const raw = FakeRaw.last;
  const avatar = store.upload("avatar");
  assert.equal(store.upload("avatar"), avatar, "identity-stable");
  assert.equal(store.upload({ __musubi_upload__: "avatar" }), avatar, "an upload marker names it too");
  assert.notEqual(store.upload("document"), avatar);
  assert.ok(Object.isFrozen(avatar));
  assert.deepEqual([avatar.name, avatar.storeId], ["avatar", []]);
  assert.throws(() => store.upload(""), TypeError);
  assert.throws(() => store.upload(7), TypeError);
  const { snapshot, subscribe, select, start, cancel, reset } = avatar;
  assert.equal(snapshot(), snapshot(), "identical until changed");
  assert.equal(snapshot().status, "idle");
  let calls = 0;
  const off = subscribe(() => calls++);
  raw.emit();
  assert.equal(calls, 1);
  off();
  off();
  assert.equal(raw.listeners.size, 0);
  assert.throws(() => subscribe("nope"), TypeError);
  const file = new File(["x"], "me.png", { type: "image/png" });
  assert.deepEqual(await select([file]), [{ ref: "u1" }]);
  await assert.rejects(select("me.png"), TypeError);
  await assert.rejects(select([file, "x"]), TypeError);
  await assert.rejects(start(), (error) => error instanceof Error && error.kind === "not_connected" && error.message === "Store is not connected");
  assert.equal(await cancel("u1"), undefined);
  assert.equal(await cancel(), undefined);
  await assert.rejects(cancel(5), TypeError);
  assert.equal(await reset(), undefined);
  const number = raw.uploads.get(`${[...raw.stores.keys()][0]}/avatar`);
  assert.deepEqual(raw.calls, [["select", number, 1], ["start", number], ["cancel", number, "u1"], ["cancel", number, undefined], ["reset", number]]);
  assert.equal(debugStats().heldFiles, 3, "summed over the live connections");
  const before = snapshot();
  await unmount();
  assert.equal(snapshot(), before, "the last snapshot stays readable");
  await assert.rejects(start(), { kind: "unmounted" });
  await assert.rejects(select([file]), { kind: "unmounted" });
  assert.equal(typeof subscribe(() => {}), "function", "subscribing after unmount is a no-op");
  assert.throws(() => store.upload("avatar"), { kind: "unmounted" });
  await connection.disconnect();
  assert.equal(debugStats().heldFiles, 0, "a disconnected connection is no longer counted");
});

test("an upload handle of a disconnected connection rejects with Disconnected", async () => {
  const { connect } = api();
  const connection = await connect("/socket");
  const { store } = await connection.mountStore({ module: "M", id: "r" });
  const avatar = store.upload("avatar");
  await connection.disconnect();
  await assert.rejects(avatar.start(), { message: "Disconnected", kind: "disconnected" });
  await assert.rejects(avatar.reset(), { kind: "disconnected" });
  assert.equal(avatar.snapshot().status, "idle");
  assert.throws(() => store.upload("avatar"), { kind: "disconnected" });
});
