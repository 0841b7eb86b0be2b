// A note and a setting kept in this browser (`openStash`): they survive a reload and follow other
// tabs (and the plain-JS and Leptos demos: same view) live. The stash is no musubi store, so
// there is no package hook for it: `getView()` is identical until the stash changes, which is
// all `useSyncExternalStore` needs.
import { use, useState, useSyncExternalStore } from "react";
import { openStash, type Stash } from "musubi-wasm";
import type { NotesView } from "./stores";

declare global {
  interface Window {
    /** The Notes stash, for the console and the end-to-end tests. */
    musubiStash?: Stash<NotesView>;
  }
}

/** Opened once per page load (it loads the wasm module, which the provider's connection shares). */
const opening: Promise<Stash<NotesView> | Error> = openStash<NotesView>("Demo.Notes", { vsn: 1, fallback: "memory" }).then(
  (stash) => {
    window.musubiStash = stash;
    return stash;
  },
  (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
);

interface StashProblem {
  kind?: string;
  message: string;
}

function NotesPanel({ stash }: { stash: Stash<NotesView> }) {
  const { draft = "", compact = false } = useSyncExternalStore(stash.subscribe, stash.getView);
  const lastSeenAt = useSyncExternalStore(stash.subscribe, () => stash.lastSeenAt);
  const [problem, setProblem] = useState<StashProblem | undefined>(undefined);
  // A failed write (e.g. `quota_exceeded`) is shown; the stored value stays, and so does the input.
  const write = (call: () => void) => {
    try {
      call();
      setProblem(undefined);
    } catch (error) {
      setProblem(error as StashProblem);
    }
  };
  return (
    <section id="notes" className={compact ? "panel compact" : "panel"} data-testid="stash-panel">
      <h2>Notes (kept in this browser)</h2>
      <div className="row">
        <input type="text" placeholder="A note kept in this browser" data-testid="stash-draft" value={draft}
          onChange={(event) => write(() => stash.merge({ draft: event.target.value }))} />
      </div>
      <div className="row">
        <label>
          <input type="checkbox" data-testid="stash-compact" checked={compact}
            onChange={(event) => write(() => stash.merge({ compact: event.target.checked }))} /> compact view
        </label>
        <button data-testid="stash-reset" onClick={() => write(() => stash.reset())}>Forget</button>
        <small data-testid="stash-saved">{lastSeenAt === null ? "never saved" : `saved ${new Date(lastSeenAt).toLocaleTimeString()}`}</small>
      </div>
      {problem && (
        <span className="error" data-testid="stash-error" data-kind={problem.kind}>
          {problem.kind}: {problem.message}
        </span>
      )}
    </section>
  );
}

/** The Notes panel once the stash is open (render it inside a `<Suspense>`). */
export function Notes() {
  const stash = use(opening);
  if (stash instanceof Error) {
    return (
      <section id="notes" className="panel" data-testid="stash-panel">
        <p className="error">notes unavailable: {stash.message}</p>
      </section>
    );
  }
  return <NotesPanel stash={stash} />;
}
