// Compiled by `tsc --noEmit` (tests/js/types.test.mjs) against the package's hand-written types:
// typical calls type-check, and mistakes are errors (each `@ts-expect-error` must be needed).
import {
  connect,
  debugStats,
  init,
  MusubiCommandError,
  type AsyncValue,
  type Connection,
  type StatusChange,
  type Store,
  type UploadEntry,
  type UploadHandle,
  type Uploader,
  type UploaderArgs,
  type UploadMarker,
  type UploadSnapshot,
  type UploadStatus,
} from "../../src/js/npm/index.js";

interface Counter {
  readonly count: number;
  readonly label: string;
  readonly log: readonly { readonly id: string; readonly text: string }[];
}
interface Board {
  readonly cards: readonly { readonly title: string; readonly done: boolean }[];
  readonly stats: AsyncValue<{ readonly total: number }>;
}
interface Profile {
  readonly avatar: UploadMarker;
  readonly avatar_url: string | null;
}
// A registry maps each module to a StoreSpec; these declare snapshots only (commands and events
// stay untyped; see generic-registry.ts for the typed ones).
type Stores = { "Demo.CounterStore": { snapshot: Counter }; "Demo.BoardStore": { snapshot: Board }; "Demo.ProfileStore": { snapshot: Profile } };

/** An external uploader that PUTs the file where the server's meta says. */
const httpUploader: Uploader = async ({ file, meta, onProgress, signal }: UploaderArgs) => {
  const url: string = typeof meta.url === "string" ? meta.url : "";
  const response = await fetch(url, { method: "PUT", body: file, signal });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  onProgress(100);
};

export async function uploads(connection: Connection<Stores>, files: FileList): Promise<void> {
  const { store } = await connection.mountStore({ module: "Demo.ProfileStore", id: "profile" });
  const avatar: UploadHandle = store.upload("avatar");
  const same: UploadHandle = store.upload(store.snapshot().avatar);
  const entries: readonly UploadEntry[] = await avatar.select(files);
  await avatar.select([new File(["x"], "me.png")]);
  const first: string | undefined = entries[0]?.ref;
  await avatar.start();
  const snapshot: UploadSnapshot = avatar.snapshot();
  const status: UploadStatus = snapshot.status;
  const progress: number = snapshot.progress;
  const codes: string[] = snapshot.entries.flatMap((entry) => entry.errors.map((error) => error.code));
  const accept: readonly string[] | "any" = snapshot.config.accept;
  const off: () => void = avatar.subscribe(() => undefined);
  if (first !== undefined) await avatar.cancel(first);
  await avatar.cancel();
  await avatar.reset();
  off();
  const held: number = debugStats().heldFiles + debugStats().uploads;
  void [same, status, progress, codes, accept, held];

  // @ts-expect-error: the upload status is a closed union
  const wrongStatus: "done" = snapshot.status;
  // @ts-expect-error: snapshots are read-only
  snapshot.entries[0]!.progress = 50;
  // @ts-expect-error: select takes Files, not names
  await avatar.select(["me.png"]);
  // @ts-expect-error: cancel takes an entry ref
  await avatar.cancel(1);
  // @ts-expect-error: uploaders are functions
  await connect("/socket", { uploaders: { S3: "https://s3" } });
  // @ts-expect-error: the window is a number
  await connect("/socket", { uploadWindow: "4" });
  void wrongStatus;
}

export async function usage(): Promise<void> {
  await init();
  const connection: Connection<Stores> = await connect<Stores>("/socket", {
    params: () => ({ token: "t" }),
    reconnectAfterMs: (tries) => Math.min(1000 * tries, 5000),
    logger: (kind, message) => console.debug(kind, message),
    signal: AbortSignal.timeout(10_000),
    uploaders: { "demo-http": httpUploader, S3: async ({ entry, onProgress }) => onProgress(entry.clientSize > 0 ? 100 : 0) },
    uploadWindow: 4,
  });
  const off: () => void = connection.onStatusChange((change: StatusChange) => {
    const to: "connecting" | "open" | "reconnecting" | "closed" = change.to;
    void to;
  });
  const { store, unmount } = await connection.mountStore({ module: "Demo.CounterStore", id: "counter" });
  const count: number = store.snapshot().count;
  const firstLog: string | undefined = store.snapshot().log[0]?.text;
  const unsubscribe = store.subscribe(() => undefined);
  const reply = await store.dispatchCommand<{ ok: boolean }>("increment", { by: 1 });
  const ok: boolean = reply.ok;
  const board = await connection.mountStore({ module: "Demo.BoardStore", id: "board" });
  const status: "loading" | "ok" | "failed" = board.store.snapshot().stats.status;
  const card: Store<{ snapshot: { title: string } }> = board.store.child<{ snapshot: { title: string } }>(["cards", "1"]);
  const title: string = card.snapshot().title;
  const stale: boolean = card.stale;
  try {
    await card.dispatchCommand("rename", { title: "x" });
  } catch (error) {
    if (MusubiCommandError.is(error)) {
      const kind: "failed" | "timeout" = error.kind;
      const code: string | undefined = error.code;
      void [kind, code];
    }
  }
  const roots = connection.info().roots.map((root) => `${root.id}:${root.status}:${root.version}`);
  const live: number = debugStats().liveHandles;
  void [count, firstLog, ok, status, title, stale, roots, live];

  // @ts-expect-error: unknown module for this registry
  await connection.mountStore({ module: "Demo.Nope", id: "x" });
  // @ts-expect-error: snapshots are read-only
  store.snapshot().count = 2;
  // @ts-expect-error: the status is a closed union
  const wrong: "opened" = connection.status;
  // @ts-expect-error: store ids are arrays of strings
  board.store.child([1]);
  // @ts-expect-error: reconnectAfterMs takes numbers
  await connect("/socket", { reconnectAfterMs: ["1s"] });
  // @ts-expect-error: the wire is a closed union
  await connect("/socket", { wire: "bogus" });
  const perRoot = await connect("/socket", { wire: "per-root" });
  const wireInUse: "connection" | "per-root" | null = perRoot.info().wire;
  const offToast = store.onEvent<{ text: string }>("toast", (payload) => {
    const text: string = payload.text;
    void text;
  });
  offToast();
  void wireInUse;
  void wrong;
  unsubscribe();
  off();
  await unmount();
  await connection.disconnect();
}

// The outbox: connection-wide and per call, with queued counts.
async function outboxUsage(): Promise<void> {
  const connection = await connect("/socket", { outbox: { maxQueued: 10, maxAgeMs: 60_000 } });
  await connect("/socket", { outbox: true });
  const { store } = await connection.mountStore({ module: "Demo.CounterStore", id: "c" });
  await store.dispatchCommand("increment", { by: 1 }, { queue: true });
  const waiting: number = store.queued();
  const perRoot: number = connection.info().roots[0]?.queued ?? 0;
  void waiting;
  void perRoot;
}
void outboxUsage;

// ---- openStash (a view's durable stash) ----
import { MusubiStashError, openStash, type Stash, type StashErrorKind } from "../../src/js/npm/index.js";

interface Draft {
  readonly text: string;
  readonly filter: { readonly done: boolean; readonly tags: string[] };
}

export async function stashUsage(): Promise<void> {
  const stash: Stash<Draft> = await openStash<Draft>("Demo.Draft", { vsn: 2, fallback: "memory" });
  const text: string | undefined = stash.get("text");
  const tags: readonly string[] | undefined = stash.getView().filter?.tags;
  const stored = stash.fetchView();
  const vsn: number | undefined = stored?.vsn;
  const seen: number | null = stash.lastSeenAt;
  const flags: boolean[] = [stash.durable, stash.corrupt];
  stash.merge({ text: "hello" });
  stash.merge({ filter: { done: true, tags: ["a"] } });
  stash.drop(["text"]);
  stash.reset();
  const off: () => void = stash.subscribe(() => void stash.getView());
  try {
    stash.merge({ text: "x" });
  } catch (error) {
    if (MusubiStashError.is(error)) {
      const kind: StashErrorKind = error.kind;
      void kind;
    }
  }
  const untyped = await openStash("Any.View");
  untyped.merge({ anything: [1, "two", { three: null }] });
  void [text, tags, vsn, seen, flags];

  // @ts-expect-error: unknown key
  stash.get("nope");
  // @ts-expect-error: wrong value type
  stash.merge({ text: 1 });
  // @ts-expect-error: unknown key to drop
  stash.drop(["nope"]);
  // @ts-expect-error: the view is frozen
  stash.getView().text = "y";
  // @ts-expect-error: nested arrays are frozen too
  stash.getView().filter?.tags.push("b");
  // @ts-expect-error: the fallback is a closed union
  await openStash("Demo.Draft", { fallback: "session" });
  // @ts-expect-error: error kinds are a closed union
  const wrongKind: StashErrorKind = "full";
  void wrongKind;
  off();
  stash.close();
}
