// The public JS API of musubi-wasm, over the WebAssembly module's internal `RawConnection`.
//
// The wasm side owns the socket, the replica, every snapshot and every upload; this layer hands
// out plain frozen objects with bound functions, turns rejections into `MusubiCommandError` /
// `Error`, and releases what it registered in wasm on `unsubscribe`, `unmount` and `disconnect`.

import { cacheKey, cacheOptions, openRootCache, writeBack } from "./cache.js";

/** A command that failed on the server (`kind: "failed"`) or got no reply in time (`"timeout"`). */
export class MusubiCommandError extends Error {
  constructor(options) {
    const { kind, command, storeId, reply, cause, message } = options ?? {};
    // The client hands over `message` and `code` complete (built in Rust); an application that
    // constructs one itself gets them derived the same way.
    super(message ?? commandMessage(kind, command, reply), cause === undefined ? undefined : { cause });
    Object.defineProperty(this, "name", { value: "MusubiCommandError", enumerable: false, configurable: true, writable: false });
    this.kind = kind;
    this.command = command;
    this.storeId = Object.freeze([...(storeId ?? [])]);
    this.reply = reply;
    this.code = options != null && "code" in options ? options.code : extractCode(reply);
  }

  /** Name-based check that also works across bundles and realms. */
  static is(value) {
    return value instanceof Error && value.name === "MusubiCommandError";
  }
}

function commandMessage(kind, command, reply) {
  if (kind === "timeout") return `Command "${command}" timed out`;
  return `Command "${command}" failed: ${extractCode(reply) ?? safeStringify(reply)}`;
}

function extractCode(reply) {
  if (typeof reply !== "object" || reply === null || Array.isArray(reply)) return undefined;
  for (const key of ["code", "error", "reason"]) {
    if (typeof reply[key] === "string") return reply[key];
  }
  return undefined;
}

function safeStringify(value) {
  try {
    return JSON.stringify(value ?? null) ?? "null";
  } catch {
    return String(value);
  }
}

/** Turns a rejection from the wasm side (`{name, message, kind, …}`, complete) into an Error. */
export function toError(value) {
  if (value instanceof Error) return value;
  if (value && typeof value === "object" && value.name === "MusubiCommandError") {
    return new MusubiCommandError(value);
  }
  if (value && typeof value === "object" && typeof value.message === "string") {
    const error = new Error(value.message);
    if (typeof value.kind === "string") error.kind = value.kind;
    if ("reply" in value) error.reply = value.reply;
    return error;
  }
  return new Error(String(value));
}

const NOT_A_BROWSER = "musubi-wasm needs a browser (WebSocket); on the server render from a snapshot";

/** A browser page or worker (not a server render: Node, Deno and Bun have no `window`/worker scope). */
const inBrowser = () =>
  typeof WebSocket === "function" && (typeof window === "object" || (typeof WorkerGlobalScope === "function" && globalThis instanceof WorkerGlobalScope));

/**
 * A production build: bundlers (Vite, webpack, Next.js, esbuild with `--define`) replace
 * `process.env.NODE_ENV` in dependencies; unbundled in a browser `process` is not defined, which
 * counts as development.
 */
function isProduction() {
  try {
    return process.env.NODE_ENV === "production";
  } catch {
    return false;
  }
}

/** How long a connection may go without its first join before the development warning. */
export const JOIN_WARNING_MS = 5_000;

/**
 * Development builds: when the connection has not joined once after a few seconds, says once on
 * the console what it dialed and what usually causes it (no proxy under a dev server, a wrong
 * path, the server down). Silenced by `connect(url, { diagnostics: false })`.
 */
function warnIfNeverJoined(connection, raw, url, joined) {
  let settled = false;
  joined.then(
    () => (settled = true),
    () => (settled = true),
  );
  const timer = setTimeout(() => {
    if (settled || connection.status === "open" || connection.status === "closed") return;
    const { reason } = connection.info();
    const sameOrigin = typeof location === "object" && url.startsWith("/") && !url.startsWith("//");
    const proxy = sameOrigin
      ? ` If a dev server (Vite, webpack, Next.js) serves this page, it must proxy WebSocket upgrades of "${url}" to the Musubi server (Vite: server.proxy { "${url}": { target: "ws://127.0.0.1:4000", ws: true } }; Next.js: rewrites() [{ source: "${url}/:path*", destination: "http://127.0.0.1:4000${url}/:path*" }]).`
      : "";
    console.warn(
      `musubi-wasm: not connected after ${JOIN_WARNING_MS / 1000} s to ${raw.dialed_url()} (status "${connection.status}", ${reason}).${proxy} Check that the path is the server's socket mount (Phoenix: the path of \`socket "/socket", …\` in the endpoint, without "/websocket"); or the server is not running. (connect(url, { diagnostics: false }) silences this.)`,
    );
  }, JOIN_WARNING_MS);
  // On Node (tests) the timer must not keep the process alive.
  timer?.unref?.();
}

/** The wasm side's calls that return promises (a failed module rejects them instead of throwing). */
const ASYNC_CALLS = new Set(["connect", "mount", "unmount", "command", "disconnect", "upload_select", "upload_start", "upload_cancel", "upload_reset"]);

const isTrap = (error) => error instanceof WebAssembly.RuntimeError || (error instanceof RangeError && /call stack/i.test(error.message));

/**
 * Wraps the wasm side so that a trap inside it (a panic or a stack overflow kills the module for
 * the whole page) is reported once, as status `closed` with the reason, and every later call fails
 * with kind `module_failed` instead of touching a dead module. The client is built so that no
 * input can trap it; this only keeps the status truthful if something still does.
 */
function guardModule(raw, onFailure) {
  let failure;
  return new Proxy(raw, {
    get(target, property) {
      const member = target[property];
      if (typeof member !== "function") return member;
      return (...args) => {
        if (failure) {
          if (property === "free") return undefined;
          if (ASYNC_CALLS.has(property)) return Promise.reject(failure);
          throw failure;
        }
        try {
          return member.apply(target, args);
        } catch (error) {
          if (!isTrap(error)) throw error;
          failure = Object.assign(new Error(`the client module failed (${error.message}); reload the page`), { kind: "module_failed", cause: error });
          onFailure(failure);
          if (ASYNC_CALLS.has(property)) return Promise.reject(failure);
          throw failure;
        }
      };
    },
  });
}

/** Reports a listener's exception as uncaught, without stopping the others. */
function report(error) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else setTimeout(() => { throw error; });
}

/** Calls a listener (or a React hook's callback) with `args`; what it throws is reported. */
export function callSafely(listener, ...args) {
  try {
    listener(...args);
  } catch (error) {
    report(error);
  }
}

const isAbortSignal = (value) => typeof value?.throwIfAborted === "function" && typeof value?.addEventListener === "function";
const noop = () => {};

function checkStoreId(storeId, where) {
  if (!Array.isArray(storeId) || !storeId.every((segment) => typeof segment === "string")) {
    throw new TypeError(`${where}: a store id is an array of strings`);
  }
  return Object.freeze([...storeId]);
}

/**
 * Builds the API over a loader of the wasm module: `load(input?)` initialises it once and
 * resolves with its exports (`RawConnection`, `rawStats`).
 */
export function createApi(load) {
  let loading;
  let wasm;
  // Live connections' wasm sides, for debugStats().heldFiles.
  const raws = new Set();
  const ready = (input) => {
    loading ??= Promise.resolve(load(input)).then((exports) => (wasm = exports));
    return loading;
  };

  async function init(input) {
    await ready(input);
  }

  // Throws at once outside a browser (a server render, Node): there is no WebSocket to open.
  function connect(url, options) {
    if (!inBrowser()) throw new Error(NOT_A_BROWSER);
    return connectInBrowser(url, options);
  }

  async function connectInBrowser(url, options) {
    if (typeof url !== "string" || url === "") throw new TypeError("musubi-wasm connect(): url must be a non-empty string");
    const signal = options?.signal;
    if (signal !== undefined && !isAbortSignal(signal)) throw new TypeError("musubi-wasm connect(): signal must be an AbortSignal");
    const waitForJoin = options?.waitForJoin ?? true;
    if (typeof waitForJoin !== "boolean") throw new TypeError("musubi-wasm connect(): waitForJoin must be a boolean");
    const diagnostics = options?.diagnostics ?? !isProduction();
    if (typeof diagnostics !== "boolean") throw new TypeError("musubi-wasm connect(): diagnostics must be a boolean");
    signal?.throwIfAborted();
    const exports = await ready();
    signal?.throwIfAborted();
    const cacheConfig = cacheOptions(options?.cache);
    const statusListeners = new Set();
    const last = { status: "connecting", reason: "connecting" };
    const calls = { count: 0 };
    const onStatus = (from, to, reason) => {
      calls.count += 1;
      Object.assign(last, { status: to, reason });
      const change = Object.freeze({ from, to, reason });
      for (const entry of [...statusListeners]) callSafely(entry.listener, change);
    };
    const failed = { error: undefined };
    const raw = guardModule(new exports.RawConnection(url, options, onStatus), (error) => {
      failed.error = error;
      onStatus(last.status, "closed", error.message);
    });
    // The errors of calls that never reach the runtime (made after disconnect or unmount).
    const errorOf = (kind) => toError(exports.rawError(kind));
    raws.add(raw);
    const cache = cacheConfig && openRootCache(cacheConfig, (message) => options?.logger?.("error", message));
    const connection = makeConnection(raw, url, statusListeners, errorOf, last, failed, () => raws.delete(raw), cache, calls);
    // The socket retries until it joins; an abort gives up and releases everything.
    let onAbort;
    const aborted = new Promise((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    const joined = raw.connect().catch((error) => Promise.reject(toError(error)));
    if (diagnostics) warnIfNeverJoined(connection, raw, url, joined);
    if (cache || !waitForJoin) {
      // With a cache, a page reloaded while the server is unreachable must still mount (and show
      // its cached roots): connect() resolves at once, with status "connecting"; the socket keeps
      // trying on its own. `waitForJoin: false` asks for the same (roots mounted meanwhile go out
      // once the channel is joined).
      joined.catch(noop);
      signal?.removeEventListener("abort", onAbort);
      return connection;
    }
    try {
      await Promise.race([joined, aborted]);
    } catch (error) {
      await connection.disconnect();
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    return connection;
  }

  function debugStats() {
    const stats = wasm?.rawStats();
    let heldFiles = 0;
    for (const raw of raws) {
      try {
        heldFiles += raw.held_files();
      } catch {
        // A failed module holds nothing it could still release.
      }
    }
    return Object.freeze({
      memoryBytes: stats?.memoryBytes ?? 0,
      liveHandles: stats?.liveHandles ?? 0,
      connections: stats?.connections ?? 0,
      mounts: stats?.mounts ?? 0,
      stores: stats?.stores ?? 0,
      subscriptions: stats?.subscriptions ?? 0,
      uploads: stats?.uploads ?? 0,
      cachedObjects: stats?.cachedObjects ?? 0,
      heldFiles,
    });
  }

  // openStash (see the stash block at the end of this file).
  const openStash = makeOpenStash(ready);

  return { init, connect, debugStats, openStash };
}

function makeConnection(raw, url, statusListeners, errorOf, last, failed, forget, cache, calls) {
  const state = { raw, closed: false, freed: false, closing: undefined, mounts: new Set(), errorOf, calls };
  // Every mounted root's write-back, flushed when the page goes away.
  const writeBacks = new Set();
  const onPageHide = () => {
    for (const writer of writeBacks) writer.flush();
  };
  if (cache && typeof addEventListener === "function") addEventListener("pagehide", onPageHide);

  async function mountStore(options) {
    if (state.closed) throw errorOf("disconnected");
    const { module, id, params } = options ?? {};
    if (typeof module !== "string" || module === "") throw new TypeError("mountStore(): module must be a non-empty string");
    if (typeof id !== "string" || id === "") throw new TypeError("mountStore(): id must be a non-empty string");
    if (params !== undefined && (typeof params !== "object" || params === null || Array.isArray(params))) {
      throw new TypeError("mountStore(): params must be an object");
    }
    let number;
    const key = cache && cacheKey(module, id, params);
    try {
      const cached = cache && (await cache.read(key));
      number = cached !== undefined ? await raw.mount_cached(module, id, params, cached) : await raw.mount(module, id, params);
    } catch (error) {
      throw toError(error);
    }
    if (state.closed) throw errorOf("disconnected");
    // Upload handles by their wasm number (the same number for the same store and name).
    const mount = { number, unmounted: false, unmounting: undefined, uploads: new Map() };
    state.mounts.add(mount);
    const store = makeStore(state, mount, Object.freeze([]));
    // The root's last good state goes back to the cache (throttled), and once more at the end.
    let writer;
    let stopWriting = noop;
    if (cache) {
      // Only live state is written: a cached or stale view must not refresh its own age.
      writer = writeBack(cache, key, () => (mount.unmounted || state.closed || store.stale ? undefined : raw.export_root(number)));
      writeBacks.add(writer);
      stopWriting = store.subscribe(() => {
        if (!store.stale) writer.changed();
      });
      if (!store.stale) writer.changed();
    }
    const unmount = () => {
      if (mount.unmounting) return mount.unmounting;
      if (writer) {
        if (!store.stale) writer.flush();
        writer.cancel();
        writeBacks.delete(writer);
        stopWriting();
      }
      mount.unmounted = true;
      state.mounts.delete(mount);
      mount.unmounting = state.closed ? Promise.resolve() : raw.unmount(number).then(noop, (error) => { throw toError(error); });
      return mount.unmounting;
    };
    return Object.freeze({ store, unmount });
  }

  function disconnect() {
    if (state.closing) return state.closing;
    onPageHide();
    for (const writer of writeBacks) writer.cancel();
    writeBacks.clear();
    if (cache && typeof removeEventListener === "function") removeEventListener("pagehide", onPageHide);
    state.closed = true;
    for (const mount of state.mounts) mount.unmounted = true;
    state.mounts.clear();
    state.closing = raw
      .disconnect()
      .catch(noop)
      .finally(() => {
        statusListeners.clear();
        state.freed = true;
        forget();
        raw.free();
      });
    return state.closing;
  }

  return Object.freeze({
    // The runtime's status; once the module's side is released, the last one it reported.
    get status() {
      return state.freed || failed.error ? last.status : raw.status();
    },
    onStatusChange(listener) {
      if (typeof listener !== "function") throw new TypeError("onStatusChange(): listener must be a function");
      if (state.closed) return noop;
      const entry = { listener };
      statusListeners.add(entry);
      return () => void statusListeners.delete(entry);
    },
    info() {
      if (state.freed || failed.error) {
        const { status, reason } = last;
        return Object.freeze({ status, reason, url, connectedAt: null, reconnectAttempt: 0, nextRetryAt: null, roots: Object.freeze([]) });
      }
      return raw.info();
    },
    mountStore,
    disconnect,
  });
}

// A callback for the wasm side: counts the call first, so no cached snapshot outlives it (even
// when another store's callback runs first in a change and reads this store).
function fromWasm(state, callback) {
  return (argument) => {
    state.calls.count += 1;
    callback(argument);
  };
}

function makeStore(state, mount, storeId) {
  const live = () => !state.closed && !mount.unmounted;
  const number = state.raw.store(mount.number, [...storeId]);
  let last;
  // The listeners share one wasm subscription; while it exists a change calls into JS before
  // anything sees it, so a read at call count `readAt` holds until the count moves.
  const listeners = new Set();
  let shared = null; // the wasm subscription
  let readAt = -1;

  const snapshot = () => {
    if (shared !== null && readAt === state.calls.count) return last;
    if (live()) {
      try {
        const current = state.raw.snapshot(number);
        if (current !== undefined) {
          last = current;
          readAt = shared !== null ? state.calls.count : -1;
        }
      } catch (error) {
        // A failed module: the UI keeps the last good state (the status says `closed`).
        if (error.kind !== "module_failed") throw error;
      }
    }
    return last;
  };

  const notify = fromWasm(state, () => {
    for (const entry of [...listeners]) if (entry.active) callSafely(entry.listener);
  });

  const subscribe = (listener) => {
    if (typeof listener !== "function") throw new TypeError("subscribe(): listener must be a function");
    if (!live()) return noop;
    if (shared === null) shared = state.raw.subscribe(number, notify);
    const entry = { listener, active: true };
    listeners.add(entry);
    return () => {
      if (!entry.active) return;
      entry.active = false;
      listeners.delete(entry);
      if (listeners.size > 0 || shared === null) return;
      const released = shared;
      shared = null;
      // Changes while nobody listens call nothing: the next read goes to wasm.
      readAt = -1;
      if (live()) state.raw.unsubscribe(released);
    };
  };

  const onEvent = (name, listener) => {
    if (typeof name !== "string" || name === "") throw new TypeError("onEvent(): name must be a non-empty string");
    if (typeof listener !== "function") throw new TypeError("onEvent(): listener must be a function");
    if (!live()) return noop;
    const subscription = state.raw.on_event(number, name, fromWasm(state, (payload) => callSafely(listener, payload)));
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      if (live()) state.raw.unsubscribe(subscription);
    };
  };

  const dispatchCommand = (name, payload, options) => {
    if (typeof name !== "string" || name === "") return Promise.reject(new TypeError("dispatchCommand(): name must be a non-empty string"));
    const queue = options?.queue;
    if (queue !== undefined && typeof queue !== "boolean") return Promise.reject(new TypeError("dispatchCommand(): options.queue must be a boolean"));
    if (state.closed) return Promise.reject(state.errorOf("disconnected"));
    if (mount.unmounted) return Promise.reject(state.errorOf("unmounted"));
    return state.raw.command(number, name, payload ?? {}, queue).catch((error) => {
      throw toError(error);
    });
  };

  const upload = (nameOrMarker) => {
    const name = nameOrMarker !== null && typeof nameOrMarker === "object" ? nameOrMarker.__musubi_upload__ : nameOrMarker;
    if (typeof name !== "string" || name === "") throw new TypeError("upload(): name must be a non-empty string or an upload marker");
    if (!live()) throw state.errorOf(state.closed ? "disconnected" : "unmounted");
    const uploadNumber = state.raw.upload(number, name);
    let handle = mount.uploads.get(uploadNumber);
    if (!handle) {
      handle = makeUpload(state, mount, storeId, name, uploadNumber);
      mount.uploads.set(uploadNumber, handle);
    }
    return handle;
  };

  const child = (childId) => {
    const id = childId !== null && typeof childId === "object" && !Array.isArray(childId) ? childId.__musubi_store_id__ : childId;
    const checked = checkStoreId(id, "child()");
    if (!live()) throw state.errorOf(state.closed ? "disconnected" : "unmounted");
    return makeStore(state, mount, checked);
  };

  return Object.freeze({
    storeId,
    snapshot,
    subscribe,
    onEvent,
    dispatchCommand,
    child,
    upload,
    /** How many of this store's commands wait in the outbox. */
    queued() {
      try {
        return live() ? state.raw.queued(number) : 0;
      } catch (error) {
        throw toError(error);
      }
    },
    get stale() {
      try {
        return live() && state.raw.stale(number);
      } catch (error) {
        if (error.kind !== "module_failed") throw error;
        return true;
      }
    },
  });
}

const FILES_ERROR = "select(): files must be an array of Files or a FileList";
const isFileList = (value) => typeof FileList !== "undefined" && value instanceof FileList;
const isFile = (value) => typeof File !== "undefined" && value instanceof File;

/** One declared upload of a store: `store.upload(name)` (the same object for the same name). */
function makeUpload(state, mount, storeId, name, number) {
  const live = () => !state.closed && !mount.unmounted;
  let last;

  const snapshot = () => {
    if (live()) {
      try {
        const current = state.raw.upload_snapshot(number);
        if (current !== undefined) last = current;
      } catch (error) {
        if (error.kind !== "module_failed") throw error;
      }
    }
    return last;
  };
  // Read once now, so a handle released before its first read still has a snapshot.
  snapshot();

  const subscribe = (listener) => {
    if (typeof listener !== "function") throw new TypeError("subscribe(): listener must be a function");
    if (!live()) return noop;
    const subscription = state.raw.upload_subscribe(number, fromWasm(state, () => callSafely(listener)));
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      if (live()) state.raw.unsubscribe(subscription);
    };
  };

  /** Calls the wasm side's `call(number, ...args)` unless the handle is released. */
  const call = (method, ...args) => {
    if (state.closed) return Promise.reject(state.errorOf("disconnected"));
    if (mount.unmounted) return Promise.reject(state.errorOf("unmounted"));
    return state.raw[method](number, ...args).catch((error) => {
      throw toError(error);
    });
  };

  const select = (files) => {
    if (!isFileList(files) && !(Array.isArray(files) && files.every(isFile))) return Promise.reject(new TypeError(FILES_ERROR));
    return call("upload_select", Array.isArray(files) ? [...files] : files);
  };

  const cancel = (ref) => {
    if (ref !== undefined && typeof ref !== "string") return Promise.reject(new TypeError("cancel(): ref must be a string"));
    return call("upload_cancel", ref);
  };

  return Object.freeze({
    name,
    storeId,
    snapshot,
    subscribe,
    select,
    start: () => call("upload_start").then(noop),
    cancel: (ref) => cancel(ref).then(noop),
    reset: () => call("upload_reset").then(noop),
  });
}

// ---- Stash: a view's durable state in localStorage (`openStash`) ----------------------------
//
// The wasm side (`RawStash`, over the Rust `browser::Stash`) owns the semantics: per-key
// last-write-wins, vsn replacement, read-modify-write at write time, tabs kept coherent through
// `storage` events. This layer validates arguments, stringifies changes, and shows the data as
// frozen objects that stay identical until the stash changes (for `useSyncExternalStore`).

/** A stash call that failed; `kind` says why (see `index.d.ts`). Nothing stored is lost. */
export class MusubiStashError extends Error {
  constructor(options) {
    const { kind, message, cause } = options ?? {};
    super(message ?? `stash: ${kind}`, cause === undefined ? undefined : { cause });
    Object.defineProperty(this, "name", { value: "MusubiStashError", enumerable: false, configurable: true, writable: false });
    this.kind = kind;
  }

  /** Name-based check that also works across bundles and realms. */
  static is(value) {
    return value instanceof Error && value.name === "MusubiStashError";
  }
}

const stashError = (value) => (value && typeof value === "object" && value.name === "MusubiStashError" && !(value instanceof Error) ? new MusubiStashError(value) : value);

/** Parses JSON text with every object and array frozen. */
const parseFrozen = (text) => JSON.parse(text, (_, value) => (typeof value === "object" && value !== null ? Object.freeze(value) : value));

const EMPTY_VIEW = Object.freeze({});

function makeOpenStash(ready) {
  return async function openStash(view, options) {
    if (typeof view !== "string" || view === "") throw new TypeError("openStash(): view must be a non-empty string");
    const { vsn = 1, fallback = "error" } = options ?? {};
    if (!Number.isInteger(vsn) || vsn < 0 || vsn > 0xffffffff) throw new TypeError("openStash(): vsn must be an integer from 0 to 4294967295");
    if (fallback !== "error" && fallback !== "memory") throw new TypeError('openStash(): fallback must be "error" or "memory"');
    const exports = await ready();
    const listeners = new Set();
    const onChange = () => {
      for (const entry of [...listeners]) callSafely(entry.listener);
    };
    let raw;
    try {
      raw = new exports.RawStash(view, vsn, fallback === "memory", onChange);
    } catch (error) {
      throw stashError(error);
    }
    return makeStash(raw, view, vsn, listeners);
  };
}

function makeStash(raw, view, vsn, listeners) {
  let closed = false;
  const durable = raw.durable();
  // What getView() / fetchView() showed, by the wasm side's revision.
  let shown = { revision: -1, text: "{}", data: EMPTY_VIEW };
  let fetched = { revision: -1, text: undefined, view: null };

  const getView = () => {
    if (closed) return shown.data;
    const revision = raw.revision();
    if (revision !== shown.revision) {
      const text = raw.data();
      shown = { revision, text, data: text === shown.text ? shown.data : parseFrozen(text) };
    }
    return shown.data;
  };

  const fetchView = () => {
    if (closed) return fetched.view;
    const revision = raw.revision();
    if (revision !== fetched.revision) {
      const text = raw.fetch();
      fetched = { revision, text, view: text === fetched.text ? fetched.view : text === undefined ? null : parseFrozen(text) };
    }
    return fetched.view;
  };

  const write = (call) => {
    if (closed) throw new MusubiStashError({ kind: "closed", message: "the stash is closed" });
    try {
      call();
    } catch (error) {
      throw stashError(error);
    }
  };

  return Object.freeze({
    view,
    vsn,
    durable,
    get corrupt() {
      return !closed && raw.corrupt();
    },
    get lastSeenAt() {
      return closed ? null : (raw.last_seen_at() ?? null);
    },
    get: (key) => {
      const data = getView();
      return Object.hasOwn(data, key) ? data[key] : undefined;
    },
    getView,
    fetchView,
    merge: (changes) => {
      if (typeof changes !== "object" || changes === null || Array.isArray(changes)) throw new TypeError("merge(): changes must be an object");
      let text;
      try {
        text = JSON.stringify(changes);
      } catch (error) {
        throw new MusubiStashError({ kind: "invalid_value", message: `merge(): ${error.message}`, cause: error });
      }
      write(() => raw.merge(text));
    },
    drop: (keys) => {
      if (!Array.isArray(keys) || !keys.every((key) => typeof key === "string")) throw new TypeError("drop(): keys must be an array of strings");
      write(() => raw.drop_keys([...keys]));
    },
    reset: () => write(() => raw.reset()),
    subscribe: (listener) => {
      if (typeof listener !== "function") throw new TypeError("subscribe(): listener must be a function");
      if (closed) return noop;
      const entry = { listener };
      listeners.add(entry);
      return () => void listeners.delete(entry);
    },
    close: () => {
      if (closed) return;
      getView();
      fetchView();
      closed = true;
      listeners.clear();
      raw.free();
    },
  });
}
