// The demo devserver's stores (devserver/src/channels/musubi/stores/*.rs), registered once for
// the whole app: every `useRoot("Demo.…")`, `useStore`, `useCommand` and `useEvent` below is
// checked against these specs (a wrong module, field, command, payload or event fails `tsc`).
import type { AsyncValue, ChildSnapshot, Json, UploadMarker } from "musubi-wasm";

/** A command the server answers without a reply body (`ok {}`). */
type NoReply = Record<string, never>;

/** `Demo.CounterStore` (counter.rs): a count, a label, a newest-first log stream (≤ 50 items). */
export interface CounterSpec {
  snapshot: {
    count: number;
    label: string;
    /** A stream: an array in the snapshot. */
    log: { id: string; text: string }[];
    /** Appears once `set_meta` was called. */
    meta?: { [key: string]: Json };
  };
  commands: {
    /** `count += by` (default 1). */
    increment: { payload?: { by?: number }; reply: NoReply };
    /** Toasts (event `toast`) when the label changes. */
    set_label: { payload: { label: string }; reply: NoReply };
    set_meta: { payload: { key: string; value?: Json }; reply: NoReply };
    /** Always fails: `error {"reason": "demo failure"}`. */
    fail: {};
    /** Replies `{}` after `ms` (0..=60000, default 1000). */
    slow: { payload?: { ms?: number }; reply: NoReply };
  };
  events: {
    toast: { text: string };
  };
}

/** One card of the board: the child store `["cards", id]` (board.rs). */
export interface CardSpec {
  snapshot: { id: string; title: string; done: boolean };
  commands: {
    rename: { payload: { title: string }; reply: NoReply };
    toggle: { reply: NoReply };
  };
  events: {};
}

/** `Demo.BoardStore` (board.rs): cards as child stores, and `stats` loading then `{cards}`. */
export interface BoardSpec {
  snapshot: {
    title: string;
    cards: ChildSnapshot<CardSpec>[];
    stats: AsyncValue<{ cards: number }>;
  };
  commands: {
    add_card: { payload: { title: string }; reply: { id: string } };
    /** `error {"reason": "unknown card"}` when it is not there. */
    remove_card: { payload: { id: string | number }; reply: NoReply };
  };
  events: {};
}

/** The uploads Demo.ProfileStore declares. */
export type UploadName = "avatar" | "document" | "archive";

/** `Demo.ProfileStore` (profile.rs): three uploads, the files uploaded so far, the avatar's URL. */
export interface ProfileSpec {
  snapshot: {
    name: string;
    avatar: UploadMarker;
    document: UploadMarker;
    archive: UploadMarker;
    /** The latest avatar's URL (a path on the devserver), or null. */
    avatar_url: string | null;
    files: { upload: UploadName; ref: string; name: string; size: number; url: string }[];
  };
  commands: {
    /** Removes every entry of that upload and its files. */
    clear: { payload: { upload: UploadName }; reply: NoReply };
  };
  events: {};
}

export interface DemoStores {
  "Demo.CounterStore": CounterSpec;
  "Demo.BoardStore": BoardSpec;
  "Demo.ProfileStore": ProfileSpec;
}

declare module "musubi-wasm" {
  interface Register {
    stores: DemoStores;
  }
}

/** What the Notes panel keeps in its stash (view `Demo.Notes`, shared with the other demos). */
export interface NotesView {
  draft: string;
  compact: boolean;
}
