// (b) A registry passed as a type argument, declared as an `interface` (before 0.x's registry
// change, `interface` registries failed with TS2344): module names, snapshots, command names,
// payloads and replies, event names and payloads are all checked.
import {
  connect,
  type AsyncValue,
  type ChildSnapshot,
  type CommandName,
  type CommandReply,
  type Connection,
  type EventName,
  type MountedStore,
  type ModuleName,
  type RegisteredStores,
  type SnapshotOf,
  type SpecOf,
  type Store,
  type StoreRegistry,
  type StoreSpec,
  type UntypedStores,
  type UploadHandle,
} from "musubi-wasm";
import type { Equal, Expect } from "./equal.js";
import type { BoardSpec, CardSpec, CounterSpec, DemoStores, ReadOnlySpec } from "./specs.js";

export type Registry = [
  // An interface registry satisfies the registry shape.
  Expect<Equal<DemoStores extends StoreRegistry<DemoStores> ? true : false, true>>,
  Expect<Equal<ModuleName<DemoStores>, "Demo.CounterStore" | "Demo.BoardStore" | "Demo.ProfileStore" | "Demo.ReadOnlyStore">>,
  Expect<Equal<SpecOf<"Demo.CounterStore", DemoStores>, CounterSpec>>,
  Expect<Equal<SpecOf<"Demo.Nope", DemoStores>, StoreSpec>>,
  Expect<Equal<CommandName<CounterSpec>, "increment" | "set_label" | "reset" | "bump" | "ping">>,
  Expect<Equal<CommandName<ReadOnlySpec>, never>>,
  Expect<Equal<EventName<CounterSpec>, "toast" | "cleared">>,
  Expect<Equal<CommandReply<CounterSpec, "increment">, { count: number }>>,
  Expect<Equal<CommandReply<CounterSpec, "set_label">, unknown>>,
  // A generic registry does not change the registered default.
  Expect<Equal<RegisteredStores, UntypedStores>>,
];

export async function typed(): Promise<void> {
  const connection = await connect<DemoStores>("/socket");
  type _connection = Expect<Equal<typeof connection, Connection<DemoStores>>>;

  // Modules.
  const counter = await connection.mountStore({ module: "Demo.CounterStore", id: "counter" });
  type _counter = Expect<Equal<typeof counter, MountedStore<CounterSpec>>>;
  // @ts-expect-error: a module the registry does not have
  await connection.mountStore({ module: "Demo.Nope", id: "x" });
  // @ts-expect-error: module names are case-sensitive
  await connection.mountStore({ module: "demo.counterstore", id: "x" });
  const { store } = counter;

  // Snapshots: typed and frozen all the way down.
  const snapshot = store.snapshot();
  type _snapshot = Expect<Equal<typeof snapshot, SnapshotOf<CounterSpec>>>;
  type _frozen = Expect<
    Equal<typeof snapshot, { readonly count: number; readonly label: string; readonly log: readonly { readonly id: string; readonly text: string }[] }>
  >;
  const count: number = snapshot.count;
  // @ts-expect-error: a field the snapshot does not have
  void snapshot.cont;
  // @ts-expect-error: a field's type is checked
  const label: number = snapshot.label;
  // @ts-expect-error: snapshots are read-only
  snapshot.count = 1;
  // @ts-expect-error: nested arrays are read-only too
  snapshot.log.push({ id: "1", text: "x" });
  // @ts-expect-error: and the objects in them
  snapshot.log[0]!.text = "y";

  // Commands: names, payloads, replies.
  const incremented = await store.dispatchCommand("increment", { by: 1 });
  type _incremented = Expect<Equal<typeof incremented, { count: number }>>;
  await store.dispatchCommand("increment", { by: 1 }, { queue: true });
  const labelled = await store.dispatchCommand("set_label", { label: "x" });
  type _labelled = Expect<Equal<typeof labelled, unknown>>;
  await store.dispatchCommand("reset");
  await store.dispatchCommand("reset", undefined, { queue: false });
  const bumped: number = await store.dispatchCommand("bump");
  await store.dispatchCommand("bump", { by: 2 });
  const pong: "pong" = await store.dispatchCommand("ping");
  // @ts-expect-error: a wrong command name
  await store.dispatchCommand("incremnt", { by: 1 });
  // @ts-expect-error: a wrong payload type
  await store.dispatchCommand("increment", { by: "1" });
  // @ts-expect-error: a missing required payload
  await store.dispatchCommand("increment");
  // @ts-expect-error: a payload field the command does not take
  await store.dispatchCommand("increment", { by: 1, extra: true });
  // @ts-expect-error: a payload for a command that takes none
  await store.dispatchCommand("reset", { now: true });
  // @ts-expect-error: the optional payload is still checked
  await store.dispatchCommand("bump", { by: "2" });
  // @ts-expect-error: the reply is typed
  const wrongReply: string = await store.dispatchCommand("increment", { by: 1 });

  // Events: names and payloads.
  const offToast = store.onEvent("toast", (payload) => {
    type _payload = Expect<Equal<typeof payload, { text: string }>>;
  });
  store.onEvent("cleared", (payload) => {
    type _payload = Expect<Equal<typeof payload, null>>;
  });
  // @ts-expect-error: a wrong event name
  store.onEvent("toasted", () => undefined);
  // @ts-expect-error: the listener's payload type is checked
  store.onEvent("toast", (payload: { text: number }) => void payload);
  offToast();

  // Child stores: by their branded snapshot (inferred), by id (named, or untyped).
  const board = (await connection.mountStore({ module: "Demo.BoardStore", id: "board" })).store;
  type _board = Expect<Equal<typeof board, Store<BoardSpec>>>;
  const boardSnapshot = board.snapshot();
  type _stats = Expect<Equal<typeof boardSnapshot.stats, { readonly status: "loading" | "ok" | "failed"; readonly data: { readonly total: number } | null; readonly error: import("musubi-wasm").Json | null }>>;
  const stats: AsyncValue<{ total: number }> = boardSnapshot.stats;
  const firstCard = boardSnapshot.cards.at(0);
  type _firstCard = Expect<Equal<typeof firstCard, ChildSnapshot<CardSpec> | undefined>>;
  if (firstCard !== undefined) {
    const title: string = firstCard.title;
    const card = board.child(firstCard);
    type _card = Expect<Equal<typeof card, Store<CardSpec>>>;
    await card.dispatchCommand("rename", { title: "y" });
    await card.dispatchCommand("toggle");
    // @ts-expect-error: a command of the parent, not of the child
    await card.dispatchCommand("add_card", { title: "z" });
    card.onEvent("renamed", ({ title: renamed }) => void renamed.length);
    // @ts-expect-error: child snapshots are read-only
    firstCard.title = "z";
    void title;
  }
  const byIdNamed = board.child<CardSpec>(["cards", "7"]);
  type _byIdNamed = Expect<Equal<typeof byIdNamed, Store<CardSpec>>>;
  const byIdUntyped = board.child(["cards", "7"]);
  type _byIdUntyped = Expect<Equal<typeof byIdUntyped, Store>>;
  const { id } = await board.dispatchCommand("add_card", { title: "new" });

  // A spec without commands or events keeps them untyped; `commands: {}` means none.
  const profile = (await connection.mountStore({ module: "Demo.ProfileStore", id: "profile" })).store;
  const avatar: UploadHandle = profile.upload(profile.snapshot().avatar);
  const anything = await profile.dispatchCommand("whatever", { a: 1 });
  type _anything = Expect<Equal<typeof anything, unknown>>;
  profile.onEvent("whatever", (payload) => {
    type _payload = Expect<Equal<typeof payload, unknown>>;
  });
  const readOnly = (await connection.mountStore({ module: "Demo.ReadOnlyStore", id: "ro" })).store;
  const value: number = readOnly.snapshot().value;
  // @ts-expect-error: a spec with `commands: {}` takes no command
  await readOnly.dispatchCommand("anything");
  // @ts-expect-error: a spec with `events: {}` pushes no event
  readOnly.onEvent("anything", () => undefined);

  void [count, label, bumped, pong, wrongReply, stats, id, avatar, value];
}

// Registries as type aliases work too, and malformed ones fail where they are passed.
type AliasStores = { "Alias.Store": { snapshot: { n: number }; commands: { go: {} } } };
export async function aliases(): Promise<void> {
  const { store } = await (await connect<AliasStores>("/socket")).mountStore({ module: "Alias.Store", id: "a" });
  const n: number = store.snapshot().n;
  await store.dispatchCommand("go");
  // @ts-expect-error: an entry must be a StoreSpec (a bare snapshot type, the old registry form, is not)
  await connect<{ "Old.Store": { count: number } }>("/socket");
  // @ts-expect-error: a spec's snapshot is an object type
  await connect<{ "Bad.Store": { snapshot: number } }>("/socket");
  void n;
}
