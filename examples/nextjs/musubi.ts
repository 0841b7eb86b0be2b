// The server's stores, declared once: module names, snapshots, commands and replies are then
// checked by TypeScript in every musubi-wasm/react hook.
export interface CounterSpec {
  snapshot: { count: number; label: string };
  commands: {
    increment: { payload: { by: number } };
    set_label: { payload: { label: string } };
  };
  events: { toast: { text: string } };
}

declare module "musubi-wasm" {
  interface Register {
    stores: { "Demo.CounterStore": CounterSpec };
  }
}
