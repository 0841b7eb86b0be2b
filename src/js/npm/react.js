"use client";
// musubi-wasm/react: React hooks over musubi-wasm (target/spec-14.md is the contract).
//
// Nothing connects or mounts during render or on the server: connections are opened by the
// provider's effect and roots by `useSyncExternalStore`'s subscribe (both run on commit only).
// Both are shared through module-level refcounts and released a short while after their last user
// goes away, so StrictMode's mount → unmount → mount and hot reloads reuse one socket and one root.
// The one exception is `useRoot(…, { suspense: true })`, which has to start work during render
// (a suspended tree is never committed); what it starts is cached and released when unclaimed.

import { createContext, createElement, useCallback, useContext, useEffect, useInsertionEffect, useMemo, useReducer, useRef, useState, useSyncExternalStore } from "react";
import { callSafely, toError } from "./api.js";
import { connect } from "./index.js";

/** How long a connection or root without users is kept (StrictMode remounts, hot reload). */
const RELEASE_MS = 50;
/** How long a connection or root started by a suspended render waits to be claimed. */
const UNCLAIMED_MS = 5_000;

const noop = () => {};
const noopSubscribe = () => noop;
const returnNull = () => null;
const returnUndefined = () => undefined;
const returnZero = () => 0;
const returnFalse = () => false;
const returnTrue = () => true;
const NONE = Symbol("none");
const { freeze } = Object;

const CONNECTING = freeze({ status: "connecting", reason: "connecting" });

function notMounted(hook, name) {
  const error = new Error(`musubi-wasm/react: ${hook}("${name}"): the root is not mounted yet`);
  error.kind = "not_mounted";
  return error;
}

/**
 * A stable key for JSON-like `value` (object keys sorted, `undefined` members dropped) and
 * whether it holds something a key cannot capture (a function, an AbortSignal, any non-plain
 * object): then `unique` is true and the value is only shared with itself.
 */
function keyOf(value) {
  let unique = false;
  const path = new Set();
  const walk = (item) => {
    if (item === undefined) return "undefined";
    if (item === null || typeof item === "boolean" || typeof item === "number" || typeof item === "string") return JSON.stringify(item);
    if (typeof item !== "object" || path.has(item)) {
      unique = true;
      return "?";
    }
    const proto = Object.getPrototypeOf(item);
    if (!Array.isArray(item) && proto !== Object.prototype && proto !== null) {
      unique = true;
      return "?";
    }
    path.add(item);
    const text = Array.isArray(item)
      ? `[${item.map(walk).join(",")}]`
      : `{${Object.keys(item)
          .filter((name) => item[name] !== undefined)
          .sort()
          .map((name) => `${JSON.stringify(name)}:${walk(item[name])}`)
          .join(",")}}`;
    path.delete(item);
    return text;
  };
  return { text: walk(value), unique };
}

// ---- Refcounted entries (connections and mounted roots) ------------------------------------

function retain(entry) {
  entry.refs += 1;
  clearTimeout(entry.timer);
  entry.timer = undefined;
}

/** Ends `entry` with `end` after `delay` ms unless it is retained again meanwhile. */
function schedule(entry, delay, end) {
  clearTimeout(entry.timer);
  entry.timer = setTimeout(() => {
    entry.timer = undefined;
    if (entry.refs === 0 && !entry.dead) end(entry);
  }, delay);
}

function release(entry, end) {
  entry.refs -= 1;
  if (entry.refs === 0) schedule(entry, RELEASE_MS, end);
}

/** Schedules the end of an entry nobody claimed once it settled (see `useRoot`'s suspense mode). */
function expireUnclaimed(entry, end) {
  entry.settled.then(() => {
    if (entry.refs === 0 && !entry.dead) schedule(entry, UNCLAIMED_MS, end);
  });
}

// Connections by `url + options` key: { key, refs, timer, claimed, dead, done, connection, error, settled }.
const connections = new Map();
let instances = 0;

function openConnection(key, url, options) {
  const entry = { key, refs: 0, timer: undefined, claimed: false, dead: false, done: false, connection: null, error: null, settled: undefined };
  let opening;
  try {
    opening = Promise.resolve(connect(url, { ...options, waitForJoin: false }));
  } catch (error) {
    opening = Promise.reject(error);
  }
  entry.settled = opening.then(
    (connection) => {
      entry.connection = connection;
      entry.done = true;
      if (entry.dead) connection.disconnect().catch(noop);
    },
    (error) => {
      entry.error = toError(error);
      entry.done = true;
    },
  );
  connections.set(key, entry);
  return entry;
}

function endConnection(entry) {
  entry.dead = true;
  if (connections.get(entry.key) === entry) connections.delete(entry.key);
  entry.connection?.disconnect().catch(noop);
}

/**
 * The provider's connection under `key`; adopts one a suspended render opened under `renderKey`
 * (the same key unless the options hold functions or signals, see {@link keyOf}).
 */
function acquireConnection(key, renderKey, url, options) {
  let entry = connections.get(key);
  if (entry === undefined && key !== renderKey) {
    const started = connections.get(renderKey);
    if (started !== undefined && !started.claimed) {
      connections.delete(renderKey);
      started.key = key;
      connections.set(key, started);
      entry = started;
    }
  }
  entry ??= openConnection(key, url, options);
  entry.claimed = true;
  retain(entry);
  return entry;
}

/** A connection for a suspended render whose provider is not committed yet (cached, unclaimed). */
function connectionForRender(renderKey, url, options) {
  let entry = connections.get(renderKey);
  if (entry === undefined) {
    entry = openConnection(renderKey, url, options);
    expireUnclaimed(entry, endConnection);
  }
  return entry;
}

// Status of each connection, as a frozen object that changes identity only on change.
const statusTrackers = new WeakMap();

function statusTracker(connection) {
  let tracker = statusTrackers.get(connection);
  if (tracker === undefined) {
    let reason = connection.status;
    try {
      reason = connection.info().reason;
    } catch {
      // A failed module: the status says it.
    }
    const { status } = connection;
    tracker = { value: status === CONNECTING.status && reason === CONNECTING.reason ? CONNECTING : freeze({ status, reason }), listeners: new Set() };
    const current = tracker;
    connection.onStatusChange(({ to, reason: why }) => {
      if (current.value.status === to && current.value.reason === why) return;
      current.value = freeze({ status: to, reason: why });
      for (const entry of [...current.listeners]) entry.listener();
    });
    statusTrackers.set(connection, tracker);
  }
  return tracker;
}

function listen(listeners, listener) {
  const entry = { listener };
  listeners.add(entry);
  return () => void listeners.delete(entry);
}

// Mounted roots by connection, then by `module + id + params` key.
const mountsByConnection = new WeakMap();

function mountsOf(connection) {
  let mounts = mountsByConnection.get(connection);
  if (mounts === undefined) {
    mounts = new Map();
    mountsByConnection.set(connection, mounts);
  }
  return mounts;
}

const peekMount = (connection, key) => mountsByConnection.get(connection)?.get(key);

function rootView(module, id, store, status, error, stale) {
  return freeze({ module, id, store, status, error, stale });
}

/** Mounts a root; `lease` is a connection entry the mount keeps alive (a suspended render's). */
function startMount(connection, key, module, id, params, lease) {
  const entry = {
    key,
    connection,
    module,
    id,
    refs: 0,
    timer: undefined,
    dead: false,
    mounted: null,
    error: null,
    failures: new Map(),
    listeners: new Set(),
    stop: noop,
    lease,
    view: rootView(module, id, null, "mounting", null, false),
    settled: undefined,
  };
  if (lease) retain(lease);
  let mounting;
  try {
    mounting = Promise.resolve(connection.mountStore(params === undefined ? { module, id } : { module, id, params }));
  } catch (error) {
    mounting = Promise.reject(error);
  }
  entry.settled = mounting.then(
    (mounted) => {
      if (entry.dead) {
        mounted.unmount().catch(noop);
        return;
      }
      entry.mounted = mounted;
      const offStore = mounted.store.subscribe(() => refreshMount(entry));
      const offStatus = connection.onStatusChange(() => refreshMount(entry));
      entry.stop = () => {
        offStore();
        offStatus();
      };
      refreshMount(entry);
    },
    (error) => {
      if (entry.dead) return;
      entry.error = toError(error);
      refreshMount(entry);
    },
  );
  mountsOf(connection).set(key, entry);
  return entry;
}

function endMount(entry) {
  entry.dead = true;
  const mounts = mountsByConnection.get(entry.connection);
  if (mounts?.get(entry.key) === entry) mounts.delete(entry.key);
  entry.stop();
  entry.listeners.clear();
  entry.mounted?.unmount().catch(noop);
  if (entry.lease) release(entry.lease, endConnection);
}

function acquireMount(connection, key, module, id, params) {
  const entry = peekMount(connection, key) ?? startMount(connection, key, module, id, params, null);
  retain(entry);
  return entry;
}

/** The root's failure after it was live (a refused remount), one Error per reason. */
function failureOf(entry, reason) {
  let error = entry.failures.get(reason);
  if (error === undefined) {
    error = new Error(reason);
    error.kind = "mount_failed";
    entry.failures.set(reason, error);
  }
  return error;
}

function refreshMount(entry) {
  const { module, id, connection } = entry;
  let next;
  if (entry.mounted === null) {
    next = entry.error ? rootView(module, id, null, "failed", entry.error, false) : entry.view;
  } else {
    const { store } = entry.mounted;
    const stale = connection.status === "closed" || store.stale;
    let status = "live";
    let error = null;
    if (stale) {
      let root;
      try {
        root = connection.info().roots.find((candidate) => candidate.id === id);
      } catch {
        // A failed module: stale it is.
      }
      status = root === undefined || root.status === "live" ? "stale" : root.status;
      if (status === "failed") error = failureOf(entry, root?.reason ?? "the root failed");
    }
    const last = entry.view;
    next = last.store === store && last.status === status && last.error === error && last.stale === stale ? last : rootView(module, id, store, status, error, stale);
  }
  if (next === entry.view) return;
  entry.view = next;
  for (const listener of [...entry.listeners]) listener.listener();
}

// Child store handles by their root store, then by the joined id (the core makes a new handle
// per `child()` call; these are released with the mount).
const childStores = new WeakMap();

/** `store`, or its child named by `storeId` (a StoreId or a child snapshot), memoized. */
function resolveStore(store, storeId) {
  if (store === null || storeId === undefined || storeId === null) return store;
  const id = Array.isArray(storeId) ? storeId : storeId.__musubi_store_id__;
  if (!Array.isArray(id)) throw new TypeError("musubi-wasm/react: storeId must be a store id (an array of strings) or a child store's snapshot");
  const joined = JSON.stringify(id);
  if (joined === JSON.stringify(store.storeId)) return store;
  let children = childStores.get(store);
  if (children === undefined) {
    children = new Map();
    childStores.set(store, children);
  }
  let child = children.get(joined);
  if (child === undefined) {
    child = store.child(id);
    children.set(joined, child);
  }
  return child;
}

// ---- Context and provider ----------------------------------------------------------------

// The provider's value: { connection, failure, pending, connectForRender }; null outside one.
const MusubiContext = createContext(null);

function useMusubiContext(hook) {
  const context = useContext(MusubiContext);
  if (context === null) throw new Error(`musubi-wasm/react: ${hook}() must be used inside <MusubiProvider>`);
  return context;
}

/** True on the server and while hydrating (what the server rendered must be rendered again). */
const useServerSnapshot = () => useSyncExternalStore(noopSubscribe, returnFalse, returnTrue);

const NO_CONNECTION = freeze({ renderKey: null, entry: null, connection: null, failure: null });

function deferred() {
  let resolve = noop;
  const promise = new Promise((settle) => (resolve = settle));
  return { promise, resolve };
}

/**
 * Owns one connection for its subtree, opened in an effect (never during render or on the
 * server) with `connect(url, { ...options, waitForJoin: false })`. Providers with the same `url`
 * and options share one connection; it is closed shortly after its last provider unmounts.
 * Options holding functions or AbortSignals are not shared, and are read when the connection
 * opens (a new function identity does not reconnect). With `connection`, the app's own
 * connection is used and never disconnected (`connection={null}`: not there yet).
 *
 * ```jsx
 * <MusubiProvider url="/socket" options={{ params: { token } }}>
 *   <App />
 * </MusubiProvider>
 * ```
 */
export function MusubiProvider(props) {
  const { url, options, children } = props;
  const external = props.connection;
  const own = external === undefined;
  const shape = own ? keyOf(options ?? {}) : null;
  const renderKey = own ? `${url}\u0000${shape.text}` : null;
  const unique = own && shape.unique;
  const instance = useRef(0);
  const [state, setState] = useState(NO_CONNECTION);
  const [waiting] = useState(deferred);

  useEffect(() => {
    if (!own) return undefined;
    // Same fiber, same id: a StrictMode or hot-reload re-run finds its own connection again.
    if (instance.current === 0) instance.current = ++instances;
    const key = unique ? `${renderKey}\u0000#${instance.current}` : renderKey;
    const entry = acquireConnection(key, renderKey, url, options);
    let active = true;
    const publish = () => {
      if (!active) return;
      setState((last) =>
        last.entry === entry && last.connection === entry.connection && last.failure === entry.error
          ? last
          : freeze({ renderKey, entry, connection: entry.connection, failure: entry.error }),
      );
    };
    publish();
    if (!entry.done) entry.settled.then(publish);
    return () => {
      active = false;
      release(entry, endConnection);
    };
    // `options` is part of `renderKey` (its functions are read once, when the connection opens).
  }, [own, url, renderKey, unique]);

  useEffect(() => {
    if (!own && external !== null) waiting.resolve();
  }, [own, external, waiting]);

  // Options are captured with their key: the render-time path opens what the effect would.
  const connectForRender = useMemo(() => (own ? () => connectionForRender(renderKey, url, options) : null), [own, renderKey]);
  const current = own && state.renderKey === renderKey ? state : NO_CONNECTION;
  const value = useMemo(() => {
    if (!own) return freeze({ connection: external ?? null, failure: null, pending: external ? null : waiting.promise, connectForRender: null });
    const pending = current.entry !== null && !current.entry.done ? current.entry.settled : null;
    return freeze({ connection: current.connection, failure: current.failure, pending, connectForRender });
  }, [own, external, waiting, current, connectForRender]);
  return createElement(MusubiContext.Provider, { value }, children);
}

// ---- Hooks -------------------------------------------------------------------------------

/**
 * The provider's connection, or `null` until it exists (and on the server).
 *
 * ```jsx
 * const connection = useConnection();
 * const roots = connection?.info().roots ?? [];
 * ```
 */
export function useConnection() {
  const { connection } = useMusubiContext("useConnection");
  const getSnapshot = useCallback(() => connection, [connection]);
  return useSyncExternalStore(noopSubscribe, getSnapshot, returnNull);
}

/**
 * `{ status, reason }` of the provider's connection: a frozen object that changes identity only
 * when one of them changes; `"connecting"` before the connection exists and on the server.
 *
 * ```jsx
 * const { status, reason } = useConnectionStatus();
 * return <span className={status} title={reason}>{status}</span>;
 * ```
 */
export function useConnectionStatus() {
  const { connection, failure } = useMusubiContext("useConnectionStatus");
  const subscribe = useCallback((listener) => (connection ? listen(statusTracker(connection).listeners, listener) : noop), [connection]);
  const fallback = useMemo(() => (failure ? freeze({ status: "closed", reason: failure.message }) : CONNECTING), [failure]);
  const getSnapshot = useCallback(() => (connection ? statusTracker(connection).value : fallback), [connection, fallback]);
  return useSyncExternalStore(subscribe, getSnapshot, () => CONNECTING);
}

function serverSuspenseError(module, id) {
  const error = new Error(`musubi-wasm/react: useRoot("${module}", "${id}", …, { suspense: true }) renders on the client only; on the server the nearest <Suspense> shows its fallback`);
  error.kind = "server";
  return error;
}

/**
 * Mounts root `module` under `id` (with `params`) for as long as the component is mounted →
 * `{ module, id, store, status, error, stale }`, frozen, a new object only when a field changes.
 * `status` is `"idle"` without a connection (and on the server), `"mounting"`, then the root's
 * status; a mount error is in `error` (status `"failed"`). Components mounting the same root
 * share it; it is unmounted shortly after the last one goes. With `{ suspense: true }` the
 * component suspends until the root is mounted (and throws a mount error to the nearest error
 * boundary), so `store` is never null.
 *
 * ```jsx
 * const root = useRoot("MyApp.CounterStore", "counter", { start: 1 });
 * const count = useStore(root, undefined, (snapshot) => snapshot.count);
 * if (root.error) return <p>{root.error.message}</p>;
 * ```
 */
export function useRoot(module, id, params, options) {
  const context = useMusubiContext("useRoot");
  const suspense = options?.suspense === true;
  const server = useServerSnapshot();
  const key = `${module}\u0000${id}\u0000${keyOf(params).text}`;
  let connection = context.connection;
  // A suspended tree is never committed, so a provider inside it never runs its effect: the
  // render opens (and caches) the connection the provider's effect will adopt.
  let lease = null;
  if (suspense && !server && connection === null && context.failure === null && context.pending === null && context.connectForRender !== null) {
    lease = context.connectForRender();
    connection = lease.connection;
  }
  const failure = context.failure ?? lease?.error ?? null;
  const waitingStatus = connection !== null ? "mounting" : failure !== null ? "failed" : "idle";
  const placeholder = useMemo(() => rootView(module, id, null, waitingStatus, failure, false), [module, id, waitingStatus, failure]);
  const idle = useMemo(() => rootView(module, id, null, "idle", null, false), [module, id]);
  // `params` is part of `key`.
  const subscribe = useCallback(
    (listener) => {
      if (connection === null) return noop;
      const entry = acquireMount(connection, key, module, id, params);
      const stop = listen(entry.listeners, listener);
      return () => {
        stop();
        release(entry, endMount);
      };
    },
    [connection, key],
  );
  const getSnapshot = useCallback(() => (connection !== null ? peekMount(connection, key)?.view : undefined) ?? placeholder, [connection, key, placeholder]);
  const view = useSyncExternalStore(subscribe, getSnapshot, () => idle);
  if (!suspense) return view;

  if (server) throw serverSuspenseError(module, id);
  if (connection === null) {
    if (failure !== null) throw failure;
    throw context.pending ?? lease?.settled ?? context.connectForRender?.().settled ?? Promise.resolve();
  }
  let entry = peekMount(connection, key);
  if (entry === undefined) {
    entry = startMount(connection, key, module, id, params, context.connection === null ? lease : null);
    expireUnclaimed(entry, endMount);
  }
  if (entry.mounted === null) throw entry.error ?? entry.settled;
  return view.store !== null ? view : entry.view;
}

/**
 * A store's snapshot, re-rendering when it changes (`useSyncExternalStore`; `undefined` on the
 * server and while `root` has no store). `storeId`: omitted for the root store, or a child's
 * store id or snapshot. With `selector`, returns `selector(snapshot)` and re-renders only when
 * `isEqual(previous, next)` (default `Object.is`) is false, keeping the previous value.
 *
 * ```jsx
 * const title = useStore(root, card, (c) => c.title); // card: a child snapshot
 * const totals = useStore(root, undefined, (s) => ({ n: s.count }), (a, b) => a.n === b.n);
 * ```
 */
export function useStore(root, storeId, selector, isEqual) {
  useMusubiContext("useStore");
  if (typeof storeId === "function") {
    // useStore(root, selector, isEqual?)
    [storeId, selector, isEqual] = [undefined, storeId, selector];
  }
  const store = resolveStore(root?.store ?? null, storeId);
  const committed = useRef(NONE);
  const getSnapshot = useMemo(() => {
    if (store === null) return returnUndefined;
    if (typeof selector !== "function") return store.snapshot;
    const equal = typeof isEqual === "function" ? isEqual : Object.is;
    let lastSnapshot = NONE;
    let lastSelection;
    return () => {
      const snapshot = store.snapshot();
      if (snapshot === undefined) return undefined;
      if (snapshot === lastSnapshot) return lastSelection;
      const next = selector(snapshot);
      const previous = lastSnapshot !== NONE ? lastSelection : committed.current;
      lastSnapshot = snapshot;
      lastSelection = previous !== NONE && equal(previous, next) ? previous : next;
      return lastSelection;
    };
  }, [store, selector, isEqual]);
  const value = useSyncExternalStore(store !== null ? store.subscribe : noopSubscribe, getSnapshot, returnUndefined);
  useEffect(() => {
    // What `isEqual` may compare the next selection with: a selection, never "no store yet".
    committed.current = store !== null && store.snapshot() !== undefined ? value : NONE;
  }, [store, value]);
  return value;
}

/** A ref holding `value` as of the last committed render (for callbacks called later). */
function useLatest(value) {
  const latest = useRef(value);
  useInsertionEffect(() => {
    latest.current = value;
  });
  return latest;
}

/** Calls an application callback if it gave one; what it throws is reported (as uncaught). */
function notify(callback, ...args) {
  if (typeof callback === "function") callSafely(callback, ...args);
}

const IDLE_COMMAND = freeze({ inFlight: 0, error: null, data: undefined });

function commandReducer(state, action) {
  switch (action.type) {
    case "start":
      return { ...state, inFlight: state.inFlight + 1 };
    case "settle":
      return action.current ? { inFlight: state.inFlight - 1, error: action.error, data: action.data } : { ...state, inFlight: state.inFlight - 1 };
    case "refuse":
      return { ...state, error: action.error, data: undefined };
    case "reset":
      return state.error === null && state.data === undefined ? state : { ...state, error: null, data: undefined };
    default:
      return state;
  }
}

/**
 * Command `name` of the root store (or of `options.storeId`): `dispatch(payload?, options?)`
 * never rejects (failures land in `error`, it resolves `undefined`), `dispatchAsync` rejects;
 * `pending` while any call is in flight, `data`/`error` of the last settled call, `queued` the
 * store's outbox count, `reset()` clears `data` and `error`. Before the root is mounted calls
 * fail with kind `"not_mounted"`. `options.onSuccess(reply, payload)` and
 * `options.onError(error, payload)` are called once for every call this hook started (the
 * latest callbacks; a callback that throws is reported, and changes nothing else).
 *
 * ```jsx
 * const increment = useCommand(root, "increment", { onError: (error) => toast(error.message) });
 * <button disabled={increment.pending} onClick={() => increment.dispatch({ by: 1 })}>+1</button>
 * {increment.error && <p>{increment.error.message}</p>}
 * ```
 */
export function useCommand(root, name, options) {
  useMusubiContext("useCommand");
  const store = resolveStore(root?.store ?? null, options?.storeId);
  const [state, update] = useReducer(commandReducer, IDLE_COMMAND);
  // Calls started before a reset() do not set data/error when they settle.
  const generation = useRef(0);
  const callbacks = useLatest(options);
  const dispatchAsync = useCallback(
    (payload, commandOptions) => {
      if (store === null) {
        const error = notMounted("useCommand", name);
        update({ type: "refuse", error });
        notify(callbacks.current?.onError, error, payload);
        return Promise.reject(error);
      }
      const started = generation.current;
      update({ type: "start" });
      let call;
      try {
        call = Promise.resolve(store.dispatchCommand(name, payload, commandOptions));
      } catch (error) {
        call = Promise.reject(error);
      }
      return call.then(
        (reply) => {
          update({ type: "settle", current: started === generation.current, error: null, data: reply });
          notify(callbacks.current?.onSuccess, reply, payload);
          return reply;
        },
        (failure) => {
          const error = toError(failure);
          update({ type: "settle", current: started === generation.current, error, data: undefined });
          notify(callbacks.current?.onError, error, payload);
          throw error;
        },
      );
    },
    [store, name, callbacks],
  );
  const dispatch = useCallback((payload, commandOptions) => dispatchAsync(payload, commandOptions).catch(returnUndefined), [dispatchAsync]);
  const reset = useCallback(() => {
    generation.current += 1;
    update({ type: "reset" });
  }, []);
  const queued = useSyncExternalStore(store !== null ? store.subscribe : noopSubscribe, store !== null ? store.queued : returnZero, returnZero);
  const pending = state.inFlight > 0;
  return useMemo(
    () => freeze({ dispatch, dispatchAsync, pending, error: state.error, data: state.data, queued, reset }),
    [dispatch, dispatchAsync, pending, state.error, state.data, queued, reset],
  );
}

/**
 * Calls `callback(payload)` for each push event `name` of the root store (or of
 * `options.storeId`) while the component is mounted. The latest `callback` is called; a new one
 * each render does not resubscribe.
 *
 * ```jsx
 * const [toast, setToast] = useState(null);
 * useEvent(root, "toast", (payload) => setToast(payload.text));
 * ```
 */
export function useEvent(root, name, callback, options) {
  useMusubiContext("useEvent");
  const store = resolveStore(root?.store ?? null, options?.storeId);
  const latest = useLatest(callback);
  useEffect(() => {
    if (store === null) return undefined;
    return store.onEvent(name, (payload) => latest.current?.(payload));
  }, [store, name]);
}

const uploadName = (name) => (typeof name === "string" ? name : name?.__musubi_upload__);

/**
 * Upload `name` of the root store (or of `options.storeId`) → `{ handle, snapshot, select(files),
 * start(), cancel(ref?), reset() }`; `snapshot` re-renders with every change (progress included).
 * `handle`/`snapshot` are null and the functions reject with kind `"not_mounted"` until the root
 * is mounted.
 *
 * ```jsx
 * const avatar = useUpload(root, "avatar");
 * <input type="file" onChange={async (e) => { await avatar.select(e.target.files); await avatar.start(); }} />
 * <progress max={100} value={avatar.snapshot?.progress ?? 0} />
 * ```
 */
export function useUpload(root, name, options) {
  useMusubiContext("useUpload");
  const store = resolveStore(root?.store ?? null, options?.storeId);
  const label = uploadName(name);
  const handle = useMemo(() => {
    if (store === null) return null;
    try {
      return store.upload(name);
    } catch (error) {
      // The root just went away (this render is about to be replaced).
      if (error?.kind === "unmounted" || error?.kind === "disconnected") return null;
      throw error;
    }
    // `name` is named by `label`.
  }, [store, label]);
  const snapshot = useSyncExternalStore(handle !== null ? handle.subscribe : noopSubscribe, handle !== null ? handle.snapshot : returnNull, returnNull) ?? null;
  const actions = useMemo(() => {
    const refuse = () => Promise.reject(notMounted("useUpload", label));
    if (handle === null) return { select: refuse, start: refuse, cancel: refuse, reset: refuse };
    return { select: handle.select, start: handle.start, cancel: handle.cancel, reset: handle.reset };
  }, [handle, label]);
  return useMemo(() => freeze({ handle, snapshot, ...actions }), [handle, snapshot, actions]);
}
