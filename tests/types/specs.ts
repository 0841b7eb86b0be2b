// Store specs shared by the registry tests (the demo devserver's stores), declared as interfaces:
// a registry needs no index signature.
import type { AsyncValue, ChildSnapshot, UploadMarker } from "musubi-wasm";

export interface CounterSpec {
  snapshot: {
    count: number;
    label: string;
    log: { id: string; text: string }[];
  };
  commands: {
    increment: { payload: { by: number }; reply: { count: number } };
    set_label: { payload: { label: string } };
    /** No payload declared: takes none. */
    reset: {};
    /** An optional payload. */
    bump: { payload?: { by: number }; reply: number };
    /** A `void` payload: takes none. */
    ping: { payload: void; reply: "pong" };
  };
  events: { toast: { text: string }; cleared: null };
}

export interface CardSpec {
  snapshot: { title: string; done: boolean };
  commands: { rename: { payload: { title: string } }; toggle: {} };
  events: { renamed: { title: string } };
}

export interface BoardSpec {
  snapshot: {
    cards: ChildSnapshot<CardSpec>[];
    stats: AsyncValue<{ total: number }>;
  };
  commands: { add_card: { payload: { title: string }; reply: { id: string } } };
}

/** Only a snapshot: commands and events stay untyped. */
export interface ProfileSpec {
  snapshot: { avatar: UploadMarker; avatar_url: string | null };
}

/** Declares that it has no commands. */
export interface ReadOnlySpec {
  snapshot: { value: number };
  commands: {};
  events: {};
}

export interface DemoStores {
  "Demo.CounterStore": CounterSpec;
  "Demo.BoardStore": BoardSpec;
  "Demo.ProfileStore": ProfileSpec;
  "Demo.ReadOnlyStore": ReadOnlySpec;
}
