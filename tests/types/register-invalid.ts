// A malformed module-augmentation registry (an entry is a bare snapshot type, the pre-spec
// registry form): every mount names the mistake — at the call, so also under skipLibCheck.
import { connect, type RegisteredStores } from "musubi-wasm";
import { useRoot } from "musubi-wasm/react";
import type { Equal, Expect } from "./equal.js";

declare module "musubi-wasm" {
  interface Register {
    stores: { "Old.Store": { count: number } };
  }
}

export type InvalidKeys = Expect<Equal<keyof RegisteredStores, "musubi-wasm: Register's stores must map each module name to a StoreSpec ({ snapshot?, commands?, events? })">>;

export async function invalid(): Promise<void> {
  const connection = await connect("/socket");
  // @ts-expect-error: the module name must be the registry's error message
  await connection.mountStore({ module: "Old.Store", id: "x" });
}

export function Invalid(): null {
  // @ts-expect-error: the React hooks say the same
  useRoot("Old.Store", "x");
  return null;
}
