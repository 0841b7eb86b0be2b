// The React example, on the package's hooks (`musubi-wasm/react`): one <MusubiProvider> owns the
// connection; each panel mounts its root with `useRoot` and reads it with `useStore`, sends with
// `useCommand`, hears push events with `useEvent`, uploads with `useUpload`. Typed by the
// registry in stores.ts. Built by Vite (www/react/vite.config.ts, scripts/build-examples.sh).
//
// Query: `?wire=connection|per-root` picks the wire protocol (by default it is detected),
// `?uploadWindow=N` the chunks in flight per upload entry, `?profile=<id>` the profile's root id,
// `?offline=0` turns the outbox and the cache off.
import { StrictMode, Suspense, useCallback, useEffect, useState, type KeyboardEvent } from "react";
import { createRoot } from "react-dom/client";
import type { ChildSnapshot, ConnectOptions } from "musubi-wasm";
import { MusubiProvider, useCommand, useConnection, useConnectionStatus, useEvent, useRoot, useStore, type Root } from "musubi-wasm/react";
import { demoHttpUploader } from "../js/uploader.js";
import { Notes } from "./notes";
import { describe, ReportContext, useReport, useReportError, type Report } from "./problems";
import type { BoardSpec, CardSpec, CounterSpec } from "./stores";
import { Profile } from "./uploads";

const query = new URLSearchParams(location.search);
const wire = query.get("wire");
const offline = query.get("offline") !== "0";

/** Read once: the provider opens its connection with these (`waitForJoin: false` is its own). */
const options: ConnectOptions = {
  wire: wire === "connection" || wire === "per-root" ? wire : "auto",
  uploadWindow: query.has("uploadWindow") ? Number(query.get("uploadWindow")) : undefined,
  uploaders: { "demo-http": demoHttpUploader },
  // The outbox: clicks while the connection is down wait, and go out once it is back.
  outbox: offline,
  // The cache: after a reload the last state shows at once, marked "cached" until it is live.
  cache: offline,
};

/** Submits a text input on Enter. */
const onEnter = (submit: () => void) => (event: KeyboardEvent<HTMLInputElement>) => event.key === "Enter" && submit();

function StatusBadge() {
  const { status, reason } = useConnectionStatus();
  return <span id="status" className={`badge ${status}`} title={reason}>{status}</span>;
}

let eventCount = 0;

/** The last 50 status transitions, newest first (every one: `onStatusChange`, not the latest status). */
function StatusLog() {
  const connection = useConnection();
  const [events, setEvents] = useState<{ key: number; line: string }[]>([]);
  useEffect(
    () =>
      connection?.onStatusChange(({ from, to, reason }) => {
        const event = { key: ++eventCount, line: `${from} → ${to} (${reason})` };
        setEvents((list) => [event, ...list].slice(0, 50));
      }),
    [connection],
  );
  return <ul id="events">{events.map(({ key, line }) => <li key={key}>{line}</li>)}</ul>;
}

/** The latest toast (a push event), gone after four seconds. */
function useToast(root: Root<CounterSpec>) {
  const [toast, setToast] = useState<{ text: string; seq: number } | null>(null);
  useEvent(root, "toast", ({ text }) => setToast((last) => ({ text, seq: (last?.seq ?? 0) + 1 })));
  useEffect(() => {
    if (toast === null) return undefined;
    const timer = setTimeout(() => setToast(null), 4_000);
    return () => clearTimeout(timer);
  }, [toast]);
  return toast?.text;
}

function Counter() {
  const root = useRoot("Demo.CounterStore", "demo-counter");
  const counter = useStore(root);
  const report = useReport();
  const increment = useCommand(root, "increment", { onError: (error) => report("increment", error) });
  const setLabel = useCommand(root, "set_label", { onError: (error) => report("set_label", error) });
  useReportError("mount demo-counter", root.error);
  const toast = useToast(root);
  const [draft, setDraft] = useState("");
  const rename = () => {
    if (draft.trim()) void setLabel.dispatch({ label: draft.trim() });
    setDraft("");
  };
  // The store's outbox count (both commands target the root store, so either handle has it).
  const waiting = increment.queued;
  return (
    <section id="counter" className={root.stale ? "panel stale" : "panel"}>
      <h2 id="label">{counter?.label}</h2>
      <div className="row">
        <span id="count">{counter?.count}</span>
        <button id="increment" onClick={() => void increment.dispatch({ by: 1 })}>+1</button>
        <span id="waiting" className="waiting" data-testid="outbox-waiting">
          {waiting ? `${waiting} change${waiting === 1 ? "" : "s"} waiting` : ""}
        </span>
        <span id="counter-state" className="root-state" data-testid="counter-state">
          {root.status !== "live" && root.status !== "idle" ? root.status : ""}
        </span>
      </div>
      <div className="row">
        <input id="label-input" type="text" placeholder="New label" value={draft}
          onChange={(event) => setDraft(event.target.value)} onKeyDown={onEnter(rename)} />
        <button id="set-label" onClick={rename}>Rename</button>
      </div>
      {toast && <div id="toast" className="toast" role="status">{toast}</div>}
      <ul id="log">{(counter?.log ?? []).map((entry) => <li key={entry.id}>{entry.text}</li>)}</ul>
    </section>
  );
}

/** One card: its own child store (`["cards", id]`) read and commanded through the board's root. */
function Card({ root, card, onRemove }: { root: Root<BoardSpec>; card: ChildSnapshot<CardSpec>; onRemove: (id: string) => void }) {
  // The child store's snapshot (the parent's copy `card` until the child store's is there).
  const { id, title, done } = useStore(root, card) ?? card;
  const report = useReport();
  const toggle = useCommand(root, "toggle", { storeId: card, onError: (error) => report("toggle", error) });
  return (
    <li data-id={id} className={done ? "done" : ""}>
      <input type="checkbox" className="toggle" checked={done} disabled={toggle.pending} onChange={() => void toggle.dispatch()} />
      <span className="title">{title}</span>
      <button className="remove" title="Remove" onClick={() => onRemove(id)}>✕</button>
    </li>
  );
}

function Board() {
  const root = useRoot("Demo.BoardStore", "demo-board");
  const cards = useStore(root, (board) => board.cards);
  const stats = useStore(root, (board) => board.stats);
  const report = useReport();
  const addCard = useCommand(root, "add_card", { onError: (error) => report("add_card", error) });
  const removeCard = useCommand(root, "remove_card", { onError: (error) => report("remove_card", error) });
  useReportError("mount demo-board", root.error);
  const [draft, setDraft] = useState("");
  const add = () => {
    if (draft.trim()) void addCard.dispatch({ title: draft.trim() });
    setDraft("");
  };
  const remove = useCallback((id: string) => void removeCard.dispatch({ id }), [removeCard]);
  return (
    <section id="board" className={root.stale ? "panel stale" : "panel"}>
      <h2>
        Board <small id="stats">{stats?.status === "ok" ? `${stats.data?.cards} cards` : stats?.status}</small>
      </h2>
      <div className="row">
        <input id="card-input" type="text" placeholder="New card" value={draft}
          onChange={(event) => setDraft(event.target.value)} onKeyDown={onEnter(add)} />
        <button id="add-card" disabled={addCard.pending} onClick={add}>Add</button>
      </div>
      <ul id="cards">
        {(cards ?? []).map((card) => <Card key={card.id} root={root} card={card} onRemove={remove} />)}
      </ul>
    </section>
  );
}

function App() {
  const [problem, setProblem] = useState("");
  const report = useCallback<Report>((what, error) => setProblem(`${what} failed: ${describe(error)}`), []);
  const drop = () => fetch("/_test/drop?code=4000", { method: "POST" }).catch((error: unknown) => report("drop", error));
  return (
    <ReportContext value={report}>
      <div className="row">
        Connection <StatusBadge />
        <button id="drop" onClick={drop}>Drop connection</button>
      </div>
      {problem && <p id="problem">{problem}</p>}
      <div className="panels">
        <Counter />
        <Board />
      </div>
      <Profile id={query.get("profile") ?? "demo-profile"} />
      <Suspense fallback={null}>
        <Notes />
      </Suspense>
      <h2>Events</h2>
      <StatusLog />
    </ReportContext>
  );
}

const container = document.getElementById("app");
if (container === null) throw new Error("the page has no #app element");
createRoot(container).render(
  <StrictMode>
    <MusubiProvider url="/socket" options={options}>
      <App />
    </MusubiProvider>
  </StrictMode>,
);
