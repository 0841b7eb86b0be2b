// (d) The React hooks without a registry: everything compiles, and what the server sends is
// `unknown` until narrowed — a snapshot field cannot be rendered as is.
import type { ReactNode } from "react";
import type { Connection, StoreSnapshot, StoreSpec, UntypedStores } from "musubi-wasm";
import {
  MusubiProvider,
  useCommand,
  useConnection,
  useEvent,
  useRoot,
  useStore,
  useUpload,
  type CommandHandle,
  type MountedRoot,
  type Root,
} from "musubi-wasm/react";
import type { Equal, Expect } from "./equal.js";

function Counter(): ReactNode {
  // Any module; the root is untyped.
  const root = useRoot("Any.Module", "counter", { start: 1 });
  type _root = Expect<Equal<typeof root, Root<StoreSpec>>>;
  const suspended = useRoot("Any.Module", "other", undefined, { suspense: true });
  type _suspended = Expect<Equal<typeof suspended, MountedRoot<StoreSpec>>>;

  const snapshot = useStore(root);
  type _snapshot = Expect<Equal<typeof snapshot, StoreSnapshot | undefined>>;
  const raw = useStore(root, undefined, (s) => s.count);
  type _raw = Expect<Equal<typeof raw, unknown>>;
  const count = useStore(root, undefined, (s) => (typeof s.count === "number" ? s.count : 0));
  type _count = Expect<Equal<typeof count, number | undefined>>;
  const child = useStore(root, ["cards", "1"]);
  type _child = Expect<Equal<typeof child, StoreSnapshot | undefined>>;

  // Any command, any payload, an unknown reply.
  const increment = useCommand(root, "increment");
  type _increment = Expect<Equal<typeof increment, CommandHandle<StoreSpec, "increment">>>;
  type _data = Expect<Equal<typeof increment.data, unknown>>;
  void increment.dispatch({ by: 1 });
  void increment.dispatch();
  void increment.dispatchAsync(["list"], { queue: true });
  // @ts-expect-error: a symbol is no payload
  void increment.dispatch(Symbol("x"));
  useCommand(root, "rename", { storeId: ["cards", "1"] });
  useCommand(root, "increment", {
    onSuccess: (reply, payload) => {
      type _reply = Expect<Equal<typeof reply, unknown>>;
    },
    onError: (error) => void error.kind,
  });

  // Any event; the payload is unknown.
  useEvent(root, "toast", (payload) => {
    type _payload = Expect<Equal<typeof payload, unknown>>;
    // @ts-expect-error: an unknown payload has no fields until narrowed
    void payload.text;
  });
  useUpload(root, "avatar", { storeId: { __musubi_store_id__: ["profile"] } });

  const connection = useConnection();
  type _connection = Expect<Equal<typeof connection, Connection<UntypedStores> | null>>;

  // @ts-expect-error: an unknown snapshot field is not a ReactNode until narrowed
  const unrendered = <p>{snapshot?.count}</p>;
  // @ts-expect-error: nor is a selection of one
  const unrenderedSelection = <p>{raw}</p>;
  void [unrendered, unrenderedSelection, suspended, child];
  return <p>{count ?? "connecting…"}</p>;
}

export function App(): ReactNode {
  return (
    <MusubiProvider url="/socket" options={{ diagnostics: false }}>
      <Counter />
    </MusubiProvider>
  );
}
