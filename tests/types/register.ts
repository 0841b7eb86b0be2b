// (c) The module-augmentation registry (stores.ts: `declare module "musubi-wasm" { interface
// Register { stores: DemoStores } }`) is the default of connect(), Connection and the bundler
// entry; a type argument still overrides it.
import { connect, type Connection, type MountedStore, type RegisteredStores, type Store, type StoreSpec } from "musubi-wasm";
import { connect as connectBundler, type Connection as BundlerConnection } from "musubi-wasm/bundler";
import type { Equal, Expect } from "./equal.js";
import type { CardSpec, CounterSpec, DemoStores } from "./specs.js";

export type Registered = [
  Expect<Equal<RegisteredStores, DemoStores>>,
  Expect<Equal<Connection, Connection<DemoStores>>>,
  Expect<Equal<BundlerConnection, Connection<DemoStores>>>,
];

export async function registered(): Promise<void> {
  const connection = await connect("/socket");
  type _connection = Expect<Equal<typeof connection, Connection<DemoStores>>>;
  const counter = await connection.mountStore({ module: "Demo.CounterStore", id: "counter" });
  type _counter = Expect<Equal<typeof counter, MountedStore<CounterSpec>>>;
  const { count } = await counter.store.dispatchCommand("increment", { by: 1 });
  const value: number = counter.store.snapshot().count + count;
  // @ts-expect-error: a module the registry does not have
  await connection.mountStore({ module: "Demo.Nope", id: "x" });
  // @ts-expect-error: a wrong command name
  await counter.store.dispatchCommand("incremnt", { by: 1 });
  // @ts-expect-error: a missing required payload
  await counter.store.dispatchCommand("set_label");
  // @ts-expect-error: a wrong event name
  counter.store.onEvent("toastt", () => undefined);

  const board = (await connection.mountStore({ module: "Demo.BoardStore", id: "board" })).store;
  const card = board.child(board.snapshot().cards[0]!);
  type _card = Expect<Equal<typeof card, Store<CardSpec>>>;

  // The bundler entry shares the registry.
  const viaBundler = await connectBundler("/socket");
  type _viaBundler = Expect<Equal<typeof viaBundler, Connection<DemoStores>>>;
  // @ts-expect-error: the bundler entry checks modules too
  await viaBundler.mountStore({ module: "Demo.Nope", id: "x" });

  // A type argument overrides the registered default for one connection.
  interface Other {
    "Other.Store": { snapshot: { n: number } };
  }
  const other = await connect<Other>("/socket");
  const n: number = (await other.mountStore({ module: "Other.Store", id: "o" })).store.snapshot().n;
  // @ts-expect-error: the registered modules are not this connection's
  await other.mountStore({ module: "Demo.CounterStore", id: "c" });
  const untypedStore: Store = (await other.mountStore({ module: "Other.Store", id: "o2" })).store as unknown as Store<StoreSpec>;
  void [value, n, untypedStore];
}
