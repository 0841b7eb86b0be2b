// The React example: stores read with useSyncExternalStore(store.subscribe, store.snapshot).
// Bundled by esbuild (scripts/build-examples.sh) with "musubi-wasm" external; the page's import
// map points it at /pkg/index.js.
import { StrictMode, useCallback, useEffect, useState, useSyncExternalStore } from "react";
import { createRoot } from "react-dom/client";
import { connect, MusubiCommandError, openStash } from "musubi-wasm";
import { demoHttpUploader } from "../js/uploader.js";

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

function Counter({ store, run, connection }) {
  const { count, label, log } = useSnapshot(store);
  const stale = useStale(store);
  // The cache: after a reload the last state shows at once, marked "cached" until it is live.
  const rootStatus = useSyncExternalStore(store.subscribe, () => connection.info().roots.find((root) => root.id === "demo-counter")?.status);
  // The outbox: clicks while the connection is down wait, and go out once it is back.
  const waiting = useSyncExternalStore(store.subscribe, store.queued);
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
        <span id="waiting" className="waiting" data-testid="outbox-waiting">
          {waiting ? `${waiting} change${waiting === 1 ? "" : "s"} waiting` : ""}
        </span>
        <span id="counter-state" className="root-state" data-testid="counter-state">
          {rootStatus && rootStatus !== "live" ? rootStatus : ""}
        </span>
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

/** An upload handle's snapshot; re-renders when it changes (identical until then). */
const useUpload = (handle) => useSyncExternalStore(handle.subscribe, handle.snapshot);

function UploadErrors({ errors, testId }) {
  return (
    <ul className="errors" data-testid={testId}>
      {errors.map((error, i) => <li key={i} className={`error ${error.code}`}>{error.code}: {error.message}</li>)}
    </ul>
  );
}

/**
 * A picker for one upload handle: choosing files selects and starts them; Start / Cancel /
 * Reset; a progress bar; the handle's status and errors; each entry's status, progress and
 * errors. Test ids match the plain page's (`<name>-input`, `<name>-progress`, …).
 */
function UploadPicker({ handle, title, accept, multiple = false, run }) {
  const { status, progress, entries, errors } = useUpload(handle);
  const name = handle.name;
  const pick = async (event) => {
    const files = [...event.target.files];
    event.target.value = "";
    if (files.length === 0) return;
    try {
      const selected = await handle.select(files);
      if (selected.some((entry) => entry.status === "pending")) await handle.start();
    } catch (error) {
      run(`${name} upload`, Promise.reject(error));
    }
  };
  return (
    <div className="upload-panel" id={`${name}-panel`}>
      <h3>{title}</h3>
      <div className="row"><input type="file" accept={accept} multiple={multiple} data-testid={`${name}-input`} onChange={pick} /></div>
      <div className="row">
        <button data-testid={`${name}-start`} onClick={() => run(`${name} start`, handle.start())}>Start</button>
        <button data-testid={`${name}-cancel`} onClick={() => run(`${name} cancel`, handle.cancel())}>Cancel</button>
        <button data-testid={`${name}-reset`} onClick={() => run(`${name} reset`, handle.reset())}>Reset</button>
      </div>
      <div className="row">
        <progress max={100} value={progress} data-testid={`${name}-progress`} />
        <span className={`upload-status ${status}`} data-testid={`${name}-status`}>{status}</span>
      </div>
      <UploadErrors errors={errors} testId={`${name}-errors`} />
      <ul className="entries" data-testid={`${name}-entries`}>
        {entries.map((entry) => (
          <li key={entry.ref} data-ref={entry.ref} data-status={entry.status} data-progress={entry.progress} data-bytes-sent={entry.bytesSent}>
            <span>{entry.clientName} ({entry.clientSize} B) — {entry.status} {Math.round(entry.progress)} %</span>
            <button className="cancel-entry" title="Cancel this file" onClick={() => run(`${name} cancel`, handle.cancel(entry.ref))}>✕</button>
            <ul className="entry-errors">
              {entry.errors.map((error, i) => <li key={i} className={`error ${error.code}`}>{error.code}: {error.message}</li>)}
            </ul>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Demo.ProfileStore: the avatar from the server (`avatar_url`), the pickers, the uploaded files. */
function Profile({ store, run }) {
  const { name, avatar, avatar_url: avatarUrl, files } = useSnapshot(store);
  const stale = useStale(store);
  return (
    <section id="profile" className={stale ? "panel stale" : "panel"}>
      <h2 data-testid="profile-name">{name}</h2>
      <div className="uploads">
        <div>
          {avatarUrl && <img data-testid="avatar-image" className="avatar" alt="Avatar" src={new URL(avatarUrl, location.href).href} />}
          <UploadPicker handle={store.upload(avatar)} title="Avatar" accept=".png,.jpg" run={run} />
        </div>
        <UploadPicker handle={store.upload("document")} title="Documents (demo-http)" multiple run={run} />
        <UploadPicker handle={store.upload("archive")} title="Archive" run={run} />
      </div>
      <h3>Files on the server</h3>
      <ul data-testid="profile-files" className="files">
        {(files ?? []).map((file) => (
          <li key={file.ref} data-ref={file.ref} data-upload={file.upload}>
            <a href={new URL(file.url, location.href).href}>{file.name}</a> {file.upload}, {file.size} B
          </li>
        ))}
      </ul>
    </section>
  );
}

/**
 * A note and a setting kept in this browser (`openStash`): they survive a reload and follow other
 * tabs (and the plain-JS and Leptos demos: same view) live. `getView()` is identical until the
 * stash changes, so it plugs into useSyncExternalStore like a store's snapshot.
 */
function Notes({ stash }) {
  const { draft = "", compact = false } = useSyncExternalStore(stash.subscribe, stash.getView);
  const lastSeenAt = useSyncExternalStore(stash.subscribe, () => stash.lastSeenAt);
  const [problem, setProblem] = useState(undefined);
  // A failed write (e.g. `quota_exceeded`) is shown; the stored value stays, and so does the input.
  const write = (call) => {
    try {
      call();
      setProblem(undefined);
    } catch (error) {
      setProblem(error);
    }
  };
  return (
    <section id="notes" className={compact ? "panel compact" : "panel"} data-testid="stash-panel">
      <h2>Notes (kept in this browser)</h2>
      <div className="row">
        <input type="text" placeholder="A note kept in this browser" data-testid="stash-draft" value={draft}
          onChange={(event) => write(() => stash.merge({ draft: event.target.value }))} />
      </div>
      <div className="row">
        <label><input type="checkbox" data-testid="stash-compact" checked={compact}
          onChange={(event) => write(() => stash.merge({ compact: event.target.checked }))} /> compact view</label>
        <button data-testid="stash-reset" onClick={() => write(() => stash.reset())}>Forget</button>
        <small data-testid="stash-saved">{lastSeenAt === null ? "never saved" : `saved ${new Date(lastSeenAt).toLocaleTimeString()}`}</small>
      </div>
      {problem && <span className="error" data-testid="stash-error" data-kind={problem.kind}>{problem.kind}: {problem.message}</span>}
    </section>
  );
}

function App({ connection, counter, board, profile, notes }) {
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
        <Counter store={counter} run={run} connection={connection} />
        <Board store={board} run={run} />
      </div>
      <Profile store={profile} run={run} />
      <Notes stash={notes} />
      <h2>Events</h2>
      <ul id="events">{events.map(({ key, line }) => <li key={key}>{line}</li>)}</ul>
    </>
  );
}

const root = createRoot(document.getElementById("app"));
root.render(<StatusBadge status="connecting" />);
try {
  // `?wire=connection|per-root` picks the wire protocol (by default it is detected),
  // `?uploadWindow=N` the chunks in flight per upload entry, `?profile=<id>` the profile's root id.
  const query = new URLSearchParams(location.search);
  const notes = await openStash("Demo.Notes", { vsn: 1, fallback: "memory" });
  window.musubiStash = notes; // for the console and the end-to-end tests
  // `?offline=0` turns the outbox and the cache off.
  const offline = query.get("offline") !== "0";
  const connection = await connect("/socket", {
    wire: query.get("wire") ?? "auto",
    uploadWindow: query.has("uploadWindow") ? Number(query.get("uploadWindow")) : undefined,
    uploaders: { "demo-http": demoHttpUploader },
    outbox: offline,
    cache: offline,
  });
  const [counter, board, profile] = await Promise.all([
    connection.mountStore({ module: "Demo.CounterStore", id: "demo-counter" }),
    connection.mountStore({ module: "Demo.BoardStore", id: "demo-board" }),
    connection.mountStore({ module: "Demo.ProfileStore", id: query.get("profile") ?? "demo-profile" }),
  ]);
  root.render(
    <StrictMode>
      <App connection={connection} counter={counter.store} board={board.store} profile={profile.store} notes={notes} />
    </StrictMode>,
  );
} catch (error) {
  root.render(<><StatusBadge status="closed" /><p id="problem">could not start: {error.message}</p></>);
}
