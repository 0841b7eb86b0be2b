// Demo.ProfileStore's panel: the avatar from the server, a picker per declared upload
// (`useUpload`), the files on the server. Test ids match the plain page's (`<name>-input`, …).
import type { ChangeEvent } from "react";
import type { UploadError, UploadMarker } from "musubi-wasm";
import { useRoot, useStore, useUpload, type Root } from "musubi-wasm/react";
import { useReport, useReportError } from "./problems";
import type { ProfileSpec, UploadName } from "./stores";

function UploadErrors({ errors, testId }: { errors: readonly UploadError[]; testId: string }) {
  return (
    <ul className="errors" data-testid={testId}>
      {errors.map((error, i) => (
        <li key={i} className={`error ${error.code}`}>
          {error.code}: {error.message}
        </li>
      ))}
    </ul>
  );
}

interface PickerProps {
  root: Root<ProfileSpec>;
  name: UploadName;
  /** The snapshot's marker for `name` once the root is there (what `useUpload` is given then). */
  marker?: UploadMarker | undefined;
  title: string;
  accept?: string;
  multiple?: boolean;
}

/**
 * A picker for one upload: choosing files selects and starts them; Start / Cancel / Reset; a
 * progress bar; the upload's status and errors; each entry's status, progress and errors.
 */
function UploadPicker({ root, name, marker, title, accept, multiple = false }: PickerProps) {
  const upload = useUpload(root, marker ?? name);
  const report = useReport();
  // No snapshot until the root is mounted: an empty picker meanwhile.
  const { snapshot } = upload;
  const status = snapshot?.status ?? "";
  const progress = snapshot?.progress ?? 0;
  const entries = snapshot?.entries ?? [];
  const errors = snapshot?.errors ?? [];
  const run = (what: string, call: Promise<unknown>) => void call.catch((error: unknown) => report(`${name} ${what}`, error));
  const pick = async (event: ChangeEvent<HTMLInputElement>) => {
    const files = [...(event.target.files ?? [])];
    event.target.value = "";
    if (files.length === 0) return;
    try {
      const selected = await upload.select(files);
      if (selected.some((entry) => entry.status === "pending")) await upload.start();
    } catch (error) {
      report(`${name} upload`, error);
    }
  };
  return (
    <div className="upload-panel" id={`${name}-panel`}>
      <h3>{title}</h3>
      <div className="row">
        <input type="file" accept={accept} multiple={multiple} data-testid={`${name}-input`} onChange={pick} />
      </div>
      <div className="row">
        <button data-testid={`${name}-start`} onClick={() => run("start", upload.start())}>Start</button>
        <button data-testid={`${name}-cancel`} onClick={() => run("cancel", upload.cancel())}>Cancel</button>
        <button data-testid={`${name}-reset`} onClick={() => run("reset", upload.reset())}>Reset</button>
      </div>
      <div className="row">
        <progress max={100} value={progress} data-testid={`${name}-progress`} />
        <span className={`upload-status ${status}`} data-testid={`${name}-status`}>{status}</span>
      </div>
      <UploadErrors errors={errors} testId={`${name}-errors`} />
      <ul className="entries" data-testid={`${name}-entries`}>
        {entries.map((entry) => (
          <li key={entry.ref} data-ref={entry.ref} data-status={entry.status} data-progress={entry.progress} data-bytes-sent={entry.bytesSent}>
            <span>
              {entry.clientName} ({entry.clientSize} B) — {entry.status} {Math.round(entry.progress)} %
            </span>
            <button className="cancel-entry" title="Cancel this file" onClick={() => run("cancel", upload.cancel(entry.ref))}>✕</button>
            <ul className="entry-errors">
              {entry.errors.map((error, i) => (
                <li key={i} className={`error ${error.code}`}>
                  {error.code}: {error.message}
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Demo.ProfileStore under `id` (`?profile=<id>`, default "demo-profile"). */
export function Profile({ id }: { id: string }) {
  const root = useRoot("Demo.ProfileStore", id);
  useReportError(`mount ${id}`, root.error);
  const profile = useStore(root);
  return (
    <section id="profile" className={root.stale ? "panel stale" : "panel"}>
      <h2 data-testid="profile-name">{profile?.name}</h2>
      <div className="uploads">
        <div>
          {profile?.avatar_url && <img data-testid="avatar-image" className="avatar" alt="Avatar" src={new URL(profile.avatar_url, location.href).href} />}
          {/* The avatar picker is handed the snapshot's upload marker (the others their names). */}
          <UploadPicker root={root} name="avatar" marker={profile?.avatar} title="Avatar" accept=".png,.jpg" />
        </div>
        <UploadPicker root={root} name="document" title="Documents (demo-http)" multiple />
        <UploadPicker root={root} name="archive" title="Archive" />
      </div>
      <h3>Files on the server</h3>
      <ul data-testid="profile-files" className="files">
        {(profile?.files ?? []).map((file) => (
          <li key={file.ref} data-ref={file.ref} data-upload={file.upload}>
            <a href={new URL(file.url, location.href).href}>{file.name}</a> {file.upload}, {file.size} B
          </li>
        ))}
      </ul>
    </section>
  );
}
