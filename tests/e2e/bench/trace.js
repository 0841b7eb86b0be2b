// The benchmark trace, run inside the page (served to it by trace-bench.test.mjs). A scripted
// stand-in replaces `globalThis.WebSocket`: it answers the Phoenix v2 joins, `mount` and `unmount`
// of the Musubi 0.6.1 connection channel, and feeds pre-built envelope frames through the
// socket's `onmessage`, exactly as a browser delivers a text frame. Every client under test gets
// identical frames (only the join_ref, which the client picks, differs).
//
// The trace: a root `{__musubi_store_id__: [], title, groups}` with 10 child stores
// `{__musubi_store_id__: ["g<k>"], name, items: [{id, v, label} × leaves/10]}`. Envelope k is one
// `replace /groups/<k mod 10>/items/<k mod per>/v` with value k (base_version k, version k + 1).

const TOPIC = "musubi:connection";
const GROUPS = 10;

/** The initial wire tree of `leaves` leaves. */
export function traceTree(leaves) {
  const per = leaves / GROUPS;
  const groups = [];
  for (let g = 0; g < GROUPS; g++) {
    const items = [];
    for (let i = 0; i < per; i++) items.push({ id: `${g}-${i}`, v: 0, label: `item ${i}` });
    groups.push({ __musubi_store_id__: [`g${g}`], name: `group ${g}`, items });
  }
  return { __musubi_store_id__: [], title: "trace", groups };
}

/** Where envelope `k` writes, for a tree of `leaves` leaves. */
export const touched = (k, leaves) => ({ group: k % GROUPS, item: k % (leaves / GROUPS) });

function patchFrame(joinRef, rootId, baseVersion, ops) {
  const envelope = { type: "patch", root_id: rootId, base_version: baseVersion, version: baseVersion + 1, ops, stream_ops: [], upload_ops: [] };
  return JSON.stringify([joinRef, null, TOPIC, "patch", envelope]);
}

/** The scripted server behind the stand-in sockets: one per page. */
export class TraceServer {
  constructor() {
    this.socket = null;
    this.roots = new Map();
    this.queue = [];
    this.channel = new MessageChannel();
    this.channel.port1.onmessage = () => {
      const frame = this.queue.shift();
      if (frame !== undefined) this.socket?.deliver(frame);
    };
  }

  /** Replaces `globalThis.WebSocket` with sockets answered by this server. */
  install() {
    const server = this;
    globalThis.WebSocket = class TraceSocket {
      static CONNECTING = 0;
      static OPEN = 1;
      static CLOSING = 2;
      static CLOSED = 3;
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.binaryType = "blob";
        this.protocol = "";
        this.bufferedAmount = 0;
        this.onopen = this.onmessage = this.onclose = this.onerror = null;
        server.socket = this;
        setTimeout(() => {
          this.readyState = 1;
          this.onopen?.(new Event("open"));
        }, 0);
      }
      send(text) {
        server.receive(String(text));
      }
      close(code = 1000, reason = "") {
        if (this.readyState === 3) return;
        this.readyState = 3;
        if (server.socket === this) server.socket = null;
        setTimeout(() => this.onclose?.(new CloseEvent("close", { code, reason, wasClean: true })), 0);
      }
      deliver(text) {
        if (this.readyState === 1) this.onmessage?.(new MessageEvent("message", { data: text }));
      }
    };
  }

  /** Sends `frame` from the server as its own task, after everything queued before it. */
  push(frame) {
    this.queue.push(frame);
    this.channel.port2.postMessage(null);
  }

  receive(text) {
    const [joinRef, ref, topic, event, payload] = JSON.parse(text);
    const reply = (response) => this.push(JSON.stringify([joinRef, ref, topic, "phx_reply", { status: "ok", response }]));
    if (event === "phx_join") {
      this.joinRef = joinRef;
      reply({});
    } else if (event === "mount") {
      const root = this.roots.get(payload.id);
      reply({ root_id: payload.id });
      if (root) this.push(root.initial);
    } else {
      reply({});
    }
  }

  /** Pre-builds the initial frame and `envelopes` patch frames of root `rootId` (call once joined). */
  prepare(rootId, leaves, envelopes) {
    const opsLists = [];
    for (let k = 1; k <= envelopes; k++) {
      const { group, item } = touched(k, leaves);
      opsLists.push([{ op: "replace", path: `/groups/${group}/items/${item}/v`, value: k }]);
    }
    return this.script(rootId, traceTree(leaves), opsLists);
  }

  /** Pre-builds the frames of root `rootId`: its initial `tree`, then one envelope per list of ops. */
  script(rootId, tree, opsLists) {
    const initial = patchFrame(this.joinRef, rootId, 0, [{ op: "replace", path: "", value: tree }]);
    const frames = opsLists.map((ops, k) => patchFrame(this.joinRef, rootId, k + 1, ops));
    this.roots.set(rootId, { initial, frames });
    return frames;
  }

  /** Delivers `frame` now, inside the caller's task, as the browser's message path would. */
  deliverNow(frame) {
    this.socket?.deliver(frame);
  }
}

/** Installs a scripted server in place of `WebSocket` and connects `connect(url)` through it. */
export async function connectScripted(connect) {
  const server = new TraceServer();
  server.install();
  return { server, connection: await connect("/socket") };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)];
};

/**
 * Runs the trace against one client through its adapter:
 * `connect(url) → connection`, `connection.mountStore({module, id, params}) → {store, unmount}`,
 * `store.child(id)`, `store.subscribe(cb) → off`, `store.snapshot()`, `connection.disconnect()`.
 * Returns one row per size, times in microseconds (mount and first read in milliseconds).
 */
export async function runTrace(client, { sizes, envelopesPerCase, mountSamples = 3 }) {
  const { server, connection } = await connectScripted(client.connect);
  const rows = [];
  // A first, unrecorded pass (1k leaves, 3 × 500 envelopes) warms the JIT and V8's wasm tier-up
  // (Liftoff → TurboFan) up, so what is recorded is the steady state of a running page.
  const passes = [{ leaves: 1000, perCase: 6000, warmup: true }, ...sizes.map((leaves) => ({ leaves, perCase: envelopesPerCase, warmup: false }))];
  for (const { leaves, perCase, warmup } of passes) {
    const rootId = warmup ? "trace-warmup" : `trace-${leaves}`;
    const frames = server.prepare(rootId, leaves, 3 * perCase);
    // Mount and first read: the median of `mountSamples` mounts of the same state (each
    // unmounted again) and the mount the cases run on.
    const mounts = [];
    const firstReads = [];
    const mountAndRead = async () => {
      const mountStarted = performance.now();
      const mounted = await connection.mountStore({ module: "Bench.Trace", id: rootId, params: {} });
      mounts.push(performance.now() - mountStarted);
      const readStarted = performance.now();
      mounted.store.snapshot();
      firstReads.push(performance.now() - readStarted);
      return mounted;
    };
    for (let sample = 0; sample < (warmup ? 1 : mountSamples); sample++) await (await mountAndRead()).unmount();
    const { store: root, unmount } = await mountAndRead();
    const mountMs = median(mounts);
    const firstSnapshotMs = median(firstReads);
    const g0 = root.child(["g0"]);
    let lastCallbackEnd = 0;
    let next = 0;
    // Checked outside the timed part of case (b): after an envelope that touches g0, its items
    // array is a new frozen array in which only the touched item is a new object.
    // The first read built the whole tree at once: its child stores and items are the objects
    // the stores' own snapshots return, and everything is frozen.
    const first = root.snapshot();
    let identityKept = g0.snapshot() === first.groups[0] && Object.isFrozen(first) && Object.isFrozen(first.groups[0].items) && Object.isFrozen(first.groups[0].items[0]);
    const checkIdentity = (before, item) => {
      const after = g0.snapshot().items;
      const other = item === 0 ? 1 : item - 1;
      identityKept &&= after !== before && Object.isFrozen(after) && after.length === before.length && after[item] !== before[item] && after[other] === before[other];
    };
    const runCase = async (listeners, { checked = false } = {}) => {
      const offs = listeners.map(([store, listener]) => store.subscribe(() => {
        listener();
        lastCallbackEnd = performance.now();
      }));
      const all = [];
      const onG0 = [];
      for (let n = 0; n < perCase; n++) {
        const k = next + 1;
        const frame = frames[next++];
        const touchesG0 = touched(k, leaves).group === 0;
        const itemsBefore = checked && touchesG0 ? g0.snapshot().items : undefined;
        lastCallbackEnd = 0;
        const started = performance.now();
        server.deliverNow(frame);
        const delivered = performance.now();
        await Promise.resolve();
        const micros = (Math.max(delivered, lastCallbackEnd) - started) * 1000;
        all.push(micros);
        if (touchesG0) onG0.push(micros);
        if (itemsBefore !== undefined) checkIdentity(itemsBefore, touched(k, leaves).item);
      }
      for (const off of offs) off();
      return { all: median(all), g0: median(onG0) };
    };
    const noop = () => {};
    const a = await runCase([[g0, noop]]);
    const b = await runCase([[g0, () => g0.snapshot()]], { checked: true });
    const c = await runCase([[g0, () => g0.snapshot()], [root, () => root.snapshot()]]);
    const last = next;
    const lastG0 = Math.floor(last / GROUPS) * GROUPS;
    const applied = g0.snapshot().items[touched(lastG0, leaves).item].v === lastG0;
    if (!warmup) rows.push({ leaves, mountMs, firstSnapshotMs, a, b, c, applied, identityKept });
    await unmount();
  }
  await connection.disconnect();
  return rows;
}
