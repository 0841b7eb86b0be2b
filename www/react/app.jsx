// The React example: stores read with useSyncExternalStore(store.subscribe, store.snapshot).
// Bundled by esbuild (scripts/build-examples.sh) with "musubi-wasm" external; the page's import
// map points it at /pkg/index.js.
import { StrictMode, useCallback, useEffect, useState, useSyncExternalStore } from "react";
import { createRoot } from "react-dom/client";
import { connect, MusubiCommandError } from "musubi-wasm";

/** The store's current snapshot; re-renders when it changes (snapshots are identical until then). */
const useSnapshot = (store) => useSyncExternalStore(store.subscribe, store.snapshot);
// Subscribers also hear a root go stale and live again, so staleness is an external store too.
const useStale = (store) => useSyncExternalStore(store.subscribe, () => store.stale);

/** The connection status, re-rendering at every change. */
function useStatus(connection) {
  const subscribe = useCallback((onChange) => connection.onStatusChange(onChange), [connection]);
  return useSyncExternalStore(subscribe, () => connection.status);
}

let eventCount = 0;

/** The last 50 status transitions, newest first. */
function useStatusLog(connection) {
  const [events, setEvents] = useState([]);
  useEffect(
    () =>
      connection.onStatusChange(({ from, to, reason }) => {
        const event = { key: ++eventCount, line: `${from} → ${to} (${reason})` };
        setEvents((list) => [event, ...list].slice(0, 50));
      }),
    [connection],
  );
  return events;
}

/** The last push event named `name` of `store` (Musubi 0.13), cleared after four seconds. */
function useEvent(store, name) {
  const [last, setLast] = useState(undefined);
  useEffect(() => {
    let timer;
    const off = store.onEvent(name, (payload) => {
      setLast(payload);
      clearTimeout(timer);
      timer = setTimeout(() => setLast(undefined), 4_000);
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [store, name]);
  return last;
}

function StatusBadge({ status }) {
  return <span id="status" className={`badge ${status}`}>{status}</span>;
}

function Counter({ store, run }) {
  const { count, label, log } = useSnapshot(store);
  const stale = useStale(store);
  const toast = useEvent(store, "toast");
  const [draft, setDraft] = useState("");
  const rename = () => {
    if (draft.trim()) run("set_label", store.dispatchCommand("set_label", { label: draft.trim() }));
    setDraft("");
  };
  return (
    <section id="counter" className={stale ? "panel stale" : "panel"}>
      <h2 id="label">{label}</h2>
      <div className="row">
        <span id="count">{count}</span>
        <button id="increment" onClick={() => run("increment", store.dispatchCommand("increment", { by: 1 }))}>+1</button>
      </div>
      <div className="row">
        <input id="label-input" type="text" placeholder="New label" value={draft}
          onChange={(event) => setDraft(event.target.value)} onKeyDown={(event) => event.key === "Enter" && rename()} />
        <button id="set-label" onClick={rename}>Rename</button>
      </div>
      {toast && <div id="toast" className="toast" role="status">{toast.text}</div>}
      <ul id="log">{(log ?? []).map((entry) => <li key={entry.id}>{entry.text}</li>)}</ul>
    </section>
  );
}

function Board({ store, run }) {
  const { cards, stats } = useSnapshot(store);
  const stale = useStale(store);
  const [draft, setDraft] = useState("");
  const add = () => {
    if (draft.trim()) run("add_card", store.dispatchCommand("add_card", { title: draft.trim() }));
    setDraft("");
  };
  // A card's own commands go to its child store (["cards", id]); removal goes to the board.
  const card = (id) => store.child(["cards", id]);
  return (
    <section id="board" className={stale ? "panel stale" : "panel"}>
      <h2>Board <small id="stats">{stats?.status === "ok" ? `${stats.data.cards} cards` : stats?.status}</small></h2>
      <div className="row">
        <input id="card-input" type="text" placeholder="New card" value={draft}
          onChange={(event) => setDraft(event.target.value)} onKeyDown={(event) => event.key === "Enter" && add()} />
        <button id="add-card" onClick={add}>Add</button>
      </div>
      <ul id="cards">
        {(cards ?? []).map(({ id, title, done }) => (
          <li key={id} data-id={id} className={done ? "done" : ""}>
            <input type="checkbox" className="toggle" checked={done} onChange={() => run("toggle", card(id).dispatchCommand("toggle"))} />
            <span className="title">{title}</span>
            <button className="remove" title="Remove" onClick={() => run("remove_card", store.dispatchCommand("remove_card", { id }))}>✕</button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function App({ connection, counter, board }) {
  const status = useStatus(connection);
  const events = useStatusLog(connection);
  const [problem, setProblem] = useState("");
  const run = useCallback((what, promise) => {
    promise.catch((error) => setProblem(`${what} failed: ${MusubiCommandError.is(error) ? error.kind : error.message}`));
  }, []);
  const drop = () => fetch("/_test/drop?code=4000", { method: "POST" }).catch((error) => setProblem(`drop failed: ${error.message}`));
  return (
    <>
      <div className="row">Connection <StatusBadge status={status} /><button id="drop" onClick={drop}>Drop connection</button></div>
      {problem && <p id="problem">{problem}</p>}
      <div className="panels">
        <Counter store={counter} run={run} />
        <Board store={board} run={run} />
      </div>
      <h2>Events</h2>
      <ul id="events">{events.map(({ key, line }) => <li key={key}>{line}</li>)}</ul>
    </>
  );
}

const root = createRoot(document.getElementById("app"));
root.render(<StatusBadge status="connecting" />);
try {
  // `?wire=connection|per-root` picks the wire protocol; by default it is detected.
  const connection = await connect("/socket", { wire: new URLSearchParams(location.search).get("wire") ?? "auto" });
  const [counter, board] = await Promise.all([
    connection.mountStore({ module: "Demo.CounterStore", id: "demo-counter" }),
    connection.mountStore({ module: "Demo.BoardStore", id: "demo-board" }),
  ]);
  root.render(
    <StrictMode>
      <App connection={connection} counter={counter.store} board={board.store} />
    </StrictMode>,
  );
} catch (error) {
  root.render(<><StatusBadge status="closed" /><p id="problem">could not start: {error.message}</p></>);
}
