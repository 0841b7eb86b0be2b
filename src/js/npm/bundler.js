// musubi-wasm for bundlers with WebAssembly ESM integration (the `bundler` build, e.g. webpack's
// `experiments.asyncWebAssembly` or vite-plugin-wasm): the bundler instantiates the module.
import * as wasm from "./bundler/musubi_wasm.js";
import { createApi } from "./api.js";

const api = createApi(async () => wasm);

export const { connect, init, debugStats } = api;
export { MusubiCommandError } from "./api.js";

// A view's durable stash in localStorage (see the stash block of api.js).
export const { openStash } = api;
export { MusubiStashError } from "./api.js";
