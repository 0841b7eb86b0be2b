// The page of tests/e2e/react-bench.test.mjs (bundled by build.mjs around one client binding,
// React's production build, no StrictMode). Frames come from the scripted WebSocket stand-in of
// ../bench/trace.js; the tree is its trace tree (a root of 10 child stores holding the leaves).
//
// The binding ("bench-client": ours.js, or a reference bundle from reference-entry.js):
//   name; connect(url) → the client's own connection; Provider({ connection, children });
//   useRoot(module, id) → a root handle; isReady(handle); useSelected(handle, selector) and
//   useSnapshot(handle), called only once the handle is ready.
//
// How a commit is timed: a layout effect runs synchronously inside React's commit, after the DOM
// is updated (paint is not included). Mount: from `render()` of the provider to the layout effect
// of the first component showing data. Update: from handing the frame to the socket's `onmessage`
// to the layout effect of the row that shows the new value (or the whole-snapshot reader's, if
// later); after that one more task passes, so any later commit or render is counted too.
import { useCallback, useLayoutEffect } from "react";
import { createRoot } from "react-dom/client";
import * as client from "bench-client";
import { connectScripted, traceTree } from "../bench/trace.js";

const MODULE = "Bench.Trace";
const GROUPS = 10; // the trace tree's child stores
const ROWS = 100;
/** A warm-up pass before anything is recorded (JIT, wasm tier-up), as in trace.js. */
const WARMUP = { leaves: 1000, envelopes: 300, mounts: 2 };

/** What the components report to the measuring code. */
const probe = { rowRenders: 0, readerRenders: 0, readerCommitAt: 0, readerSnapshot: undefined, waiting: null };

/** The leaf row `row` shows in a tree of `leaves` leaves: rows are spread over every group. */
function rowLeaf(row, leaves) {
  const step = Math.max(1, Math.floor(leaves / GROUPS / (ROWS / GROUPS)));
  return { group: row % GROUPS, item: Math.floor(row / GROUPS) * step };
}

/** The value envelope `1..envelopes` leaves in row `row`: envelope k writes k into row (k - 1) mod ROWS. */
const expectedValue = (row, envelopes) => (row < envelopes ? row + 1 + ROWS * Math.floor((envelopes - 1 - row) / ROWS) : 0);

const nextTask = () =>
  new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout(promise, what, ms = 10_000) {
  let timer;
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${client.name}: ${what}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sorted = (values) => [...values].sort((a, b) => a - b);
const percentile = (values, p) => (values.length === 0 ? NaN : sorted(values)[Math.min(values.length - 1, Math.floor(values.length * p))]);
const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;

/** Renders `element` into a new container → `unmount()`. */
function mountReact(element) {
  const container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  root.render(element);
  return {
    container,
    unmount() {
      root.unmount();
      container.remove();
    },
  };
}

// ---- Components ----------------------------------------------------------------------------

/** One leaf through the selector hook; its layout effect resolves the envelope being waited for. */
function Row({ root, row, group, item }) {
  const select = useCallback((snapshot) => snapshot.groups[group].items[item].v, [group, item]);
  const value = client.useSelected(root, select);
  probe.rowRenders += 1;
  useLayoutEffect(() => {
    const waiting = probe.waiting;
    if (waiting !== null && waiting.row === row && waiting.value === value) waiting.resolve(performance.now());
  }, [row, value]);
  return <li data-row={row}>{value}</li>;
}

/** Reads the whole snapshot. */
function Reader({ root }) {
  const snapshot = client.useSnapshot(root);
  probe.readerRenders += 1;
  useLayoutEffect(() => {
    probe.readerCommitAt = performance.now();
    probe.readerSnapshot = snapshot;
  }, [snapshot]);
  return (
    <p>
      {snapshot.title}: {snapshot.groups.length} groups
    </p>
  );
}

function Ready({ onReady }) {
  useLayoutEffect(() => onReady(), [onReady]);
  return null;
}

/** The root, the whole-snapshot reader and ROWS rows. */
function Table({ rootId, leaves, onReady }) {
  const root = client.useRoot(MODULE, rootId);
  if (!client.isReady(root)) return null;
  const rows = [];
  for (let row = 0; row < ROWS; row++) rows.push(<Row key={row} root={root} row={row} {...rowLeaf(row, leaves)} />);
  return (
    <>
      <Reader root={root} />
      <ul>{rows}</ul>
      <Ready onReady={onReady} />
    </>
  );
}

/** Shows the first data of the root; the layout effect of that commit reports it. */
function Shown({ root, onShown }) {
  const snapshot = client.useSnapshot(root);
  const text = snapshot === undefined ? undefined : `${snapshot.groups.length} × ${snapshot.groups[0].items.length}`;
  useLayoutEffect(() => {
    if (text !== undefined) onShown(performance.now(), text);
  }, [text, onShown]);
  return <p>{text}</p>;
}

function MountProbe({ rootId, onShown }) {
  const root = client.useRoot(MODULE, rootId);
  return client.isReady(root) ? <Shown root={root} onShown={onShown} /> : null;
}

// ---- Measures ------------------------------------------------------------------------------

/** One mount of a `leaves`-leaf root through the hooks → { ms, text }. */
async function measureMount(session, leaves, rootId) {
  session.server.script(rootId, traceTree(leaves), []);
  globalThis.gc?.();
  let shown;
  const done = new Promise((resolve) => (shown = (at, text) => resolve({ at, text })));
  const started = performance.now();
  const app = mountReact(
    <client.Provider connection={session.connection}>
      <MountProbe rootId={rootId} onShown={shown} />
    </client.Provider>,
  );
  const { at, text } = await withTimeout(done, `mount of ${rootId} never showed data`);
  app.unmount();
  // Both clients release an unused root after a timer (ours 50 ms, the reference 0 ms).
  await sleep(150);
  return { ms: at - started, text };
}

/** `envelopes` one-leaf envelopes into a `leaves`-leaf root under ROWS rows and a reader. */
async function measureUpdates(session, leaves, envelopes, rootId) {
  const opsLists = [];
  for (let k = 1; k <= envelopes; k++) {
    const { group, item } = rowLeaf((k - 1) % ROWS, leaves);
    opsLists.push([{ op: "replace", path: `/groups/${group}/items/${item}/v`, value: k }]);
  }
  const frames = session.server.script(rootId, traceTree(leaves), opsLists);
  let ready;
  const rendered = new Promise((resolve) => (ready = resolve));
  const app = mountReact(
    <client.Provider connection={session.connection}>
      <Table rootId={rootId} leaves={leaves} onReady={ready} />
    </client.Provider>,
  );
  await withTimeout(rendered, `${rootId} never rendered its rows`);
  await nextTask();
  globalThis.gc?.();
  const totals = [];
  const delivers = [];
  const rowRenders = [];
  const readerRenders = [];
  for (let k = 1; k <= envelopes; k++) {
    const row = (k - 1) % ROWS;
    const committed = new Promise((resolve) => (probe.waiting = { row, value: k, resolve }));
    const rowsBefore = probe.rowRenders;
    const readerBefore = probe.readerRenders;
    probe.readerCommitAt = 0;
    const started = performance.now();
    session.server.deliverNow(frames[k - 1]);
    const delivered = performance.now();
    const rowCommitAt = await withTimeout(committed, `envelope ${k}: row ${row} never showed ${k}`);
    await nextTask();
    probe.waiting = null;
    totals.push((Math.max(rowCommitAt, probe.readerCommitAt) - started) * 1000);
    delivers.push((delivered - started) * 1000);
    rowRenders.push(probe.rowRenders - rowsBefore);
    readerRenders.push(probe.readerRenders - readerBefore);
  }
  const expected = Array.from({ length: ROWS }, (_, row) => expectedValue(row, envelopes));
  const shown = [...app.container.querySelectorAll("li")].map((item) => Number(item.textContent));
  const inSnapshot = expected.map((_, row) => {
    const { group, item } = rowLeaf(row, leaves);
    return probe.readerSnapshot.groups[group].items[item].v;
  });
  app.unmount();
  await sleep(150);
  return {
    medianUs: percentile(totals, 0.5),
    p95Us: percentile(totals, 0.95),
    deliverUs: percentile(delivers, 0.5),
    rowsPerEnvelope: mean(rowRenders),
    maxRows: Math.max(...rowRenders),
    readerPerEnvelope: mean(readerRenders),
    expected,
    shown,
    inSnapshot,
  };
}

/**
 * Runs both measures for every size (after a warm-up) → one row per size:
 * `{ leaves, mountMs (median), mountTexts, update }`.
 */
export async function run({ sizes, envelopes, mounts }) {
  const session = await connectScripted(client.connect);
  for (let sample = 0; sample < WARMUP.mounts; sample++) await measureMount(session, WARMUP.leaves, `warmup-mount-${sample}`);
  await measureUpdates(session, WARMUP.leaves, WARMUP.envelopes, "warmup-rows");
  const results = [];
  for (const leaves of sizes) {
    const samples = [];
    for (let sample = 0; sample < mounts; sample++) samples.push(await measureMount(session, leaves, `mount-${leaves}-${sample}`));
    const update = await measureUpdates(session, leaves, envelopes, `rows-${leaves}`);
    results.push({ leaves, mountMs: percentile(samples.map((sample) => sample.ms), 0.5), mountTexts: samples.map((sample) => sample.text), update });
  }
  await session.connection.disconnect();
  return results;
}
