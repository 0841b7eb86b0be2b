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
 *
 * Declare the server's stores once ({@link Register}) and these calls are checked: module names,
 * snapshot fields, command names, payloads and replies, event names and payloads. Without a
 * registry everything compiles, and snapshot fields, replies and event payloads are `unknown`.
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

// ---- Typed stores: specs and the registry ---------------------------------------------------

/**
 * What the client knows about one store module. Each part is optional: a part declared (as a
 * required property) is checked, a part left out stays untyped.
 *
 * - `snapshot`: the snapshot's shape, shown {@link Frozen}. Left out: {@link StoreSnapshot}
 *   (every field `unknown`, so code must narrow).
 * - `commands`: command name → {@link CommandSpec} (`{ payload?, reply? }`). Declared, a wrong
 *   name or payload fails to compile and replies are typed; `commands: {}` means "no commands".
 *   Left out: any name, payload {@link UntypedPayload}, reply `unknown`.
 * - `events`: event name → payload type (Musubi 0.13 push events). Left out: any name, payload
 *   `unknown`.
 *
 * Child stores are declared in the parent's snapshot with {@link ChildSnapshot}:
 *
 * ```ts
 * interface CardSpec {
 *   snapshot: { title: string; done: boolean };
 *   commands: { rename: { payload: { title: string } }; toggle: {} };
 * }
 * interface BoardSpec {
 *   snapshot: { cards: ChildSnapshot<CardSpec>[]; stats: AsyncValue<{ total: number }> };
 *   commands: { add_card: { payload: { title: string }; reply: { id: string } } };
 *   events: { card_added: { id: string } };
 * }
 * ```
 */
export interface StoreSpec {
  snapshot?: object;
  commands?: object;
  events?: object;
}

/**
 * One command of a {@link StoreSpec}'s `commands`. `payload`: what `dispatchCommand(name, payload)`
 * takes — required, unless its type admits `undefined` (`payload?: {…}`, `payload: void`); left
 * out: the command takes no payload. `reply`: what the command resolves with (left out: `unknown`).
 *
 * ```ts
 * commands: {
 *   increment: { payload: { by: number }; reply: { count: number } };
 *   reset: {}; // dispatchCommand("reset")
 * }
 * ```
 */
export interface CommandSpec {
  payload?: unknown;
  reply?: unknown;
}

/**
 * The app's store registry — module name → {@link StoreSpec} — declared once by module
 * augmentation. It becomes the default registry of {@link connect}, {@link Connection} and every
 * `musubi-wasm/react` hook (also for `musubi-wasm/bundler`, which re-exports these types):
 *
 * ```ts
 * interface Stores {
 *   "Demo.CounterStore": {
 *     snapshot: { count: number; label: string };
 *     commands: { increment: { payload: { by: number }; reply: { count: number } } };
 *     events: { toast: { text: string } };
 *   };
 * }
 * declare module "musubi-wasm" {
 *   interface Register { stores: Stores }
 * }
 * ```
 *
 * (The declaring file must be a module: it imports or exports something.) Without it any module
 * name mounts and every store is untyped ({@link UntypedStores}). To type one connection only,
 * pass the registry as a type argument instead: `connect<Stores>(url)`.
 */
export interface Register {}

/**
 * The registry in effect: the one declared in {@link Register}, else {@link UntypedStores}. A
 * declared registry that is not a {@link StoreRegistry} (an entry is not a spec) has one module
 * name, an error message, so every `mountStore`/`useRoot` call points at the mistake.
 */
export type RegisteredStores = Register extends { readonly stores: infer Stores extends object }
  ? Stores extends StoreRegistry<Stores>
    ? Stores
    : InvalidRegistry
  : UntypedStores;

/** What a malformed `Register["stores"]` turns into (see {@link RegisteredStores}). */
interface InvalidRegistry {
  readonly "musubi-wasm: Register's stores must map each module name to a StoreSpec ({ snapshot?, commands?, events? })": never;
}

/** The registry when none is declared: every module name mounts, each store untyped. */
export interface UntypedStores {
  readonly [module: string]: StoreSpec;
}

/**
 * The shape a registry must have: module name → {@link StoreSpec}. Any object type of that shape
 * is a registry — an `interface` too (no index signature needed); `connect<Stores>()` checks its
 * type argument against `StoreRegistry<Stores>`, so an entry that is not a spec (e.g. a bare
 * snapshot type) fails to compile there.
 */
export type StoreRegistry<Stores = UntypedStores> = { readonly [M in keyof Stores]: StoreSpec };

/** A registry's module names (`string` without a registry). */
export type ModuleName<Stores extends object = RegisteredStores> = keyof Stores & string;

/** The spec a registry gives module `M` ({@link StoreSpec}, i.e. untyped, when it has none). */
export type SpecOf<M extends string, Stores extends object = RegisteredStores> = M extends keyof Stores
  ? Stores[M] extends StoreSpec
    ? Stores[M]
    : StoreSpec
  : StoreSpec;

/** A spec's snapshot type: its declared `snapshot`, {@link Frozen}; {@link StoreSnapshot} when it declares none. */
export type SnapshotOf<Spec extends StoreSpec> = Spec extends { readonly snapshot: infer S extends object } ? Frozen<S> : StoreSnapshot;

/**
 * `T` as a snapshot shows it: frozen, so every property and element is read-only all the way
 * down. Child snapshots ({@link ChildSnapshot}) stay as they are (their brand included).
 */
export type Frozen<T> =
  T extends ChildBrand<infer Spec>
    ? unknown extends Spec
      ? { readonly [K in keyof T]: Frozen<T[K]> }
      : T
    : T extends (...args: never[]) => unknown
      ? T
      : T extends readonly (infer E)[]
        ? readonly Frozen<E>[]
        : T extends object
          ? { readonly [K in keyof T]: Frozen<T[K]> }
          : T;

/** What names a child store in its parent's snapshot; `store.child()` takes one (or a {@link StoreId}). */
export interface ChildRef {
  readonly __musubi_store_id__: StoreId;
}

/** Type-only: never present at run time. */
declare const childSpec: unique symbol;

/** A child snapshot's phantom brand: the child's spec. */
interface ChildBrand<Spec> extends ChildRef {
  readonly [childSpec]?: Spec;
}

/**
 * A {@link ChildRef} without a spec brand (an id object made by hand, or a declared snapshot
 * type that does not use {@link ChildSnapshot}): it names an untyped child store. A branded
 * child snapshot is not one, so where a typed child is expected it cannot fall back to untyped.
 */
export interface UntypedChildRef extends ChildRef {
  readonly [childSpec]?: undefined;
}

/**
 * A child store's snapshot as its parent's snapshot nests it (e.g. one of a board's `cards`):
 * the child's {@link SnapshotOf} plus `__musubi_store_id__`, carrying the child's spec as a
 * type-only brand, so `store.child(board.cards[0])` — and the React hooks' `storeId` — infer
 * `Store<CardSpec>`. Declare it in the parent's spec: `snapshot: { cards: ChildSnapshot<CardSpec>[] }`.
 */
export type ChildSnapshot<Spec extends StoreSpec = StoreSpec> = SnapshotOf<Spec> & ChildBrand<Spec>;

/** A command payload where commands are not declared. */
export type UntypedPayload = Json | Record<string, unknown>;

/** A spec's command names (`string` when it declares no `commands`). */
export type CommandName<Spec extends StoreSpec> = Spec extends { readonly commands: infer C extends object } ? keyof C & string : string;

/**
 * What command `N` takes: its declared `payload` (`undefined` when it declares none);
 * {@link UntypedPayload} when the spec declares no `commands`.
 */
export type CommandPayload<Spec extends StoreSpec, N extends string> = Spec extends { readonly commands: infer C extends object }
  ? N extends keyof C
    ? "payload" extends keyof C[N]
      ? C[N]["payload" & keyof C[N]]
      : undefined
    : never
  : UntypedPayload;

/** What command `N` resolves with: its declared `reply`, else `unknown`. */
export type CommandReply<Spec extends StoreSpec, N extends string> = Spec extends { readonly commands: infer C extends object }
  ? N extends keyof C
    ? "reply" extends keyof C[N]
      ? C[N]["reply" & keyof C[N]]
      : unknown
    : never
  : unknown;

/**
 * The arguments after a command's name: `[payload, options?]` — the payload optional when the
 * command declares none (or one that admits `undefined`) and when commands are untyped.
 */
export type CommandArgs<Spec extends StoreSpec, N extends string> = Spec extends { readonly commands: object }
  ? undefined extends CommandPayload<Spec, N>
    ? [payload?: CommandPayload<Spec, N>, options?: CommandOptions]
    : [payload: CommandPayload<Spec, N>, options?: CommandOptions]
  : [payload?: UntypedPayload, options?: CommandOptions];

/** A spec's event names (`string` when it declares no `events`). */
export type EventName<Spec extends StoreSpec> = Spec extends { readonly events: infer E extends object } ? keyof E & string : string;

/** Event `N`'s payload: as declared; `unknown` when the spec declares no `events`. */
export type EventPayload<Spec extends StoreSpec, N extends string> = Spec extends { readonly events: infer E extends object }
  ? N extends keyof E
    ? E[N]
    : never
  : unknown;

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
 * `"upload_refused"`, `"upload_timeout"`, `"id_in_use"` (`mountStore` of another module under an
 * id that is already mounted; the message names both modules), `"unknown_store"` (`child()` of a
 * store id the live root does not have; thrown, not a rejection), and `musubi-wasm/react`'s
 * `"not_mounted"` (a hook's command or upload used before its root is mounted) and `"server"`
 * (`useRoot(…, { suspense: true })` rendered on the server).
 */
export type ErrorKind = string;

/**
 * An `Error` as the client rejects or throws with: `kind` says why (see {@link ErrorKind}).
 *
 * ```ts
 * catch (error) { if ((error as MusubiError).kind === "id_in_use") … }
 * ```
 */
export interface MusubiError extends Error {
  readonly kind?: ErrorKind;
}

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
  /**
   * Wait for the join (default `true`): `connect()` resolves once the connection channel is
   * joined. `false`: it resolves as soon as the WebAssembly module is loaded, with status
   * `"connecting"`; roots mounted meanwhile go out once it is joined (their `mountStore()`
   * resolves then). The React `MusubiProvider` connects this way, so it never blocks rendering.
   */
  waitForJoin?: boolean;
  /**
   * Development hints (default `true` in development builds): one `console.warn` when the
   * connection has not joined 5 s after `connect()`, naming the URL it tried and the likely fix —
   * a dev server without a WebSocket proxy for the socket path, a wrong path, or the server being
   * down. `false` silences it.
   */
  diagnostics?: boolean;
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

/**
 * A live store, typed by its {@link StoreSpec} (untyped by default). Every member is a bound
 * function, so `useSyncExternalStore(store.subscribe, store.snapshot)` works.
 *
 * ```ts
 * const counter: Store<CounterSpec> = (await connection.mountStore({ module: "Demo.CounterStore", id: "c" })).store;
 * const { count } = await counter.dispatchCommand("increment", { by: 1 }); // reply: { count: number }
 * counter.onEvent("toast", ({ text }) => alert(text));
 * ```
 */
export interface Store<Spec extends StoreSpec = StoreSpec> {
  readonly storeId: StoreId;
  /**
   * The current snapshot: the identical frozen object until this store changes — also across the
   * remount after an outage when the store's state did not change meanwhile.
   */
  readonly snapshot: () => SnapshotOf<Spec>;
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
   * With declared `events` the name is checked and the payload typed; without, any name, and the
   * payload is `unknown` (or what `onEvent<P>` says).
   */
  readonly onEvent: Spec extends { readonly events: object }
    ? <N extends EventName<Spec>>(name: N, listener: (payload: EventPayload<Spec, N>) => void) => () => void
    : <P = unknown>(name: string, listener: (payload: P) => void) => () => void;
  /**
   * Sends a command. Resolves with the server's reply; the state change arrives right after.
   * Rejects with {@link MusubiCommandError} (failed / timeout) or an `Error` whose message is
   * `"Unmounted"`, `"Disconnected"`, `"Version mismatch"` or `"Store is not connected"`.
   * `options.queue` overrides the connection's outbox for this call (`true`: wait while the root
   * is not live; `false`: reject at once). With declared `commands` the name and payload are
   * checked ({@link CommandArgs}) and the reply typed ({@link CommandReply}); without, any name,
   * an {@link UntypedPayload}, and the reply is `unknown` (or what `dispatchCommand<R>` says).
   */
  readonly dispatchCommand: Spec extends { readonly commands: object }
    ? <N extends CommandName<Spec>>(name: N, ...args: CommandArgs<Spec, N>) => Promise<CommandReply<Spec, N>>
    : <R = unknown>(name: string, payload?: UntypedPayload, options?: CommandOptions) => Promise<R>;
  /** How many of this store's commands wait in the outbox (its subscribers hear when it changes). */
  readonly queued: () => number;
  /**
   * A handle to a child store of the same root, by its id or its snapshot nested in this one's:
   * `store.child(board.cards[0])` infers the child's spec from a {@link ChildSnapshot};
   * `store.child<CardSpec>(["cards", "7"])` names it (untyped by default). Throws an `Error` of
   * kind `"unknown_store"` when the live root has no such store.
   */
  readonly child: {
    <C extends StoreSpec>(snapshot: ChildSnapshot<C>): Store<C>;
    <C extends StoreSpec = StoreSpec>(storeId: StoreId | ChildRef): Store<C>;
  };
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
export interface MountedStore<Spec extends StoreSpec = StoreSpec> {
  readonly store: Store<Spec>;
  /** Gives up this mount (idempotent): subscriptions made through it are released. */
  readonly unmount: () => Promise<void>;
}

/**
 * One WebSocket to a Musubi server, typed by a store registry (by default the registered one,
 * {@link Register}).
 */
export interface Connection<Stores extends object = RegisteredStores> {
  readonly status: ConnectionStatus;
  /** Calls `listener` at every status change; returns the unsubscribe function. */
  onStatusChange(listener: (change: StatusChange) => void): () => void;
  info(): ConnectionInfo;
  /**
   * Mounts a root and resolves once its initial state is there; the store is typed by the
   * registry's spec for `module` (with a registry, an unknown module fails to compile).
   * Mounting another module under an id that is already mounted rejects with kind `"id_in_use"`.
   */
  mountStore<M extends ModuleName<Stores>>(options: MountOptions<M>): Promise<MountedStore<SpecOf<M, Stores>>>;
  /** Leaves the connection channel and closes the socket; pending work rejects with `Disconnected`. */
  disconnect(): Promise<void>;
}

/**
 * Opens a connection and resolves once the connection channel is joined (at once with
 * `waitForJoin: false` or `cache`). `url` is the socket endpoint (`ws://host/socket`, `/socket`
 * or `//host/socket`; `/websocket` is appended).
 *
 * Outside a browser (no `WebSocket`, e.g. during server-side rendering) it throws synchronously —
 * not a rejection — `Error("musubi-wasm needs a browser (WebSocket); on the server render from a snapshot")`.
 *
 * The connection is typed by the registered stores ({@link Register}); `connect<Stores>()` types
 * this one connection instead (`Stores` may be an `interface`):
 *
 * ```ts
 * const connection = await connect<Stores>("/socket");
 * const { store } = await connection.mountStore({ module: "Demo.CounterStore", id: "counter" });
 * const { count } = await store.dispatchCommand("increment", { by: 1 });
 * ```
 */
export function connect<Stores extends StoreRegistry<Stores> = RegisteredStores>(url: string, options?: ConnectOptions): Promise<Connection<Stores>>;

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

// Only the declarations marked `export` are public (the brand and helpers above are not).
export {};
