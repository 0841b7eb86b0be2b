// The module-augmentation registry of this compilation (tsconfig.register.json): it becomes the
// default of connect(), Connection and every React hook.
import type { DemoStores } from "./specs.js";

declare module "musubi-wasm" {
  interface Register {
    stores: DemoStores;
  }
}
