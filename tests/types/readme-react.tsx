import { MusubiProvider, useRoot, useStore, useCommand } from "musubi-wasm/react";

interface Stores {
  "Demo.CounterStore": {
    snapshot: { count: number; label: string };
    commands: { increment: { payload: { by: number }; reply: { count: number } } };
  };
}
declare module "musubi-wasm" {
  interface Register { stores: Stores }
}

function Counter() {
  const root = useRoot("Demo.CounterStore", "counter");
  const count = useStore(root, undefined, (s) => s.count);
  const increment = useCommand(root, "increment");
  if (count === undefined) return <p>connecting…</p>;
  return <button disabled={increment.pending} onClick={() => increment.dispatch({ by: 1 })}>{count}</button>;
}

export default function App() {
  return (
    <MusubiProvider url="/socket">
      <Counter />
    </MusubiProvider>
  );
}
