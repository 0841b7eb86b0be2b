// The plain-JavaScript example: the npm package's ESM entry imported straight from /pkg/ (no
// bundler), a shared counter, a board and a profile with uploads mounted from the devserver on
// the same origin. Server text is only ever written with textContent.
import { connect, MusubiCommandError, openStash } from "/pkg/index.js";
import { demoHttpUploader } from "./uploader.js";

const $ = (id) => document.getElementById(id);

/** Shows the connection status: the text is exactly the status, the class is the status too. */
function showStatus(status) {
  $("status").textContent = status;
  $("status").className = `badge ${status}`;
}

/** Adds a line to the event list (newest first, 50 kept). */
function note(line) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} ${line}`;
  $("events").prepend(item);
  while ($("events").children.length > 50) $("events").lastElementChild.remove();
}

/** Shows a push event's text for four seconds (server text: textContent only). */
let toastTimer;
function showToast(text) {
  $("toast").textContent = text;
  $("toast").hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => ($("toast").hidden = true), 4_000);
}

/** Runs a command; a failure is shown in the event list rather than thrown. */
function run(what, promise) {
  promise.catch((error) => {
    const detail = MusubiCommandError.is(error) ? `${error.kind} ${error.code ?? ""}` : error.message;
    note(`${what} failed: ${detail}`);
  });
}

/** Empties a text input and returns what it held. */
function take(input) {
  const value = input.value.trim();
  input.value = "";
  return value;
}

function renderCounter(store) {
  const { count, label, log } = store.snapshot();
  $("count").textContent = String(count);
  $("label").textContent = label;
  const items = (log ?? []).map((entry) => {
    const item = document.createElement("li");
    item.textContent = entry.text;
    return item;
  });
  $("log").replaceChildren(...items);
  $("counter").classList.toggle("stale", store.stale);
  // The outbox: clicks while the connection is down wait and go out once it is back.
  const waiting = store.queued();
  $("waiting").textContent = waiting ? `${waiting} change${waiting === 1 ? "" : "s"} waiting` : "";
  // The cache: after a reload the last state shows at once, marked "cached" until it is live.
  const root = window.musubiDemo?.connection.info().roots.find((info) => info.id === "demo-counter");
  $("counter-state").textContent = root && root.status !== "live" ? root.status : "";
}

/** One card row; its controls find the card through `data-id` (see the listeners below). */
function cardItem(id) {
  const item = document.createElement("li");
  item.dataset.id = id;
  const toggle = Object.assign(document.createElement("input"), { type: "checkbox", className: "toggle" });
  const title = Object.assign(document.createElement("input"), { type: "text", className: "title" });
  const remove = Object.assign(document.createElement("button"), { className: "remove", textContent: "✕" });
  remove.title = "Remove";
  item.append(toggle, title, remove);
  return item;
}

function renderBoard(store) {
  const { cards, stats } = store.snapshot();
  const list = $("cards");
  const existing = new Map([...list.children].map((item) => [item.dataset.id, item]));
  // Rows are kept per card id, so a title being edited keeps its focus and text.
  const items = (cards ?? []).map((card) => {
    const item = existing.get(card.id) ?? cardItem(card.id);
    item.classList.toggle("done", card.done);
    item.querySelector(".toggle").checked = card.done;
    const title = item.querySelector(".title");
    if (document.activeElement !== title) title.value = card.title;
    return item;
  });
  const unchanged = items.length === list.children.length && items.every((item, i) => list.children[i] === item);
  if (!unchanged) list.replaceChildren(...items);
  $("stats").textContent =
    stats?.status === "ok" ? `${stats.data.cards} cards` : stats?.status === "failed" ? `failed: ${JSON.stringify(stats.error)}` : (stats?.status ?? "");
  $("board").classList.toggle("stale", store.stale);
}

/** An element with these properties (and `data-testid`, when given). */
function element(tag, properties = {}, testId = undefined) {
  const created = Object.assign(document.createElement(tag), properties);
  if (testId) created.dataset.testid = testId;
  return created;
}

/**
 * Fills `container` with a picker for the upload handle: a file input (selecting starts the
 * upload), Start / Cancel / Reset, a progress bar, the handle's status and errors and each
 * entry's status, progress and errors. Test ids are `<name>-input`, `<name>-progress`, … Returns
 * the render function (it redraws only when the handle's snapshot changed).
 */
function uploadPanel(container, handle, { title, accept, multiple = false }) {
  const name = handle.name;
  const input = element("input", { type: "file", multiple }, `${name}-input`);
  if (accept) input.accept = accept;
  const start = element("button", { textContent: "Start" }, `${name}-start`);
  const cancel = element("button", { textContent: "Cancel" }, `${name}-cancel`);
  const reset = element("button", { textContent: "Reset" }, `${name}-reset`);
  const progress = element("progress", { max: 100, value: 0 }, `${name}-progress`);
  const status = element("span", { className: "upload-status idle", textContent: "idle" }, `${name}-status`);
  const entries = element("ul", { className: "entries" }, `${name}-entries`);
  const errors = element("ul", { className: "errors" }, `${name}-errors`);
  const row = (...children) => {
    const div = element("div", { className: "row" });
    div.append(...children);
    return div;
  };
  container.append(element("h3", { textContent: title }), row(input), row(start, cancel, reset), row(progress, status), errors, entries);

  const upload = (what, promise) => promise.catch((error) => note(`${name} ${what} failed: ${error.message}`));
  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    if (files.length === 0) return;
    const selected = await handle.select(files).catch((error) => note(`${name} select failed: ${error.message}`));
    if (selected?.some((entry) => entry.status === "pending")) await upload("start", handle.start());
  });
  start.addEventListener("click", () => upload("start", handle.start()));
  cancel.addEventListener("click", () => upload("cancel", handle.cancel()));
  reset.addEventListener("click", () => upload("reset", handle.reset()));

  const errorItem = (error) => element("li", { textContent: `${error.code}: ${error.message}`, className: `error ${error.code}` });
  let shown;
  const render = () => {
    const snapshot = handle.snapshot();
    if (snapshot === shown) return;
    shown = snapshot;
    progress.value = snapshot.progress;
    status.textContent = snapshot.status;
    status.className = `upload-status ${snapshot.status}`;
    errors.replaceChildren(...snapshot.errors.map(errorItem));
    entries.replaceChildren(
      ...snapshot.entries.map((entry) => {
        const item = element("li");
        Object.assign(item.dataset, { ref: entry.ref, status: entry.status, progress: String(entry.progress), bytesSent: String(entry.bytesSent) });
        const line = element("span", { textContent: `${entry.clientName} (${entry.clientSize} B) — ${entry.status} ${Math.round(entry.progress)} %` });
        const cancelOne = element("button", { textContent: "✕", title: "Cancel this file", className: "cancel-entry" });
        cancelOne.addEventListener("click", () => upload("cancel", handle.cancel(entry.ref)));
        item.append(line, cancelOne, element("ul", { className: "entry-errors" }));
        item.lastChild.append(...entry.errors.map(errorItem));
        return item;
      }),
    );
  };
  handle.subscribe(render);
  render();
  return render;
}

/** The profile's avatar (from the server, by `avatar_url`) and its list of uploaded files. */
function renderProfile(store) {
  const { name, avatar_url: avatarUrl, files } = store.snapshot();
  $("profile").querySelector("[data-testid=profile-name]").textContent = name;
  const image = $("profile").querySelector("[data-testid=avatar-image]");
  const source = avatarUrl ? new URL(avatarUrl, location.href).href : "";
  if (image.getAttribute("src") !== source) {
    if (source) image.src = source;
    else image.removeAttribute("src");
  }
  image.hidden = !source;
  const items = (files ?? []).map((file) => {
    const item = element("li");
    Object.assign(item.dataset, { ref: file.ref, upload: file.upload });
    item.append(element("a", { href: new URL(file.url, location.href).href, textContent: file.name }), ` ${file.upload}, ${file.size} B`);
    return item;
  });
  $("profile").querySelector("[data-testid=profile-files]").replaceChildren(...items);
  $("profile").classList.toggle("stale", store.stale);
}

async function main() {
  $("drop").addEventListener("click", () => {
    fetch("/_test/drop?code=4000", { method: "POST" })
      .then((response) => note(response.ok ? "asked the server to drop every connection" : `drop: HTTP ${response.status} (needs --test-endpoints)`))
      .catch((error) => note(`drop failed: ${error.message}`));
  });

  // `?wire=connection|per-root` picks the wire protocol (by default it is detected),
  // `?uploadWindow=N` the chunks in flight per upload entry, `?profile=<id>` the profile's root id.
  const query = new URLSearchParams(location.search);
  const wire = query.get("wire") ?? "auto";
  const uploadWindow = query.has("uploadWindow") ? Number(query.get("uploadWindow")) : undefined;
  // `?offline=0` turns the outbox and the cache off.
  const offline = query.get("offline") !== "0";
  const connection = await connect("/socket", {
    wire,
    uploadWindow,
    uploaders: { "demo-http": demoHttpUploader },
    outbox: offline,
    cache: offline,
  });
  let rerender = () => {}; // set once the roots are mounted (the stale marks follow the status)
  connection.onStatusChange(({ from, to, reason }) => {
    showStatus(to);
    note(`${from} → ${to} (${reason})`);
    // With the cache on, connect() resolved before the server answered: the wire is known now.
    if (to === "open") note(`open (wire: ${connection.info().wire ?? "detecting"})`);
    rerender();
  });
  showStatus(connection.status);
  note(`connected to ${connection.info().url} (wire: ${connection.info().wire ?? "detecting"})`);
  const [{ store: counter }, { store: board }, { store: profile }] = await Promise.all([
    connection.mountStore({ module: "Demo.CounterStore", id: "demo-counter" }),
    connection.mountStore({ module: "Demo.BoardStore", id: "demo-board" }),
    connection.mountStore({ module: "Demo.ProfileStore", id: query.get("profile") ?? "demo-profile" }),
  ]);
  // Each declared upload is a handle (`profile.upload(name)`, also from its snapshot marker).
  const snapshot = profile.snapshot();
  const uploads = {
    avatar: uploadPanel($("avatar-panel"), profile.upload(snapshot.avatar), { title: "Avatar", accept: ".png,.jpg" }),
    document: uploadPanel($("document-panel"), profile.upload("document"), { title: "Documents (demo-http)", multiple: true }),
    archive: uploadPanel($("archive-panel"), profile.upload("archive"), { title: "Archive" }),
  };
  // For the console (and the end-to-end tests): the connection and the stores.
  window.musubiDemo = { connection, counter, board, profile };
  rerender = () => {
    renderCounter(counter);
    renderBoard(board);
    renderProfile(profile);
    for (const render of Object.values(uploads)) render();
  };

  // The page lives as long as the connection, so the subscriptions are never released.
  counter.subscribe(() => renderCounter(counter));
  board.subscribe(() => renderBoard(board));
  profile.subscribe(() => renderProfile(profile));
  // Push events (Musubi 0.13): a rename anywhere toasts on every page showing the counter.
  counter.onEvent("toast", ({ text }) => {
    showToast(text);
    note(`event toast: ${text}`);
  });
  rerender();

  $("increment").addEventListener("click", () => run("increment", counter.dispatchCommand("increment", { by: 1 })));
  $("set-label").addEventListener("click", () => {
    const label = take($("label-input"));
    if (label) run("set_label", counter.dispatchCommand("set_label", { label }));
  });
  $("add-card").addEventListener("click", () => {
    const title = take($("card-input"));
    if (title) run("add_card", board.dispatchCommand("add_card", { title }));
  });
  $("card-input").addEventListener("keydown", (event) => event.key === "Enter" && $("add-card").click());

  // Card rows: `remove_card` goes to the board, `toggle` and `rename` to the card's own child store.
  const cardOf = (element) => element.closest("li")?.dataset.id;
  $("cards").addEventListener("click", (event) => {
    if (event.target.matches(".remove")) run("remove_card", board.dispatchCommand("remove_card", { id: cardOf(event.target) }));
  });
  $("cards").addEventListener("change", (event) => {
    const card = board.child(["cards", cardOf(event.target)]);
    if (event.target.matches(".toggle")) run("toggle", card.dispatchCommand("toggle"));
    if (event.target.matches(".title")) run("rename", card.dispatchCommand("rename", { title: event.target.value }));
  });
}

/**
 * A note and a setting kept in this browser (`openStash`, no server involved): they survive a
 * reload and follow the other tabs — and the React and Leptos demos, which use the same view —
 * live. Test ids: `stash-draft`, `stash-compact`, `stash-reset`, `stash-saved`, `stash-error`.
 */
async function notesPanel() {
  const stash = await openStash("Demo.Notes", { vsn: 1, fallback: "memory" });
  const draft = element("input", { type: "text", placeholder: "A note kept in this browser" }, "stash-draft");
  const compact = element("input", { type: "checkbox" }, "stash-compact");
  const reset = element("button", { textContent: "Forget" }, "stash-reset");
  const saved = element("small", {}, "stash-saved");
  const problem = element("span", { className: "error" }, "stash-error");
  const label = element("label");
  label.append(compact, " compact view");
  const row = (...children) => {
    const div = element("div", { className: "row" });
    div.append(...children);
    return div;
  };
  const section = element("section", { id: "notes", className: "panel" }, "stash-panel");
  section.append(element("h2", { textContent: "Notes (kept in this browser)" }), row(draft), row(label, reset, saved), problem);
  $("events").before(section);

  const render = () => {
    const { draft: text = "", compact: on = false } = stash.getView();
    if (draft.value !== text) draft.value = text;
    compact.checked = on;
    saved.textContent = stash.lastSeenAt === null ? "never saved" : `saved ${new Date(stash.lastSeenAt).toLocaleTimeString()}`;
    section.classList.toggle("compact", on);
  };
  /** A write; a failure (e.g. `quota_exceeded`) is shown and the stored value stays. */
  const write = (call) => {
    try {
      call();
      problem.textContent = "";
      delete problem.dataset.kind;
    } catch (error) {
      problem.textContent = `${error.kind}: ${error.message}`;
      problem.dataset.kind = error.kind;
      render();
    }
  };
  draft.addEventListener("input", () => write(() => stash.merge({ draft: draft.value })));
  compact.addEventListener("change", () => write(() => stash.merge({ compact: compact.checked })));
  reset.addEventListener("click", () => write(() => stash.reset()));
  stash.subscribe(render);
  render();
  // For the console (and the end-to-end tests).
  window.musubiStash = stash;
}

notesPanel().catch((error) => note(`notes unavailable: ${error.message}`));

main().catch((error) => {
  showStatus("closed");
  note(`could not start: ${error.message}`);
});
