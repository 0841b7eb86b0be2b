// musubi-wasm for browsers and bundlers that load `.wasm` by URL (the `web` build):
// `connect()` fetches `web/musubi_wasm_bg.wasm` next to this file on first use; call
// `init(url)` first to load it from elsewhere.
import initWasm, * as wasm from "./web/musubi_wasm.js";
import { createApi } from "./api.js";

const api = createApi(async (input) => {
  await initWasm(input === undefined ? undefined : { module_or_path: input });
  return wasm;
});

export const { connect, init, debugStats } = api;
export { MusubiCommandError } from "./api.js";

// A view's durable stash in localStorage (see the stash block of api.js).
export const { openStash } = api;
export { MusubiStashError } from "./api.js";
