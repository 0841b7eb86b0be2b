"use client";

import { useCommand, useConnectionStatus, useRoot, useStore } from "musubi-wasm/react";

export function Counter() {
  const { status } = useConnectionStatus();
  const root = useRoot("Demo.CounterStore", "counter");
  const count = useStore(root, (snapshot) => snapshot.count);
  const increment = useCommand(root, "increment");

  return (
    <>
      <p>
        Connection: <output id="status">{status}</output>
      </p>
      <p>
        Count: <output id="count">{count ?? "…"}</output>
      </p>
      <button id="increment" disabled={count === undefined} onClick={() => increment.dispatch({ by: 1 })}>
        +1
      </button>
      {increment.error && <p role="alert">{increment.error.message}</p>}
    </>
  );
}
