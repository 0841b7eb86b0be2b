// The plain-JavaScript example: the npm package's ESM entry imported straight from /pkg/ (no
// bundler), a shared counter and a board mounted from the devserver on the same origin.
// Server text is only ever written with textContent.
import { connect, MusubiCommandError } from "/pkg/index.js";

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

async function main() {
  $("drop").addEventListener("click", () => {
    fetch("/_test/drop?code=4000", { method: "POST" })
      .then((response) => note(response.ok ? "asked the server to drop every connection" : `drop: HTTP ${response.status} (needs --test-endpoints)`))
      .catch((error) => note(`drop failed: ${error.message}`));
  });

  // `?wire=connection|per-root` picks the wire protocol; by default it is detected.
  const wire = new URLSearchParams(location.search).get("wire") ?? "auto";
  const connection = await connect("/socket", { wire });
  let rerender = () => {}; // set once the roots are mounted (the stale marks follow the status)
  connection.onStatusChange(({ from, to, reason }) => {
    showStatus(to);
    note(`${from} → ${to} (${reason})`);
    rerender();
  });
  showStatus(connection.status);
  note(`connected to ${connection.info().url} (wire: ${connection.info().wire ?? "detecting"})`);
  const [{ store: counter }, { store: board }] = await Promise.all([
    connection.mountStore({ module: "Demo.CounterStore", id: "demo-counter" }),
    connection.mountStore({ module: "Demo.BoardStore", id: "demo-board" }),
  ]);
  rerender = () => {
    renderCounter(counter);
    renderBoard(board);
  };

  // The page lives as long as the connection, so the subscriptions are never released.
  counter.subscribe(() => renderCounter(counter));
  board.subscribe(() => renderBoard(board));
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

main().catch((error) => {
  showStatus("closed");
  note(`could not start: ${error.message}`);
});
