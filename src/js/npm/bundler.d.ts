/**
 * musubi-wasm/bundler — the same API as `musubi-wasm`, for bundlers with WebAssembly ESM
 * integration (the bundler instantiates the module, so `init()` ignores its argument).
 *
 * Its types are `musubi-wasm`'s: register your stores there, also for this entry —
 * `declare module "musubi-wasm" { interface Register { stores: Stores } }` (see `Register`).
 */
export * from "./index.js";
