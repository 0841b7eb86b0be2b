// (a) No registry: every module mounts, every name is accepted, and what the server sends is
// `unknown` (snapshot fields, replies, event payloads) until the code narrows it.
import {
  connect,
  type ChildSnapshot,
  type CommandArgs,
  type Connection,
  type MountedStore,
  type RegisteredStores,
  type SnapshotOf,
  type Store,
  type StoreSnapshot,
  type StoreSpec,
  type UntypedPayload,
  type UntypedStores,
} from "musubi-wasm";
import type { Equal, Expect } from "./equal.js";
import type { CardSpec } from "./specs.js";

export type Defaults = [
  Expect<Equal<RegisteredStores, UntypedStores>>,
  Expect<Equal<Store, Store<StoreSpec>>>,
  Expect<Equal<SnapshotOf<StoreSpec>, StoreSnapshot>>,
  Expect<Equal<CommandArgs<StoreSpec, "anything">, [payload?: UntypedPayload, options?: import("musubi-wasm").CommandOptions]>>,
];

export async function untyped(): Promise<void> {
  const connection = await connect("/socket", { waitForJoin: false, diagnostics: false });
  type _connection = Expect<Equal<typeof connection, Connection<UntypedStores>>>;
  const same: Connection = connection;

  // Any module mounts; the store is untyped.
  const mounted = await connection.mountStore({ module: "Anything.AtAll", id: "x", params: { a: 1 } });
  type _mounted = Expect<Equal<typeof mounted, MountedStore<StoreSpec>>>;
  const { store } = mounted;

  // Snapshot fields are unknown: reading one as a concrete type needs narrowing.
  const snapshot = store.snapshot();
  type _snapshot = Expect<Equal<typeof snapshot, StoreSnapshot>>;
  type _field = Expect<Equal<typeof snapshot.count, unknown>>;
  // @ts-expect-error: an unknown field is not a number until narrowed
  const unnarrowed: number = snapshot.count;
  const count: number = typeof snapshot.count === "number" ? snapshot.count : 0;
  // @ts-expect-error: snapshots are read-only
  snapshot.count = 2;

  // Any command name, any JSON-ish payload (or none), an unknown reply.
  const reply = await store.dispatchCommand("increment", { by: 1 });
  type _reply = Expect<Equal<typeof reply, unknown>>;
  await store.dispatchCommand("reset");
  await store.dispatchCommand("tags", ["a", "b"], { queue: true });
  await store.dispatchCommand("nested", { deep: { list: [1, null, "x"] }, when: new Date() });
  // The reply type can be stated when the server's reply is known.
  const stated = await store.dispatchCommand<{ ok: boolean }>("save", { text: "x" });
  type _stated = Expect<Equal<typeof stated, { ok: boolean }>>;
  // @ts-expect-error: command names are strings
  await store.dispatchCommand(1);
  // @ts-expect-error: a symbol is no payload
  await store.dispatchCommand("x", Symbol("payload"));
  // @ts-expect-error: queue is a boolean
  await store.dispatchCommand("x", {}, { queue: "yes" });

  // Any event name; the payload is unknown unless stated.
  const offToast = store.onEvent("toast", (payload) => {
    type _payload = Expect<Equal<typeof payload, unknown>>;
    // @ts-expect-error: an unknown payload has no fields until narrowed
    void payload.text;
  });
  const offStated = store.onEvent<{ text: string }>("toast", (payload) => void payload.text.length);
  offToast();
  offStated();

  // child(): by id or by a child snapshot (untyped unless named).
  const byId = store.child(["cards", "1"]);
  type _byId = Expect<Equal<typeof byId, Store<StoreSpec>>>;
  const bySnapshot = store.child({ __musubi_store_id__: ["cards", "1"] });
  type _bySnapshot = Expect<Equal<typeof bySnapshot, Store<StoreSpec>>>;
  const named = store.child<CardSpec>(["cards", "1"]);
  type _named = Expect<Equal<typeof named, Store<CardSpec>>>;
  const title: string = named.snapshot().title;
  const cards = snapshot.cards;
  // @ts-expect-error: an unknown field is not a child snapshot until narrowed
  store.child(cards);
  if (Array.isArray(cards) && typeof cards[0] === "object" && cards[0] !== null && "__musubi_store_id__" in cards[0]) {
    const first = cards[0] as ChildSnapshot;
    store.child(first);
  }
  // @ts-expect-error: store ids are arrays of strings
  store.child([1]);
  // @ts-expect-error: a snapshot without a store id names no child
  store.child({ title: "x" });

  // Connect options added for the React provider and dev diagnostics.
  await connect("/socket", { waitForJoin: true, diagnostics: true });
  // @ts-expect-error: waitForJoin is a boolean
  await connect("/socket", { waitForJoin: "no" });
  // @ts-expect-error: diagnostics is a boolean
  await connect("/socket", { diagnostics: 1 });

  void [same, unnarrowed, count, title];
}
