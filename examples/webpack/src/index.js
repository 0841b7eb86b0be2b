import { connect } from "musubi-wasm";

// The Musubi server's socket: this page's own /socket unless ?socket=ws://host:port/socket says otherwise.
const url = new URLSearchParams(location.search).get("socket") ?? "/socket";

const statusView = document.querySelector("#status");
const countView = document.querySelector("#count");
const button = document.querySelector("#increment");

const connection = await connect(url);
statusView.textContent = connection.status;
connection.onStatusChange(({ to }) => (statusView.textContent = to));

const { store } = await connection.mountStore({ module: "Demo.CounterStore", id: "counter" });
const render = () => {
  countView.textContent = String(store.snapshot().count);
  button.disabled = store.stale;
};
store.subscribe(render);
render();

button.addEventListener("click", () => {
  store.dispatchCommand("increment", { by: 1 }).catch((error) => console.warn("increment failed:", error.message));
});
