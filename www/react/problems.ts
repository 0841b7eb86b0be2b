// Failures shown in the page's #problem line: `useCommand`'s `dispatch` never rejects (its
// `error` holds the last failure), so components hand each new error to `useReportError`.
import { createContext, useContext, useEffect } from "react";
import { MusubiCommandError } from "musubi-wasm";

/** Shows `"<what> failed: <why>"` in the page's problem line. */
export type Report = (what: string, error: unknown) => void;

export const ReportContext = createContext<Report>(() => {});

/** The page's reporter (for failures outside a command handle, e.g. an upload's `select`). */
export const useReport = (): Report => useContext(ReportContext);

/** Why `error` happened, in a word where there is one: a command error's or the client's `kind`. */
export function describe(error: unknown): string {
  if (MusubiCommandError.is(error)) return error.kind;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Reports `error` (e.g. a command handle's or a root's) each time it becomes a new, non-null error. */
export function useReportError(what: string, error: Error | null): void {
  const report = useReport();
  useEffect(() => {
    if (error !== null) report(what, error);
  }, [report, what, error]);
}
