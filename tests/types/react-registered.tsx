// (d) The React hooks with the module-augmentation registry (stores.ts): modules, command and
// event names, payloads, replies and snapshots are checked and inferred.
import type { ReactNode } from "react";
import { type ChildSnapshot, type Connection, type SnapshotOf, type Store, type StoreSnapshot } from "musubi-wasm";
import {
  MusubiProvider,
  useCommand,
  useConnection,
  useConnectionStatus,
  useEvent,
  useRoot,
  useStore,
  useUpload,
  type CommandHandle,
  type ConnectionStatusState,
  type MountedRoot,
  type Root,
  type UploadState,
} from "musubi-wasm/react";
import type { Equal, Expect } from "./equal.js";
import type { BoardSpec, CardSpec, CounterSpec, DemoStores } from "./specs.js";

export function Counter(): ReactNode {
  // useRoot infers the module's spec.
  const root = useRoot("Demo.CounterStore", "counter");
  type _root = Expect<Equal<typeof root, Root<CounterSpec>>>;
  type _store = Expect<Equal<typeof root.store, Store<CounterSpec> | null>>;
  useRoot("Demo.CounterStore", "counter", { start: 1 }, { suspense: false });
  // @ts-expect-error: a module the registry does not have
  useRoot("Demo.Nope", "x");
  // @ts-expect-error: params are JSON
  useRoot("Demo.CounterStore", "counter", { start: () => 1 });

  // useStore: the snapshot, or a selection of it; undefined until mounted.
  const snapshot = useStore(root);
  type _snapshot = Expect<Equal<typeof snapshot, SnapshotOf<CounterSpec> | undefined>>;
  const count = useStore(root, undefined, (s) => s.count);
  type _count = Expect<Equal<typeof count, number | undefined>>;
  const texts = useStore(
    root,
    undefined,
    (s) => s.log.map((entry) => entry.text),
    (previous, next) => previous.join() === next.join(),
  );
  type _texts = Expect<Equal<typeof texts, string[] | undefined>>;
  const label = useStore(root, (s) => s.label);
  type _label = Expect<Equal<typeof label, string | undefined>>;
  const boxed = useStore(root, (s) => ({ count: s.count }), (a, b) => a.count === b.count);
  type _boxed = Expect<Equal<typeof boxed, { count: number } | undefined>>;
  // @ts-expect-error: a field the snapshot does not have
  useStore(root, undefined, (s) => s.cont);
  // @ts-expect-error: the shorthand checks fields too
  useStore(root, (s) => s.cont);
  // @ts-expect-error: isEqual compares selections
  useStore(root, undefined, (s) => s.count, (a: string, b: string) => a === b);

  // useCommand: checked names and payloads, typed replies.
  const increment = useCommand(root, "increment");
  type _increment = Expect<Equal<typeof increment, CommandHandle<CounterSpec, "increment">>>;
  type _data = Expect<Equal<typeof increment.data, { count: number } | undefined>>;
  const onClick = async (): Promise<void> => {
    const reply = await increment.dispatch({ by: 1 });
    type _reply = Expect<Equal<typeof reply, { count: number } | undefined>>;
    const strict = await increment.dispatchAsync({ by: 1 }, { queue: true });
    type _strict = Expect<Equal<typeof strict, { count: number }>>;
    // @ts-expect-error: a wrong payload type
    await increment.dispatch({ by: "1" });
    // @ts-expect-error: a missing required payload
    await increment.dispatch();
  };
  const reset = useCommand(root, "reset");
  void reset.dispatch();
  // @ts-expect-error: a payload for a command that takes none
  void reset.dispatch({ now: true });
  // @ts-expect-error: a wrong command name
  useCommand(root, "incremnt");
  // Callbacks hear every call, typed by the command.
  useCommand(root, "increment", {
    onSuccess: (reply, payload) => {
      type _reply = Expect<Equal<typeof reply, { count: number }>>;
      type _payload = Expect<Equal<typeof payload, { by: number }>>;
    },
    onError: (error, payload) => void `${error.kind} ${payload.by}`,
  });
  // @ts-expect-error: the reply has no such field
  useCommand(root, "increment", { onSuccess: (reply) => reply.cont });
  useCommand(root, "rename", {
    storeId: ["cards", "1"],
    onSuccess: (reply, payload) => {
      type _reply = Expect<Equal<typeof reply, unknown>>;
    },
  });
  const queued: number = increment.queued;
  const failed: Error | null = increment.error;
  const notMounted: boolean = increment.error?.kind === "not_mounted" || root.error?.kind === "id_in_use";

  // useEvent: checked names, typed payloads.
  useEvent(root, "toast", (payload) => {
    type _payload = Expect<Equal<typeof payload, { text: string }>>;
  });
  // @ts-expect-error: a wrong event name
  useEvent(root, "toasted", () => undefined);

  if (count === undefined || snapshot === undefined) return <p>connecting…</p>;
  return (
    <button disabled={increment.pending} onClick={onClick} title={`${queued} ${failed?.message ?? ""} ${notMounted}`}>
      {count} {snapshot.label}
    </button>
  );
}

export function Board(): ReactNode {
  // Suspense: the store is never null.
  const root = useRoot("Demo.BoardStore", "board", undefined, { suspense: true });
  type _root = Expect<Equal<typeof root, MountedRoot<BoardSpec>>>;
  const store: Store<BoardSpec> = root.store;
  const cards = useStore(root, undefined, (s) => s.cards);
  return <ul>{cards?.map((card) => <Card key={card.__musubi_store_id__.join("/")} root={root} card={card} />)}{store.storeId.length}</ul>;
}

function Card({ root, card }: { root: Root<BoardSpec>; card: ChildSnapshot<CardSpec> }): ReactNode {
  // A child snapshot as storeId types the child store's hooks.
  const title = useStore(root, card, (c) => c.title);
  type _title = Expect<Equal<typeof title, string | undefined>>;
  const whole = useStore(root, card);
  type _whole = Expect<Equal<typeof whole, SnapshotOf<CardSpec> | undefined>>;
  const rename = useCommand(root, "rename", { storeId: card, onError: (error, payload) => void `${error.message} ${payload.title}` });
  type _rename = Expect<Equal<typeof rename, CommandHandle<CardSpec, "rename">>>;
  // @ts-expect-error: a command of the parent, not of the child
  useCommand(root, "add_card", { storeId: card });
  // @ts-expect-error: the child's payload is checked
  void rename.dispatch({ title: 1 });
  useEvent(root, "renamed", (payload) => void payload.title.length, { storeId: card });
  // @ts-expect-error: an event the child does not push
  useEvent(root, "toast", () => undefined, { storeId: card });
  // @ts-expect-error: a field the child snapshot does not have (no untyped fallback for a branded child)
  useStore(root, card, (c) => c.titel);
  // @ts-expect-error: a child that may be missing is not a target (undefined would mean the root)
  useStore(root, card as ChildSnapshot<CardSpec> | undefined);
  // A store id (or an unbranded id object) as storeId: untyped.
  const byRef = useStore(root, { __musubi_store_id__: ["cards", "1"] });
  type _byRef = Expect<Equal<typeof byRef, StoreSnapshot | undefined>>;
  const byId = useStore(root, ["cards", "1"]);
  type _byId = Expect<Equal<typeof byId, StoreSnapshot | undefined>>;
  const anyCommand = useCommand(root, "anything", { storeId: ["cards", "1"] });
  type _anyCommand = Expect<Equal<typeof anyCommand, CommandHandle>>;
  return <li onClick={() => void rename.dispatch({ title: `${title ?? ""}!` })}>{whole?.done ? "✓" : ""}{title}</li>;
}

export function Profile(): ReactNode {
  const root = useRoot("Demo.ProfileStore", "profile");
  const marker = useStore(root, undefined, (s) => s.avatar);
  const avatar = useUpload(root, "avatar");
  type _avatar = Expect<Equal<typeof avatar, UploadState>>;
  useUpload(root, marker ?? "avatar");
  const status = useConnectionStatus();
  type _status = Expect<Equal<typeof status, ConnectionStatusState>>;
  const connection = useConnection();
  type _connection = Expect<Equal<typeof connection, Connection<DemoStores> | null>>;
  // A spec without commands: any name, unknown reply.
  const save = useCommand(root, "save");
  type _save = Expect<Equal<typeof save.data, unknown>>;
  return (
    <input
      type="file"
      title={status.reason}
      onChange={async (event) => {
        if (event.target.files) await avatar.select(event.target.files);
        await avatar.start();
        await save.dispatch({ any: "payload" });
      }}
    />
  );
}

export function Apps({ connection }: { connection: Connection | null }): ReactNode {
  return (
    <>
      <MusubiProvider url="/socket" options={{ params: { token: "t" }, outbox: true }}>
        <Counter />
      </MusubiProvider>
      <MusubiProvider connection={connection}>
        <Board />
      </MusubiProvider>
      {/* @ts-expect-error: a provider needs a url or a connection */}
      <MusubiProvider>
        <Profile />
      </MusubiProvider>
      {/* @ts-expect-error: options are connect()'s */}
      <MusubiProvider url="/socket" options={{ wire: "bogus" }} />
    </>
  );
}
