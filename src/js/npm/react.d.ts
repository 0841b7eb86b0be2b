/**
 * musubi-wasm/react — React hooks over musubi-wasm, typed by the registered stores
 * (`declare module "musubi-wasm" { interface Register { stores: Stores } }`, see {@link Register}).
 *
 * ```tsx
 * import { MusubiProvider, useRoot, useStore, useCommand } from "musubi-wasm/react";
 *
 * function Counter() {
 *   const root = useRoot("Demo.CounterStore", "counter");
 *   const count = useStore(root, undefined, (s) => s.count);
 *   const increment = useCommand(root, "increment");
 *   if (count === undefined) return <p>connecting…</p>;
 *   return <button onClick={() => increment.dispatch({ by: 1 })}>{count}</button>;
 * }
 *
 * export const App = () => <MusubiProvider url="/socket"><Counter /></MusubiProvider>;
 * ```
 *
 * Nothing connects or mounts during render or on the server (except `useRoot`'s suspense mode on
 * the client). Every hook throws `Error("musubi-wasm/react: <hook>() must be used inside
 * <MusubiProvider>")` outside a provider. Without a registry every name is accepted and snapshot
 * fields, replies and event payloads are `unknown`.
 */

import type { ReactNode } from "react";
import type {
  ChildRef,
  ChildSnapshot,
  CommandArgs,
  CommandName,
  CommandReply,
  ConnectOptions,
  Connection,
  ConnectionStatus,
  EventName,
  EventPayload,
  Json,
  ModuleName,
  MusubiError,
  Register,
  RootStatus,
  SnapshotOf,
  SpecOf,
  Store,
  StoreId,
  StoreSnapshot,
  StoreSpec,
  UntypedChildRef,
  UploadEntry,
  UploadHandle,
  UploadMarker,
  UploadSnapshot,
} from "./index.js";

// ---- Provider and connection -----------------------------------------------------------------

/**
 * Props of {@link MusubiProvider}: either `url` (and `options`) for a connection the provider
 * owns, or `connection` for one the app owns.
 */
export type MusubiProviderProps = MusubiOwnConnectionProps | MusubiAppConnectionProps;

/** The provider opens (and closes) the connection itself. */
export interface MusubiOwnConnectionProps {
  /** The socket endpoint, as for `connect()` (e.g. `"/socket"`). */
  url: string;
  /**
   * `connect()` options (`waitForJoin` is always `false`). Providers with the same `url` and
   * options share one connection; options holding functions or AbortSignals are not shared and
   * are read once, when the connection opens.
   */
  options?: ConnectOptions;
  connection?: undefined;
  children?: ReactNode;
}

/** The app's own connection: the provider never disconnects it. */
export interface MusubiAppConnectionProps {
  /** The app's connection; `null` while it does not exist yet. */
  connection: Connection | null;
  url?: string;
  options?: undefined;
  children?: ReactNode;
}

/**
 * Owns one connection for its subtree, opened in an effect (never during render or on the
 * server) with `connect(url, { ...options, waitForJoin: false })`, shared with the other
 * providers of the same `url` and options, and closed shortly after the last one unmounts (so
 * StrictMode and hot reload reuse one socket).
 *
 * ```tsx
 * <MusubiProvider url="/socket" options={{ params: { token } }}>
 *   <App />
 * </MusubiProvider>
 * ```
 */
export function MusubiProvider(props: MusubiProviderProps): ReactNode;

/** The provider's connection, or `null` until it exists (and on the server). */
export function useConnection(): Connection | null;

/** What {@link useConnectionStatus} returns: frozen, a new object only when a field changes. */
export interface ConnectionStatusState {
  readonly status: ConnectionStatus;
  /** Why (see `StatusChange.reason`). */
  readonly reason: string;
}

/**
 * `{ status, reason }` of the provider's connection; `"connecting"` before the connection exists
 * and on the server.
 *
 * ```tsx
 * const { status, reason } = useConnectionStatus();
 * return <span className={status} title={reason}>{status}</span>;
 * ```
 */
export function useConnectionStatus(): ConnectionStatusState;

// ---- Roots -----------------------------------------------------------------------------------

/**
 * A root as {@link useRoot} shows it: frozen, a new object only when a field changes. `store`
 * is `null` until the root is mounted; `status` is `"idle"` without a connection (and on the
 * server), `"mounting"`, then the root's {@link RootStatus}; a mount error — or the provider's
 * failure to connect — is in `error` (status `"failed"`). Pass it to the other hooks.
 */
export interface Root<Spec extends StoreSpec = StoreSpec> {
  readonly module: string;
  readonly id: string;
  readonly store: Store<Spec> | null;
  readonly status: RootStatus | "idle";
  readonly error: MusubiError | null;
  /** True while the store shows its last good state (connection lost, recovering, failed). */
  readonly stale: boolean;
}

/** A root from `useRoot(…, { suspense: true })`: always mounted, so `store` is never null. */
export interface MountedRoot<Spec extends StoreSpec = StoreSpec> extends Root<Spec> {
  readonly store: Store<Spec>;
  readonly status: RootStatus;
}

/** Options of {@link useRoot}. */
export interface UseRootOptions {
  /**
   * Suspend until the root is mounted (`store` then is never null) and throw a mount error to
   * the nearest error boundary. On the server it throws an `Error` of kind `"server"`, so the
   * nearest `<Suspense>` shows its fallback there and the client renders the rest.
   */
  suspense?: boolean;
}

/**
 * Mounts root `module` under `id` (with `params`) while the component is mounted; components
 * mounting the same root share it. The store is typed by the registered spec of `module` (with a
 * registry, an unknown module fails to compile).
 *
 * ```tsx
 * const root = useRoot("Demo.CounterStore", "counter");             // Root<Spec>, store nullable
 * const ready = useRoot("Demo.CounterStore", "counter", undefined, { suspense: true });
 * ready.store.snapshot().count;                                      // MountedRoot<Spec>
 * ```
 */
export function useRoot<M extends ModuleName>(module: M, id: string, params: Record<string, Json> | undefined, options: UseRootOptions & { suspense: true }): MountedRoot<SpecOf<M>>;
export function useRoot<M extends ModuleName>(module: M, id: string, params?: Record<string, Json>, options?: UseRootOptions): Root<SpecOf<M>>;

// ---- Snapshots -------------------------------------------------------------------------------

/**
 * A store's snapshot, re-rendering when it changes; `undefined` while `root` has no store (and
 * on the server). `storeId`: `undefined` for the root store, or a child store's snapshot (typed
 * by its {@link ChildSnapshot} brand) or id (untyped). With `selector`, returns
 * `selector(snapshot)`, and keeps the previous value while `isEqual(previous, next)` (default
 * `Object.is`) holds.
 *
 * ```tsx
 * const snapshot = useStore(root);                                  // SnapshotOf<Spec> | undefined
 * const count = useStore(root, undefined, (s) => s.count);          // number | undefined
 * const label = useStore(root, (s) => s.label);                     // string | undefined (storeId left out)
 * const title = useStore(root, card, (c) => c.title);               // card: ChildSnapshot<CardSpec>
 * const ids = useStore(root, undefined, (s) => s.cards.map((c) => c.id), (a, b) => a.join() === b.join());
 * ```
 */
export function useStore<Spec extends StoreSpec>(root: Root<Spec>, storeId?: undefined): SnapshotOf<Spec> | undefined;
export function useStore<Spec extends StoreSpec, R>(root: Root<Spec>, storeId: undefined, selector: (snapshot: SnapshotOf<Spec>) => R, isEqual?: (previous: R, next: R) => boolean): R | undefined;
export function useStore<Spec extends StoreSpec, C extends StoreSpec>(root: Root<Spec>, storeId: ChildSnapshot<C>): SnapshotOf<C> | undefined;
export function useStore<Spec extends StoreSpec, C extends StoreSpec, R>(root: Root<Spec>, storeId: ChildSnapshot<C>, selector: (snapshot: SnapshotOf<C>) => R, isEqual?: (previous: R, next: R) => boolean): R | undefined;
/** `useStore(root, selector, isEqual?)`: the root store's selection, as `useStore(root, undefined, selector, isEqual?)`. */
export function useStore<Spec extends StoreSpec, R>(root: Root<Spec>, selector: (snapshot: SnapshotOf<Spec>) => R, isEqual?: (previous: R, next: R) => boolean): R | undefined;
export function useStore<Spec extends StoreSpec>(root: Root<Spec>, storeId: StoreId | UntypedChildRef): StoreSnapshot | undefined;
export function useStore<Spec extends StoreSpec, R>(root: Root<Spec>, storeId: StoreId | UntypedChildRef, selector: (snapshot: StoreSnapshot) => R, isEqual?: (previous: R, next: R) => boolean): R | undefined;

// ---- Commands, events, uploads -----------------------------------------------------------------

/** Targets the root store (the default). */
export interface RootTarget {
  storeId?: undefined;
}

/**
 * Targets a child store of the root: by its snapshot ({@link ChildSnapshot}, typed by its brand),
 * or by its id or an {@link UntypedChildRef} (untyped).
 */
export interface ChildTarget<Target extends StoreId | ChildRef = StoreId | UntypedChildRef> {
  storeId: Target;
}

/**
 * What {@link useCommand} returns (frozen; a new object only when a field changes). The
 * payload is checked as `store.dispatchCommand` checks it ({@link CommandArgs}).
 */
export interface CommandHandle<Spec extends StoreSpec = StoreSpec, N extends string = string> {
  /** Sends the command; never rejects: a failure lands in `error` and it resolves `undefined`. */
  readonly dispatch: (...args: CommandArgs<Spec, N>) => Promise<CommandReply<Spec, N> | undefined>;
  /** Sends the command; rejects on failure (and sets `error`). */
  readonly dispatchAsync: (...args: CommandArgs<Spec, N>) => Promise<CommandReply<Spec, N>>;
  /** True while any call is in flight. */
  readonly pending: boolean;
  /** The last settled call's error (kind `"not_mounted"` for a call before the root was mounted). */
  readonly error: MusubiError | null;
  /** The last settled call's reply. */
  readonly data: CommandReply<Spec, N> | undefined;
  /** The target store's commands waiting in the outbox (live). */
  readonly queued: number;
  /** Clears `data` and `error` (calls already in flight then do not set them). */
  readonly reset: () => void;
}

/**
 * Called once for every call a {@link useCommand} hook started (the latest callbacks of the
 * component; what one throws is reported as uncaught and changes nothing else).
 */
export interface CommandCallbacks<Spec extends StoreSpec = StoreSpec, N extends string = string> {
  /** The call's reply, and the payload it was dispatched with. */
  onSuccess?: (reply: CommandReply<Spec, N>, payload: CommandArgs<Spec, N>[0]) => void;
  /** The call's error (also kind `"not_mounted"`), and the payload it was dispatched with. */
  onError?: (error: MusubiError, payload: CommandArgs<Spec, N>[0]) => void;
}

/**
 * Command `name` of the root store (or of `options.storeId`'s child store). With a registry a
 * wrong name fails to compile and `dispatch`'s payload and reply are typed. Before the root is
 * mounted, calls fail with kind `"not_mounted"`. `onSuccess` / `onError` hear every call.
 *
 * ```tsx
 * const increment = useCommand(root, "increment", { onError: (error) => toast(error.message) });
 * <button disabled={increment.pending} onClick={() => increment.dispatch({ by: 1 })}>+1</button>;
 * const rename = useCommand(root, "rename", { storeId: card }); // card: ChildSnapshot<CardSpec>
 * ```
 */
export function useCommand<Spec extends StoreSpec, N extends CommandName<Spec>>(root: Root<Spec>, name: N, options?: RootTarget & CommandCallbacks<Spec, N>): CommandHandle<Spec, N>;
export function useCommand<Spec extends StoreSpec, C extends StoreSpec, N extends CommandName<C>>(root: Root<Spec>, name: N, options: ChildTarget<ChildSnapshot<C>> & CommandCallbacks<C, N>): CommandHandle<C, N>;
export function useCommand<Spec extends StoreSpec>(root: Root<Spec>, name: string, options: ChildTarget & CommandCallbacks): CommandHandle;

/**
 * Calls `callback(payload)` for each push event `name` of the root store (or of
 * `options.storeId`'s child store) while the component is mounted. The latest `callback` is
 * called: a new one each render does not resubscribe. With a registry a wrong name fails to
 * compile and the payload is typed.
 *
 * ```tsx
 * useEvent(root, "toast", ({ text }) => setToast(text));
 * ```
 */
export function useEvent<Spec extends StoreSpec, N extends EventName<Spec>>(root: Root<Spec>, name: N, callback: (payload: EventPayload<Spec, N>) => void, options?: RootTarget): void;
export function useEvent<Spec extends StoreSpec, C extends StoreSpec, N extends EventName<C>>(root: Root<Spec>, name: N, callback: (payload: EventPayload<C, N>) => void, options: ChildTarget<ChildSnapshot<C>>): void;
export function useEvent<Spec extends StoreSpec>(root: Root<Spec>, name: string, callback: (payload: unknown) => void, options: ChildTarget): void;

/**
 * What {@link useUpload} returns (frozen). `handle` and `snapshot` are `null` and the functions
 * reject with kind `"not_mounted"` until the root is mounted.
 */
export interface UploadState {
  readonly handle: UploadHandle | null;
  /** The handle's state, re-rendering with every change (progress included). */
  readonly snapshot: UploadSnapshot | null;
  readonly select: (files: readonly File[] | FileList) => Promise<readonly UploadEntry[]>;
  readonly start: () => Promise<void>;
  readonly cancel: (ref?: string) => Promise<void>;
  readonly reset: () => Promise<void>;
}

/**
 * Upload `name` (or the one a snapshot's upload marker names) of the root store or of
 * `options.storeId`'s child store.
 *
 * ```tsx
 * const avatar = useUpload(root, "avatar");
 * <input type="file" onChange={async (e) => { await avatar.select(e.target.files!); await avatar.start(); }} />;
 * <progress max={100} value={avatar.snapshot?.progress ?? 0} />;
 * ```
 */
export function useUpload<Spec extends StoreSpec>(root: Root<Spec>, name: string | UploadMarker, options?: RootTarget | ChildTarget<StoreId | ChildRef>): UploadState;

