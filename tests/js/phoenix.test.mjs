// phoenix.js (npm `phoenix`) against the Rust devserver: an independent check that the server
// speaks Phoenix Channels v2 the way the reference client expects (PROTOCOL.md §1).
//
// Run: node --test --test-concurrency=1 tests/js/
// Needs the devserver binary: `cargo build -p musubi-devserver`, or set MUSUBI_DEVSERVER_BIN.
// Node < 22 has no global WebSocket; the npm package `ws` is used then.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Socket } from "phoenix";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.resolve(ROOT, process.env.MUSUBI_DEVSERVER_BIN ?? "target/debug/musubi-devserver");
const IDLE_TIMEOUT_MS = 400;
const HEARTBEAT_MS = 100; // every socket must heartbeat well inside the server's idle timeout
const WebSocketImpl = globalThis.WebSocket ?? (await import("ws")).default;

let server;
let httpBase; // http://127.0.0.1:PORT
let endpoint; // ws://127.0.0.1:PORT/socket

before(async () => {
  server = spawn(BIN, ["--port", "0", "--test-endpoints", "--idle-timeout-ms", String(IDLE_TIMEOUT_MS)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: server.stdout });
  const line = await Promise.race([
    once(lines, "line").then(([first]) => first),
    once(server, "error").then(([error]) => Promise.reject(error)),
    once(server, "exit").then(([code]) => Promise.reject(new Error(`devserver exited with ${code} before listening`))),
    delay(10_000, { unref: true }).then(() => Promise.reject(new Error("devserver did not print its address in 10 s"))),
  ]);
  const match = /^listening on (http:\/\/\S+)$/.exec(line);
  assert.ok(match, `unexpected first line from the devserver: ${line}`);
  httpBase = match[1];
  endpoint = `${httpBase.replace(/^http/, "ws")}/socket`;
});

after(() => {
  server?.kill();
});

// Whatever happens, never leave the devserver running.
process.on("exit", () => server?.kill());

// ---- helpers ---------------------------------------------------------------------------------

function delay(ms, { unref = false } = {}) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (unref) timer.unref();
  });
}

async function waitFor(what, predicate, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/** A connected phoenix.js Socket, disconnected when the test ends. */
async function connect(t, opts = {}) {
  const socket = new Socket(endpoint, {
    transport: WebSocketImpl,
    heartbeatIntervalMs: HEARTBEAT_MS,
    rejoinAfterMs: () => 50,
    reconnectAfterMs: () => 20,
    timeout: 2000,
    ...opts,
  });
  t.after(() => socket.disconnect());
  socket.connect();
  await waitFor("the socket to open", () => socket.isConnected());
  return socket;
}

/** Resolves with {status, response} for ok and error; rejects on timeout. */
function settle(push, what) {
  return new Promise((resolve, reject) => {
    push
      .receive("ok", (response) => resolve({ status: "ok", response }))
      .receive("error", (response) => resolve({ status: "error", response }))
      .receive("timeout", () => reject(new Error(`${what} timed out`)));
  });
}

async function join(socket, topic, params = {}) {
  const channel = socket.channel(topic, params);
  const reply = await settle(channel.join(), `join ${topic}`);
  return { channel, reply };
}

function request(channel, event, payload = {}) {
  return settle(channel.push(event, payload), `push ${event}`);
}

function nextEvent(channel, event, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} on ${channel.topic}`)), timeoutMs);
    const ref = channel.on(event, (payload) => {
      clearTimeout(timer);
      channel.off(event, ref);
      resolve(payload);
    });
  });
}

async function testEndpoint(method, pathAndQuery) {
  const response = await fetch(`${httpBase}/_test/${pathAndQuery}`, { method });
  assert.equal(response.status, 200, `${method} /_test/${pathAndQuery}`);
  return response.json();
}

// ---- tests -----------------------------------------------------------------------------------

test("join replies with the topic, connect params and join payload", async (t) => {
  const socket = await connect(t, { params: { user: "alice" } });
  const { channel, reply } = await join(socket, "echo:join", { hello: "world" });
  assert.equal(reply.status, "ok");
  assert.deepEqual(reply.response, {
    topic: "echo:join",
    auth_token: null,
    params: { user: "alice" },
    payload: { hello: "world" },
  });
  assert.equal(channel.state, "joined");

  const rejected = socket.channel("echo:join-rejected", { reject: true });
  const refusal = await settle(rejected.join(), "rejected join");
  assert.deepEqual(refusal, { status: "error", response: { reason: "rejected" } });
  rejected.leave();
});

test("auth token travels in the subprotocol", async (t) => {
  const socket = await connect(t, { authToken: "user-42" });
  const { reply } = await join(socket, "echo:auth");
  assert.equal(reply.status, "ok");
  assert.equal(reply.response.auth_token, "user-42");
});

test("push replies reach the ok and error receive hooks", async (t) => {
  const socket = await connect(t);
  const { channel } = await join(socket, "echo:push");
  assert.deepEqual(await request(channel, "echo", { n: 1, list: [1, 2] }), { status: "ok", response: { n: 1, list: [1, 2] } });
  assert.deepEqual(await request(channel, "error", { reason: "nope" }), { status: "error", response: { reason: "nope" } });
  assert.deepEqual(await request(channel, "late", { ms: 50 }), { status: "ok", response: { ms: 50 } });

  const pushed = nextEvent(channel, "hello");
  assert.deepEqual(await request(channel, "push", { event: "hello", payload: { from: "server" } }), { status: "ok", response: {} });
  assert.deepEqual(await pushed, { from: "server" });
});

test("binary pushes and replies", async (t) => {
  const socket = await connect(t);
  const { channel } = await join(socket, "echo:binary");
  const bytes = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
  const reply = await request(channel, "upload", bytes.buffer);
  assert.equal(reply.status, "ok");
  assert.ok(reply.response instanceof ArrayBuffer, "binary reply is an ArrayBuffer");
  assert.deepEqual([...new Uint8Array(reply.response)], [0xde, 0xad, 0xbe, 0xef]);

  const blob = nextEvent(channel, "blob");
  await request(channel, "push_binary", { event: "blob", bytes: [1, 2, 3] });
  const payload = await blob;
  assert.ok(payload instanceof ArrayBuffer, "binary push is an ArrayBuffer");
  assert.deepEqual([...new Uint8Array(payload)], [1, 2, 3]);
});

test("broadcast reaches every socket that joined the topic", async (t) => {
  const first = await connect(t);
  const second = await connect(t);
  const { channel: sender } = await join(first, "echo:room");
  const { channel: listener } = await join(second, "echo:room");
  const heardBySender = nextEvent(sender, "news");
  const heardByListener = nextEvent(listener, "news");
  assert.deepEqual(await request(sender, "broadcast", { event: "news", payload: { v: 2 } }), { status: "ok", response: {} });
  assert.deepEqual(await heardByListener, { v: 2 });
  assert.deepEqual(await heardBySender, { v: 2 });
});

test("heartbeats keep the socket open past the idle timeout", async (t) => {
  const before = await testEndpoint("GET", "stats");
  let closes = 0;
  const socket = await connect(t);
  socket.onClose(() => closes++);
  const { channel } = await join(socket, "echo:heartbeat");
  await delay(1200); // three idle timeouts
  assert.equal(closes, 0, "the socket never closed");
  assert.ok(socket.isConnected());
  const after = await testEndpoint("GET", "stats");
  assert.ok(after.heartbeats - before.heartbeats >= 5, `heartbeats answered: ${after.heartbeats - before.heartbeats}`);
  assert.equal(after.connects - before.connects, 1, "no reconnect happened");
  assert.deepEqual(await request(channel, "echo", { still: "here" }), { status: "ok", response: { still: "here" } });
});

test("after /_test/drop the socket reconnects and the channel rejoins", async (t) => {
  const socket = await connect(t);
  const closeCodes = [];
  let opens = 0;
  socket.onClose((event) => closeCodes.push(event.code));
  socket.onOpen(() => opens++);
  const channel = socket.channel("echo:reconnect", { who: "me" });
  let joins = 0;
  let errors = 0;
  channel.onError(() => errors++);
  channel.join().receive("ok", () => joins++);
  await waitFor("the first join", () => joins === 1);

  const { dropped } = await testEndpoint("POST", "drop?code=4000");
  assert.ok(dropped >= 1, `dropped ${dropped}`);
  await waitFor("the close", () => closeCodes.length === 1);
  assert.deepEqual(closeCodes, [4000]);
  await waitFor("the rejoin", () => joins === 2 && channel.state === "joined");
  assert.equal(opens, 1, "one reconnect");
  assert.ok(errors >= 1, "the channel saw the transport error");
  assert.deepEqual(await request(channel, "echo", { after: "reconnect" }), { status: "ok", response: { after: "reconnect" } });
});

test("a crashed channel errors and rejoins", async (t) => {
  const socket = await connect(t);
  const channel = socket.channel("echo:crash");
  let joins = 0;
  let errors = 0;
  channel.onError(() => errors++);
  channel.join().receive("ok", () => joins++);
  await waitFor("the first join", () => joins === 1);
  assert.deepEqual(await testEndpoint("POST", "crash?topic=echo:crash"), { crashed: 1 });
  await waitFor("the channel error", () => errors === 1);
  await waitFor("the rejoin", () => joins === 2 && channel.state === "joined");
  assert.deepEqual(await request(channel, "echo", { n: 3 }), { status: "ok", response: { n: 3 } });
});

test("leave ends with phx_close", async (t) => {
  const socket = await connect(t);
  const { channel } = await join(socket, "echo:leave");
  let closed = false;
  channel.onClose(() => (closed = true));
  const reply = await settle(channel.leave(), "leave");
  assert.equal(reply.status, "ok");
  await waitFor("the channel to close", () => closed && channel.state === "closed");
});

test("per-root mode: join is mount, commands patch the root with push events, leave unmounts", async (t) => {
  const socket = await connect(t);
  const id = `js-${process.pid}-${Date.now()}`;
  const rootId = `Demo.CounterStore:${id}`;
  const channel = socket.channel(`musubi:connection:${rootId}`, { module: "Demo.CounterStore", id, params: {} });
  const patches = [];
  channel.on("patch", (envelope) => patches.push(envelope));
  const rootsBefore = (await testEndpoint("GET", "stats")).roots;

  const joined = await settle(channel.join(), "per-root join");
  assert.deepEqual(joined, { status: "ok", response: { root_id: rootId } });
  await waitFor("the initial envelope", () => patches.length === 1);
  assert.deepEqual(patches[0], {
    type: "patch",
    root_id: rootId,
    base_version: 0,
    version: 1,
    ops: [{ op: "replace", path: "", value: { __musubi_store_id__: [], count: 0, label: "Counter", log: { __musubi_stream__: "log" } } }],
    stream_ops: [],
    upload_ops: [],
    events: [],
  });
  assert.equal((await testEndpoint("GET", "stats")).roots, rootsBefore + 1);

  // The reply comes before the patch it causes.
  let patchesAtReply;
  const increment = channel.push("command", { name: "increment", payload: { by: 2 }, store_id: [] });
  increment.receive("ok", () => (patchesAtReply = patches.length));
  assert.deepEqual(await settle(increment, "increment"), { status: "ok", response: {} });
  assert.equal(patchesAtReply, 1, "no patch before the reply");
  await waitFor("the increment's envelope", () => patches.length === 2);
  const { ops, stream_ops, ...rest } = patches[1];
  assert.deepEqual(rest, { type: "patch", root_id: rootId, base_version: 1, version: 2, upload_ops: [], events: [] });
  assert.deepEqual(ops, [{ op: "replace", path: "/count", value: 2 }]);
  assert.equal(stream_ops.length, 1);

  const label = await request(channel, "command", { name: "set_label", payload: { label: "From JS" }, store_id: [] });
  assert.deepEqual(label, { status: "ok", response: {} });
  await waitFor("the set_label envelope", () => patches.length === 3);
  assert.deepEqual(patches[2].ops, [{ op: "replace", path: "/label", value: "From JS" }]);
  assert.deepEqual(patches[2].events, [{ store_id: [], name: "toast", payload: { text: "Label set to \u201cFrom JS\u201d" } }]);
  assert.deepEqual([patches[2].base_version, patches[2].version], [2, 3]);

  const unknown = await request(channel, "command", { name: "nope", payload: {}, store_id: [] });
  assert.deepEqual(unknown, { status: "error", response: { reason: "unknown command" } });

  assert.deepEqual(await settle(channel.leave(), "leave"), { status: "ok", response: {} });
  assert.equal(channel.state, "closed");
  // The server stops the root as the channel ends, right after its leave reply.
  let roots = Infinity;
  for (let tries = 0; tries < 100 && roots !== rootsBefore; tries++) {
    roots = (await testEndpoint("GET", "stats")).roots;
    if (roots !== rootsBefore) await delay(20);
  }
  assert.equal(roots, rootsBefore);
});

test("uploads: preflight, a binary chunk on musubi_upload:<ref>, then progress 100, phx_close and the complete op", async (t) => {
  const socket = await connect(t);
  const id = `js-upload-${process.pid}-${Date.now()}`;
  const rootId = `Demo.ProfileStore:${id}`;
  const root = socket.channel(`musubi:connection:${rootId}`, { module: "Demo.ProfileStore", id, params: {} });
  const patches = [];
  root.on("patch", (envelope) => patches.push(envelope));
  assert.deepEqual(await settle(root.join(), "profile join"), { status: "ok", response: { root_id: rootId } });
  await waitFor("the initial envelope", () => patches.length === 1);
  assert.deepEqual(
    patches[0].upload_ops.map((op) => [op.op, op.upload]),
    [["config", "avatar"], ["config", "document"], ["config", "archive"]],
  );
  const hasOp = (op, ref) => patches.find((envelope) => envelope.upload_ops.some((o) => o.op === op && o.ref === ref));

  const bytes = new Uint8Array(1000).map((_, i) => (i * 7 + 3) & 0xff);
  const entries = [{ client_ref: "0", name: "me.png", size: bytes.length, type: "image/png" }];
  const preflight = await request(root, "allow_upload", { name: "avatar", store_id: [], entries });
  assert.equal(preflight.status, "ok", JSON.stringify(preflight));
  assert.deepEqual(preflight.response.errors, []);
  const entry = preflight.response.entries["0"];
  assert.equal(entry.type, "channel");
  const ref = entry.entry_ref;
  await waitFor("the add op", () => hasOp("add", ref));

  const upload = socket.channel(`musubi_upload:${ref}`, { token: entry.token });
  let closed = false;
  upload.onClose(() => (closed = true));
  assert.deepEqual(await settle(upload.join(), "upload join"), { status: "ok", response: {} });
  // phoenix.js sends an ArrayBuffer payload as a binary frame (kind 0 push).
  assert.deepEqual(await request(upload, "chunk", bytes.buffer), { status: "ok", response: { progress: 100 } });
  await waitFor("the complete op", () => hasOp("complete", ref));
  await waitFor("the server to close the sub-channel", () => closed && upload.state === "closed");
  const done = hasOp("complete", ref);
  assert.deepEqual(done.ops.find((op) => op.path === "/avatar_url"), { op: "replace", path: "/avatar_url", value: `/_uploads/${ref}` });

  assert.equal((await testEndpoint("GET", `upload_sha256?ref=${ref}`)).size, bytes.length);
  const served = await fetch(`${httpBase}/_uploads/${ref}`);
  assert.equal(served.headers.get("content-type"), "image/png");
  assert.deepEqual(new Uint8Array(await served.arrayBuffer()), bytes);
  assert.deepEqual(await settle(root.leave(), "leave"), { status: "ok", response: {} });
});
