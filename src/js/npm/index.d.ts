/**
 * musubi-wasm — a Musubi client compiled from Rust to WebAssembly.
 *
 * ```ts
 * import { connect } from "musubi-wasm";
 * const connection = await connect("ws://127.0.0.1:4000/socket");
 * const { store, unmount } = await connection.mountStore({ module: "Demo.CounterStore", id: "counter" });
 * const unsubscribe = store.subscribe(() => console.log(store.snapshot()));
 * await store.dispatchCommand("increment", { by: 1 });
 * ```
 */

/** A JSON value as the server sends it. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/** A store's id: `[]` for a root store, `["cards", "7"]` for a nested one. */
export type StoreId = readonly string[];

/** The value of an async field (`{status, data, error}`). */
export interface AsyncValue<T = Json> {
  readonly status: "loading" | "ok" | "failed";
  readonly data: T | null;
  readonly error: Json | null;
}

/**
 * A store's snapshot: a frozen plain object. Streams are arrays, async fields are
 * {@link AsyncValue}s, child stores are nested snapshots (each with `__musubi_store_id__`).
 */
export interface StoreSnapshot {
  readonly __musubi_store_id__?: StoreId;
  readonly [field: string]: unknown;
}

/** How a snapshot shows a declared upload: pass it (or its name) to {@link Store.upload}. */
export interface UploadMarker {
  readonly __musubi_upload__: string;
}

/** Maps root store modules to their snapshot types, for typed `mountStore` calls. */
export type StoreRegistry = Record<string, object>;

/**
 * Connection status shown to users, derived by the client's runtime (the Leptos hooks show the
 * same): `open` only while the socket is open and the connection channel joined; `reconnecting`
 * for the whole outage after it was open, including the wait between retries; `closed` after
 * `disconnect()` or when it cannot connect at all (the reason says what to change).
 */
export type ConnectionStatus = "connecting" | "open" | "reconnecting" | "closed";

/** One status transition. */
export interface StatusChange {
  readonly from: ConnectionStatus;
  readonly to: ConnectionStatus;
  /** Why, e.g. `"connected"`, `"connection lost (code 1006)"`, `"closed by the application"`. */
  readonly reason: string;
}

/**
 * Where a mounted root stands. `failed`: it cannot be mounted (the server refused it, or its state
 * nests deeper than the client holds); its `reason` says why, and mounting it again retries.
 */
export type RootStatus = "mounting" | "cached" | "live" | "stale" | "recovering" | "failed";

/** One mounted root, as listed by {@link Connection.info}. */
export interface RootInfo {
  readonly id: string;
  readonly module: string;
  readonly status: RootStatus;
  readonly version: number;
  readonly owners: number;
  /** Remount attempts since it was last live (timed-out remounts are retried with backoff). */
  readonly attempt: number;
  /** `Date.now()` at which the next remount runs, or `null`. */
  readonly nextRetryAt: number | null;
  /** Why it failed, or what its last remount ran into; `null` while all is well. */
  readonly reason: string | null;
  /** Commands waiting in its outbox (see {@link ConnectOptions.outbox}). */
  readonly queued: number;
}

/**
 * Why a call failed, on every `Error` the client rejects with (`error.kind`): e.g.
 * `"not_connected"`, `"unmounted"`, `"disconnected"`, `"version_mismatch"`, `"mount_failed"`,
 * `"too_deep"`, `"connect_failed"`, `"module_failed"` (a trap killed the module: reload the page),
 * `"disconnected_in_flight"` (a command was sent and the connection dropped before its reply: it
 * may or may not have run, and is never re-sent), `"outbox_full"`, `"outbox_expired"`,
 * `"upload_refused"`, `"upload_timeout"`.
 */
export type ErrorKind = string;

/** A picture of the connection for diagnostics panels. */
export interface ConnectionInfo {
  readonly status: ConnectionStatus;
  /** The wire protocol in use (`null` until `"auto"` has heard the server). */
  readonly wire: "connection" | "per-root" | null;
  /** Why the status is what it is (see {@link StatusChange.reason}). */
  readonly reason: string;
  /** The endpoint URL given to {@link connect}. */
  readonly url: string;
  /** `Date.now()` of the last successful open, or `null`. */
  readonly connectedAt: number | null;
  /** The current reconnect attempt (0 while open). */
  readonly reconnectAttempt: number;
  /** `Date.now()` at which the next reconnect runs, or `null`. */
  readonly nextRetryAt: number | null;
  readonly roots: readonly RootInfo[];
}

/** phoenix.js-style logger: `(kind, message, data)`. */
export type Logger = (kind: string, message: string, data?: unknown) => void;

/** Query params sent with every (re)connect. */
export type ConnectParams = Record<string, Json>;

/**
 * Where an upload handle stands: `idle` (nothing selected, or reset), `selecting` (files chosen
 * or being preflighted), `uploading` (a `start()` runs), `success` (the last `start()` finished
 * without errors), `error` (the preflight or an entry failed), `cancelled` (every entry of the
 * last `start()` was cancelled).
 */
export type UploadStatus = "idle" | "selecting" | "uploading" | "success" | "error" | "cancelled";

/** Where one entry (one file) stands. */
export type UploadEntryStatus = "pending" | "uploading" | "success" | "error" | "cancelled";

/**
 * An error of an entry or of the whole upload. Codes include the server's `too_large`,
 * `too_many_files`, `not_accepted`, `chunk_timeout`, `external_failed`, `preflight_rejected`,
 * and the client's `disconnected` (the connection dropped mid-way: `start()` again resends the
 * file), `timeout`, `upload_closed`, `file_unreadable`, `no_uploader`.
 */
export interface UploadError {
  readonly code: string;
  readonly message: string;
}

/** One file of an upload, as {@link UploadSnapshot.entries} shows it. */
export interface UploadEntry {
  /** The server's entry ref (pass it to {@link UploadHandle.cancel}). */
  readonly ref: string;
  readonly clientName: string;
  /** Size in bytes. */
  readonly clientSize: number;
  /** MIME type (may be empty). */
  readonly clientType: string;
  /** 0–100. */
  readonly progress: number;
  readonly status: UploadEntryStatus;
  /** The server's errors, then the client's. */
  readonly errors: readonly UploadError[];
  /** Bytes the server acknowledged (channel mode; 0 for external entries and other tabs'). */
  readonly bytesSent: number;
}

/** An upload's configuration (the server's, else the reference defaults). */
export interface UploadConfig {
  /** Accepted extensions (e.g. `[".png", ".jpg"]`), or `"any"`. */
  readonly accept: readonly string[] | "any";
  readonly maxEntries: number;
  /** Largest file in bytes. */
  readonly maxFileSize: number;
  /** Chunk size in bytes. */
  readonly chunkSize: number;
}

/**
 * An upload handle's state: a frozen plain object, the identical object until the handle
 * changes (so `useSyncExternalStore(upload.subscribe, upload.snapshot)` works).
 */
export interface UploadSnapshot {
  readonly status: UploadStatus;
  /** This client's entries in selection order, then any others the server reports. */
  readonly entries: readonly UploadEntry[];
  /** Handle-level errors (refused files, a missing uploader). */
  readonly errors: readonly UploadError[];
  /** Rounded mean progress of the entries, 0–100 (0 without entries). */
  readonly progress: number;
  readonly config: UploadConfig;
}

/**
 * One declared upload of a store (`store.upload("avatar")`; the same object for the same store
 * and name). Every member is a bound function.
 */
export interface UploadHandle {
  readonly name: string;
  readonly storeId: StoreId;
  /** The current state: the identical frozen object until it changes. */
  readonly snapshot: () => UploadSnapshot;
  /** Calls `listener` after every change (progress included); returns the unsubscribe function. */
  readonly subscribe: (listener: () => void) => () => void;
  /**
   * Preflights the files (e.g. an `<input type=file>`'s `files`); resolves with the entries once
   * the server answered. Refused files are not entries: their errors are in the snapshot's
   * `errors` (e.g. `too_large`, `not_accepted`).
   */
  readonly select: (files: readonly File[] | FileList) => Promise<readonly UploadEntry[]>;
  /**
   * Sends every pending entry (and resends those a dropped connection ended); resolves when none
   * runs any more — the snapshot's `status` and the entries' `errors` say how it went.
   */
  readonly start: () => Promise<void>;
  /** Cancels one entry (by its `ref`) or every entry; they leave the snapshot at once. */
  readonly cancel: (ref?: string) => Promise<void>;
  /** Cancels everything and clears entries and errors (`idle`). */
  readonly reset: () => Promise<void>;
}

/** What an {@link Uploader} is called with. */
export interface UploaderArgs {
  /** The entry as the handle shows it. */
  readonly entry: UploadEntry;
  readonly file: File;
  /** The server's meta for this entry (e.g. `{url, method}` to send the file to). */
  readonly meta: { readonly [key: string]: Json };
  /** Reports progress in percent (0–100). */
  readonly onProgress: (percent: number) => void;
  /** Aborted when the entry is cancelled or its root goes away. */
  readonly signal: AbortSignal;
}

/**
 * An external uploader (PROTOCOL.md §3.5): sends the file wherever the server's meta says. The
 * promise resolving means done; rejecting (or throwing) fails the entry with the message.
 */
export type Uploader = (args: UploaderArgs) => Promise<void> | void;

/** Options of {@link connect}. Every field is optional; defaults follow phoenix.js. */
export interface ConnectOptions {
  /**
   * The wire protocol: `"connection"` (Musubi 0.6.1: one connection channel), `"per-root"`
   * (Musubi 0.12+: one channel per root) or `"auto"` (the default: the connection channel when
   * the server has one, else per-root channels; decided once, at the first join).
   */
  wire?: "connection" | "per-root" | "auto";
  /** Query params, or a function evaluated at every (re)connect. */
  params?: ConnectParams | (() => ConnectParams);
  /** Auth token sent in the `Sec-WebSocket-Protocol` header (never in the URL). */
  authToken?: string | (() => string);
  /** Connection channel topic (default `"musubi:connection"`). */
  topic?: string;
  /** Heartbeat interval in ms (default 30 000). */
  heartbeatIntervalMs?: number;
  /** Push, join and command timeout in ms (default 10 000). */
  timeoutMs?: number;
  /** Reconnect delays: a table (the last entry repeats) or a function of the attempt (1-based). */
  reconnectAfterMs?: readonly number[] | ((tries: number) => number);
  /** Receives transport, channel and error events, and every frame pushed and received. */
  logger?: Logger;
  /** External uploaders by the name the server's preflight gives (e.g. `{ S3: async ({file, meta}) => … }`). */
  uploaders?: Readonly<Record<string, Uploader>>;
  /** Chunks in flight per upload entry, an integer from 1 to 64 (default 4; 1 is the reference's stop-and-wait). */
  uploadWindow?: number;
  /**
   * The command outbox (off by default): a command dispatched while its root is not live
   * (mounting, stale, recovering, the socket down) waits and is sent, in dispatch order, once the
   * root is live again. `true` uses the default bounds (100 commands, 30 s); over them a command
   * rejects with kind `"outbox_full"` / `"outbox_expired"`. Per call: `dispatchCommand(name,
   * payload, { queue })`.
   */
  outbox?: boolean | { maxQueued?: number; maxAgeMs?: number };
  /**
   * Last good state across page loads (off by default): each root's state is written back to
   * IndexedDB (at most once a second per root, and on `pagehide`), keyed by module, id and
   * params. A later `mountStore` of the same root resolves at once from a fresh entry, with
   * status `"cached"` and `store.stale` true, while the real mount proceeds; the server's state
   * then swaps in, unchanged parts keeping their identity. Cached state never satisfies a
   * command (it waits in the outbox or is refused). `maxAgeMs` (default 7 days) and a changed
   * `buster` invalidate entries; at most 32 roots are kept. **With `cache` on, `connect()`
   * resolves at once** (status `"connecting"`) instead of waiting for the join, so a page loaded
   * while the server is unreachable can still mount and show its cached roots.
   */
  cache?: boolean | { maxAgeMs?: number; buster?: string };
  /**
   * Gives up connecting: `connect()` keeps retrying until the channel is joined, so pass e.g.
   * `AbortSignal.timeout(10_000)` to bound the wait. Rejects with `signal.reason`.
   */
  signal?: AbortSignal;
}

/** Per-call options of {@link Store.dispatchCommand}. */
export interface CommandOptions {
  /** Wait in the outbox while the root is not live (`undefined`: the connection's `outbox` setting). */
  queue?: boolean;
}

/** What to mount. */
export interface MountOptions<M extends string = string> {
  module: M;
  /** Root id, unique per connection; mounting the same id again shares the root. */
  id: string;
  params?: Record<string, Json>;
}

/** A live store. Every member is a bound function, so `useSyncExternalStore(store.subscribe, store.snapshot)` works. */
export interface Store<T extends object = StoreSnapshot> {
  readonly storeId: StoreId;
  /**
   * The current snapshot: the identical frozen object until this store changes — also across the
   * remount after an outage when the store's state did not change meanwhile.
   */
  readonly snapshot: () => T;
  /**
   * Calls `listener` after every change of this store and whenever its root goes stale or live
   * again (so `useSyncExternalStore(store.subscribe, () => store.stale)` works); returns the
   * unsubscribe function.
   */
  readonly subscribe: (listener: () => void) => () => void;
  /**
   * Calls `listener(payload)` for every event named `name` this store pushes (Musubi 0.13 push
   * events): once per event, after the state that came with it is applied. Returns the
   * unsubscribe function. Events are not replayed: an event sent while the page was away is gone.
   */
  readonly onEvent: <P = unknown>(name: string, listener: (payload: P) => void) => () => void;
  /**
   * Sends a command. Resolves with the server's reply; the state change arrives right after.
   * Rejects with {@link MusubiCommandError} (failed / timeout) or an `Error` whose message is
   * `"Unmounted"`, `"Disconnected"`, `"Version mismatch"` or `"Store is not connected"`.
   * `options.queue` overrides the connection's outbox for this call (`true`: wait while the root
   * is not live; `false`: reject at once).
   */
  readonly dispatchCommand: <R = Json>(name: string, payload?: Json | Record<string, unknown>, options?: CommandOptions) => Promise<R>;
  /** How many of this store's commands wait in the outbox (its subscribers hear when it changes). */
  readonly queued: () => number;
  /** A handle to a child store of the same root (e.g. `store.child(["cards", "7"])`). */
  readonly child: <C extends object = StoreSnapshot>(storeId: StoreId) => Store<C>;
  /**
   * The store's declared upload `name`, or the one a snapshot's upload marker names
   * (`store.upload(store.snapshot().avatar)`); the same handle for the same name.
   */
  readonly upload: (name: string | UploadMarker) => UploadHandle;
  /**
   * True while the connection is lost, the root recovers or it failed: the snapshot is the last
   * good state and commands reject with `"Store is not connected"` until the remount is done.
   */
  readonly stale: boolean;
}

/** A mounted root store and the function that releases it. */
export interface MountedStore<T extends object = StoreSnapshot> {
  readonly store: Store<T>;
  /** Gives up this mount (idempotent): subscriptions made through it are released. */
  readonly unmount: () => Promise<void>;
}

/** One WebSocket to a Musubi server. */
export interface Connection<Stores extends StoreRegistry = StoreRegistry> {
  readonly status: ConnectionStatus;
  /** Calls `listener` at every status change; returns the unsubscribe function. */
  onStatusChange(listener: (change: StatusChange) => void): () => void;
  info(): ConnectionInfo;
  /** Mounts a root and resolves once its initial state is there. */
  mountStore<M extends keyof Stores & string>(options: MountOptions<M>): Promise<MountedStore<Stores[M] & object>>;
  /** Leaves the connection channel and closes the socket; pending work rejects with `Disconnected`. */
  disconnect(): Promise<void>;
}

/**
 * Opens a connection and resolves once the connection channel is joined. `url` is the socket
 * endpoint (`ws://host/socket`, `/socket` or `//host/socket`; `/websocket` is appended).
 */
export function connect<Stores extends StoreRegistry = StoreRegistry>(url: string, options?: ConnectOptions): Promise<Connection<Stores>>;

/** Loads the WebAssembly module (done automatically by {@link connect}); pass a URL to host the `.wasm` elsewhere. */
export function init(wasm?: string | URL | Request | Response | BufferSource | WebAssembly.Module): Promise<void>;

/** Options of {@link MusubiCommandError}'s constructor. */
export interface MusubiCommandErrorOptions {
  kind: "failed" | "timeout";
  /** The message (derived from `kind`, `command` and `reply` when absent). */
  message?: string;
  /** The code (derived from `reply` when absent). */
  code?: string;
  command: string;
  storeId: StoreId;
  reply?: unknown;
  cause?: unknown;
}

/** A command that failed on the server (`kind: "failed"`) or got no reply in time (`"timeout"`). */
export class MusubiCommandError extends Error {
  readonly name: "MusubiCommandError";
  readonly kind: "failed" | "timeout";
  readonly command: string;
  readonly storeId: StoreId;
  /** The server's error reply (`undefined` on timeout). */
  readonly reply: unknown;
  /** The first string among `reply.code`, `reply.error`, `reply.reason`. */
  readonly code: string | undefined;
  constructor(options: MusubiCommandErrorOptions);
  /** Name-based check that also works across bundles and realms. */
  static is(value: unknown): value is MusubiCommandError;
}

/** Counters for leak checks. */
export interface DebugStats {
  /** Bytes of `WebAssembly.Memory` (0 before {@link init}). */
  readonly memoryBytes: number;
  /** Connections, mounts, store handles, upload handles, subscriptions and cached JS objects held by the module. */
  readonly liveHandles: number;
  readonly connections: number;
  readonly mounts: number;
  readonly stores: number;
  readonly subscriptions: number;
  readonly uploads: number;
  readonly cachedObjects: number;
  /** Selected files the live connections' uploads still hold. */
  readonly heldFiles: number;
}

/** Counters of what the module holds (for leak tests and diagnostics). */
export function debugStats(): DebugStats;

// ---- Stash: a view's durable state in localStorage (openStash) -------------------------------

/**
 * Why a stash call failed (`error.kind`); every failure leaves what is stored as it was.
 * `quota_exceeded`: the write does not fit. `corrupt`: the stored data is not a stash's (written
 * by something else) — reads show the view as never stashed, writes throw until `reset()`.
 * `unavailable`: the page has no storage (see {@link StashOptions.fallback}). `invalid_value`: a
 * change is not JSON. `storage_failed`: any other storage error. `closed`: after `close()`.
 */
export type StashErrorKind = "quota_exceeded" | "corrupt" | "unavailable" | "invalid_value" | "storage_failed" | "closed";

/** A failed stash call (thrown by `merge`, `drop`, `reset`; `openStash` rejects with it). */
export class MusubiStashError extends Error {
  readonly name: "MusubiStashError";
  readonly kind: StashErrorKind;
  constructor(options: { kind: StashErrorKind; message?: string; cause?: unknown });
  /** Name-based check that also works across bundles and realms. */
  static is(value: unknown): value is MusubiStashError;
}

/** `T` with every property, element and nested object read-only (what a stash shows is frozen). */
export type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends readonly unknown[]
    ? T
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/** Options of {@link openStash}. */
export interface StashOptions {
  /**
   * The shape version of the view's data (default 1). A stash shows stored data only under its
   * own vsn; a `merge` under another vsn replaces the stored slice wholesale, so old- and
   * new-shape keys never mix. Migrate with {@link Stash.fetchView}.
   */
  vsn?: number;
  /**
   * Without storage (disabled, blocked): `"error"` (default) rejects with `unavailable`;
   * `"memory"` keeps the stash in memory for the page's life (`durable: false`).
   */
  fallback?: "error" | "memory";
}

/** What a view has stored, whatever its vsn. */
export interface StashedView {
  readonly vsn: number;
  readonly data: { readonly [key: string]: Json };
}

/**
 * A view's durable stash: small UI state (a draft, a filter) in `localStorage`, stored before
 * each write returns and shared live with the page's other stashes and the origin's other tabs.
 * Per-key last-write-wins; two tabs writing different keys never lose each other's. Members are
 * bound functions: `useSyncExternalStore(stash.subscribe, stash.getView)` works.
 */
export interface Stash<T extends object = { [key: string]: Json }> {
  readonly view: string;
  readonly vsn: number;
  /** False when the stash fell back to memory (`fallback: "memory"`). */
  readonly durable: boolean;
  /** True while the stored data is not a stash's: reads show `{}`, writes throw until `reset()`. */
  readonly corrupt: boolean;
  /** `Date.now()` of the last write (merge, drop, reset) to the view from any tab; `null` if never. */
  readonly lastSeenAt: number | null;
  /** One key's value under this vsn (`undefined` when not stashed). */
  readonly get: <K extends keyof T & string>(key: K) => DeepReadonly<T[K]> | undefined;
  /** The view's data under this vsn, frozen and identical until it changes (`{}` when never stashed). */
  readonly getView: () => DeepReadonly<Partial<T>>;
  /** What is stored whatever its vsn (frozen), or `null` when never stashed. */
  readonly fetchView: () => StashedView | null;
  /** Sets each key (last write wins per key); throws {@link MusubiStashError}. Stored when it returns. */
  readonly merge: (changes: Partial<T>) => void;
  /** Drops keys; unknown ones are ignored. */
  readonly drop: (keys: readonly (keyof T & string)[]) => void;
  /** Empties the view (it reads as never stashed); also replaces corrupt data. */
  readonly reset: () => void;
  /** Calls `listener` after every change, made here or in another tab; returns the unsubscribe function. */
  readonly subscribe: (listener: () => void) => () => void;
  /** Stops listening and releases the stash (idempotent); reads then show the last data. */
  readonly close: () => void;
}

/**
 * Opens `view`'s stash (loading the WebAssembly module first, as {@link connect} does). Rejects
 * with {@link MusubiStashError} `unavailable` when the page has no storage, unless
 * `fallback: "memory"`.
 */
export function openStash<T extends object = { [key: string]: Json }>(view: string, options?: StashOptions): Promise<Stash<T>>;
