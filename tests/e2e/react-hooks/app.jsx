// The page of tests/e2e/react-hooks.test.mjs: every case renders under <StrictMode> (double
// render, double effects) and is picked by `?case=`; `?run=` makes its root ids unique. The test
// bundles this file with esbuild (react, react-dom and the package included). What the tests read
// is in the DOM or on `window.page`.
import { Component, StrictMode, Suspense, useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { connect, debugStats } from "musubi-wasm";
import { MusubiProvider, useCommand, useConnection, useConnectionStatus, useEvent, useRoot, useStore, useUpload } from "musubi-wasm/react";

const query = new URLSearchParams(location.search);
const which = query.get("case") ?? "counter";
const run = query.get("run") ?? Math.random().toString(36).slice(2, 8);

const page = {
  log: [],
  statuses: [],
  boxes: 0,
  progress: [],
  stats: () => ({ ...debugStats() }),
};
window.page = page;
const log = (line) => page.log.push(line);
// A command callback that throws is reported as uncaught (reportError): logged and kept off the console.
addEventListener("error", (event) => {
  if (!String(event.message).includes("on purpose")) return;
  log(`reported ${event.error?.message}`);
  event.preventDefault();
});

/** Shows a caught error as text (React reports it through `onCaughtError`, see the bottom). */
class Boundary extends Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }
  static getDerivedStateFromError(error) {
    return { error };
  }
  render() {
    if (this.state.error) return <p id={this.props.id}>{this.state.error.message}</p>;
    return this.props.children;
  }
}

function Status() {
  const status = useConnectionStatus();
  const connection = useConnection();
  useEffect(() => {
    page.statuses.push(status.status);
  }, [status]);
  return (
    <p>
      <span id="status">{status.status}</span> <span id="has-connection">{String(connection !== null)}</span>
    </p>
  );
}

function Counter({ id }) {
  const root = useRoot("Demo.CounterStore", id);
  const count = useStore(root, undefined, (snapshot) => snapshot.count);
  const label = useStore(root, (snapshot) => snapshot.label);
  // A selector returning a new object on each call, kept stable by isEqual.
  const boxed = useStore(root, undefined, (snapshot) => ({ count: snapshot.count }), (a, b) => a.count === b.count);
  const renders = useRef(0);
  renders.current += 1;
  useEffect(() => {
    if (boxed !== undefined) page.boxes += 1;
  }, [boxed]);
  useEffect(() => {
    page.renders = renders.current;
  });
  // New callbacks every render: the latest are called, once per call.
  const increment = useCommand(root, "increment", { onSuccess: (reply, payload) => log(`increment onSuccess ${JSON.stringify(reply)} ${JSON.stringify(payload)}`) });
  const slow = useCommand(root, "slow", {
    onSuccess: () => {
      throw new Error("onSuccess threw on purpose");
    },
  });
  const fail = useCommand(root, "fail", { onError: (error, payload) => log(`fail onError ${error.name} ${error.code} ${JSON.stringify(payload)}`) });
  const unknown = useCommand(root, "no_such_command");
  const setLabel = useCommand(root, "set_label");
  const [toast, setToast] = useState("");
  // A new callback every render: must not resubscribe (each event once).
  useEvent(root, "toast", (payload) => {
    log(`toast ${payload.text}`);
    setToast(payload.text);
  });
  const [draft, setDraft] = useState("");
  return (
    <section id="counter" className={root.stale ? "stale" : ""}>
      <p>
        root <span id="root-status">{root.status}</span> store <span id="has-store">{String(root.store !== null)}</span>
      </p>
      <p>
        <span id="label">{label}</span>: <span id="count">{count}</span> <span id="boxed">{boxed?.count}</span>
      </p>
      <button id="increment" onClick={() => increment.dispatch({ by: 1 })}>+1</button>
      <button id="slow" onClick={() => slow.dispatch({ ms: 500 }).then((reply) => log(`slow resolved ${JSON.stringify(reply)}`))}>slow</button>
      <span id="slow-pending">{String(slow.pending)}</span> <span id="slow-data">{JSON.stringify(slow.data) ?? "none"}</span>
      <button id="fail" onClick={() => fail.dispatch().then((reply) => log(`fail dispatch resolved ${String(reply)}`))}>fail</button>
      <button
        id="fail-async"
        onClick={() =>
          fail.dispatchAsync().then(
            () => log("fail dispatchAsync resolved"),
            (error) => log(`fail dispatchAsync rejected ${error.name} ${error.code}`),
          )
        }
      >
        fail async
      </button>
      <button id="fail-reset" onClick={() => fail.reset()}>reset</button>
      <span id="fail-pending">{String(fail.pending)}</span> <span id="fail-error">{fail.error ? `${fail.error.name}: ${fail.error.message}` : "none"}</span>
      <button id="unknown" onClick={() => unknown.dispatchAsync().catch((error) => log(`unknown rejected ${error.message}`))}>unknown</button>
      <span id="unknown-error">{unknown.error?.message ?? "none"}</span>
      <input id="label-input" value={draft} onChange={(event) => setDraft(event.target.value)} />
      <button id="set-label" onClick={() => setLabel.dispatch({ label: draft })}>set label</button>
      <span id="toast">{toast}</span> <span id="queued">{increment.queued}</span>
    </section>
  );
}

/** Commands and uploads called before the root is mounted (the first effect runs before any mount resolves). */
function Early({ id }) {
  const root = useRoot("Demo.CounterStore", id);
  const increment = useCommand(root, "increment", { onError: (error, payload) => log(`early onError ${error.kind} ${JSON.stringify(payload)}`) });
  const upload = useUpload(root, "avatar");
  useEffect(() => {
    increment.dispatchAsync({ by: 1 }).catch((error) => log(`early dispatchAsync ${error.kind}: ${error.message}`));
    increment.dispatch({ by: 1 }).then((reply) => log(`early dispatch resolved ${String(reply)}`));
    upload.start().catch((error) => log(`early upload ${error.kind}`));
    // Only the first (StrictMode runs it twice).
  }, []);
  return <p id="early-error">{increment.error?.kind ?? "none"}</p>;
}

function Board({ id }) {
  const root = useRoot("Demo.BoardStore", id);
  const cards = useStore(root, undefined, (snapshot) => snapshot.cards);
  const addCard = useCommand(root, "add_card");
  return (
    <section id="board">
      <ul id="cards">{cards?.map((card) => <Card key={card.id} root={root} card={card} />)}</ul>
      <button id="add-card" onClick={() => addCard.dispatch({ title: "added" })}>add</button>
    </section>
  );
}

function Card({ root, card }) {
  // By child snapshot, by store id, and for commands.
  const snapshot = useStore(root, card);
  const title = useStore(root, card.__musubi_store_id__, (child) => child.title);
  const toggle = useCommand(root, "toggle", { storeId: card });
  const rename = useCommand(root, "rename", { storeId: card.__musubi_store_id__ });
  return (
    <li className={snapshot?.done ? "done" : "open"} data-id={card.id}>
      <span className="title">{title}</span>
      <button className="toggle" onClick={() => toggle.dispatch()}>toggle</button>
      <button className="rename" onClick={() => rename.dispatch({ title: `renamed ${card.id}` })}>rename</button>
    </li>
  );
}

function Profile({ id }) {
  const root = useRoot("Demo.ProfileStore", id);
  const avatar = useUpload(root, "avatar");
  const files = useStore(root, undefined, (snapshot) => snapshot.files);
  useEffect(() => {
    if (avatar.snapshot) page.progress.push(`${avatar.snapshot.status} ${avatar.snapshot.progress}`);
  }, [avatar.snapshot]);
  const pick = async (event) => {
    const entries = await avatar.select(event.target.files);
    log(`selected ${entries.length}`);
    await avatar.start();
    log("upload finished");
  };
  return (
    <section id="profile">
      <input id="avatar-input" type="file" onChange={pick} />
      <span id="has-handle">{String(avatar.handle !== null)}</span> <span id="upload-status">{avatar.snapshot?.status ?? "none"}</span>{" "}
      <span id="upload-progress">{avatar.snapshot?.progress ?? "none"}</span> <span id="files">{files?.map((file) => file.name).join(",")}</span>
    </section>
  );
}

function Fallback({ name }) {
  useEffect(() => {
    log(`fallback ${name}`);
  }, [name]);
  return <p id={`fallback-${name}`}>loading…</p>;
}

function SuspenseCounter({ id }) {
  const root = useRoot("Demo.CounterStore", id, { start: 7 }, { suspense: true });
  if (root.store === null) throw new Error("suspense mode rendered without a store");
  const count = useStore(root, undefined, (snapshot) => snapshot.count);
  return (
    <p>
      suspense <span id="suspense-count">{count}</span> <span id="suspense-status">{root.status}</span>
    </p>
  );
}

function SuspenseFailure({ id }) {
  const root = useRoot("Demo.NoSuchStore", id, undefined, { suspense: true });
  return <p id="suspense-failure-rendered">{root.status}</p>;
}

function Outside() {
  useConnectionStatus();
  return <p>unreachable</p>;
}

function LeakLeaf({ id, onLive }) {
  const root = useRoot("Demo.CounterStore", id);
  const count = useStore(root, undefined, (snapshot) => snapshot.count);
  const status = useConnectionStatus();
  useEffect(() => {
    if (root.status === "live" && typeof count === "number" && status.status === "open") onLive();
  }, [root.status, count, status, onLive]);
  return <p>{count}</p>;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const withTimeout = (promise, what, ms = 10_000) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))]);

/**
 * Mounts and unmounts a provider (with a root) `cycles` times. Even cycles wait past the release
 * delay (a real disconnect, then a new socket); odd ones remount at once (the socket is reused);
 * every fourth uses an option holding a function (a connection of that provider instance only).
 * While `page.keep()`'s provider is mounted, the others share its connection (but those fourth ones).
 */
page.leak = async (cycles, phase) => {
  const holder = document.getElementById("leak");
  const reactRoot = createRoot(holder, { onCaughtError: (error) => log(`caught ${error.message}`) });
  for (let i = 0; i < cycles; i++) {
    let live;
    const ready = new Promise((resolve) => (live = resolve));
    const options = i % 4 === 3 ? { diagnostics: false, logger: () => {} } : { diagnostics: false };
    reactRoot.render(
      <StrictMode>
        <MusubiProvider url="/socket" options={options}>
          <LeakLeaf id={`rh-${run}-leak-${phase}-${i}`} onLive={live} />
        </MusubiProvider>
      </StrictMode>,
    );
    await withTimeout(ready, `cycle ${i}`);
    reactRoot.render(<StrictMode>{null}</StrictMode>);
    if (i % 2 === 0) await sleep(120);
  }
  reactRoot.unmount();
};

/** One provider with a root, left mounted: `page.keep()` → resolves once live; `page.drop()` unmounts it. */
page.keep = async () => {
  const holder = document.getElementById("kept");
  const reactRoot = createRoot(holder);
  let live;
  const ready = new Promise((resolve) => (live = resolve));
  reactRoot.render(
    <StrictMode>
      <MusubiProvider url="/socket" options={{ diagnostics: false }}>
        <LeakLeaf id={`rh-${run}-kept`} onLive={live} />
      </MusubiProvider>
    </StrictMode>,
  );
  await withTimeout(ready, "kept root");
  page.drop = () => reactRoot.unmount();
};

/** A provider over an app-owned connection: unmounting it leaves the connection open. */
async function external(reactRoot) {
  const connection = await connect("/socket", { diagnostics: false });
  page.external = connection;
  reactRoot.render(
    <StrictMode>
      <MusubiProvider connection={connection}>
        <Status />
        <Counter id={`rh-${run}-external`} />
      </MusubiProvider>
    </StrictMode>,
  );
  page.unmountExternal = () => reactRoot.render(<StrictMode>{null}</StrictMode>);
}

const cases = {
  counter: () => (
    <MusubiProvider url="/socket">
      <Status />
      <Counter id={`rh-${run}-counter`} />
      <Early id={`rh-${run}-early`} />
    </MusubiProvider>
  ),
  board: () => (
    <MusubiProvider url="/socket">
      <Status />
      <Board id={`rh-${run}-board`} />
    </MusubiProvider>
  ),
  upload: () => (
    <MusubiProvider url="/socket">
      <Status />
      <Profile id={`rh-${run}-profile`} />
    </MusubiProvider>
  ),
  // The boundary above the provider: the suspended render opens the connection itself.
  "suspense-outer": () => (
    <Suspense fallback={<Fallback name="outer" />}>
      <MusubiProvider url="/socket">
        <Status />
        <SuspenseCounter id={`rh-${run}-suspense-outer`} />
      </MusubiProvider>
    </Suspense>
  ),
  // The boundary below the provider: it suspends on the provider's connection, then the mount.
  "suspense-inner": () => (
    <MusubiProvider url="/socket">
      <Status />
      <Suspense fallback={<Fallback name="inner" />}>
        <SuspenseCounter id={`rh-${run}-suspense-inner`} />
      </Suspense>
      <Boundary id="suspense-error">
        <Suspense fallback={<Fallback name="failure" />}>
          <SuspenseFailure id={`rh-${run}-suspense-failure`} />
        </Suspense>
      </Boundary>
    </MusubiProvider>
  ),
  outside: () => (
    <Boundary id="outside-error">
      <Outside />
    </Boundary>
  ),
  leak: () => <p id="leak-ready">ready</p>,
};

const reactRoot = createRoot(document.getElementById("app"), {
  // Errors a boundary caught are expected here: noted, not logged as console errors.
  onCaughtError: (error) => log(`caught ${error.message}`),
});
if (which === "external") {
  external(reactRoot).catch((error) => console.error(error));
} else {
  const Case = cases[which];
  reactRoot.render(<StrictMode>{Case()}</StrictMode>);
}
