// End-to-end uploads through the npm package's examples (/js/, /react/) and Demo.ProfileStore on
// an own devserver, in Chromium: a real <input type=file> filled by Playwright's setInputFiles,
// the bytes checked on the server (/_test/upload_sha256), refusals, cancel, a dropped connection
// mid-way and a restart, the external `demo-http` uploader, both wire modes, and the release of
// upload handles, listeners and files. Every test mounts its own profile root (`?profile=<id>`),
// so tests never see each other's files.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after } from "node:test";
import { measureUploads } from "./bench/upload-throughput.mjs";
import { devserverAndBrowser, e2e, openPage, png, startDevserver } from "./support.mjs";

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/", "/js/uploader.js", "/react/app.js", "/js/leak.html"] });

const MB = 1_000_000;
const TMP = mkdtempSync(path.join(tmpdir(), "musubi-upload-"));
after(() => rmSync(TMP, { recursive: true, force: true }));

let rootCount = 0;
/** A profile root id of its own for one test. */
const freshRoot = (label) => `upload-${label}-${process.pid}-${++rootCount}`;

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Writes `bytes` to a file in the test's temporary directory → its path. */
function tempFile(name, bytes) {
  const file = path.join(TMP, name);
  writeFileSync(file, bytes);
  return file;
}

const testId = (id) => `[data-testid="${id}"]`;

/** Opens an example page on a profile root of its own; resolves once the pickers are there. */
async function openProfile(t, page = "/js/", { root = freshRoot("page"), baseUrl = env.baseUrl, query = "" } = {}) {
  const opened = await openPage(t, env.browser, `${baseUrl}${page}?profile=${root}${query}`);
  await opened.locator("#status.open").waitFor({ timeout: 10_000 });
  await opened.locator(testId("profile-name"), { hasText: "Profile" }).waitFor({ timeout: 10_000 });
  await opened.locator(testId("avatar-status"), { hasText: "idle" }).waitFor({ timeout: 10_000 });
  return opened;
}

/** Records every value the upload's progress bar takes (old values included) in window.progressSeen[name]. */
function recordProgress(page, name) {
  return page.evaluate((name) => {
    const bar = document.querySelector(`[data-testid="${name}-progress"]`);
    const seen = ((window.progressSeen ??= {})[name] = []);
    new MutationObserver((records) => {
      for (const record of records) if (record.oldValue !== null) seen.push(Number(record.oldValue));
      seen.push(Number(bar.value));
    }).observe(bar, { attributes: true, attributeFilter: ["value"], attributeOldValue: true });
  }, name);
}

/**
 * Runs `action` in the page (`"cancel"`: clicks the upload's Cancel button; `"drop"`: drops every
 * connection) as soon as the server acknowledged the first bytes of the upload's first entry, and
 * records where it stood in window.actedAt.
 */
function whenUploading(page, name, action) {
  return page.evaluate(
    ({ name, action }) => {
      const entries = document.querySelector(`[data-testid="${name}-entries"]`);
      const observer = new MutationObserver(() => {
        const entry = entries.querySelector("li");
        const sent = Number(entry?.dataset.bytesSent ?? 0);
        if (sent <= 0 || !["pending", "uploading"].includes(entry.dataset.status)) return;
        observer.disconnect();
        window.actedAt = { sent, progress: Number(entry.dataset.progress), ref: entry.dataset.ref };
        if (action === "cancel") document.querySelector(`[data-testid="${name}-cancel"]`).click();
        else fetch("/_test/drop?code=4000", { method: "POST" });
      });
      observer.observe(entries, { subtree: true, childList: true, attributes: true });
    },
    { name, action },
  );
}

/** Waits for the upload's first entry to succeed → its server ref. */
async function succeeded(page, name, timeout = 30_000) {
  const entry = page.locator(`${testId(`${name}-entries`)} li[data-status="success"]`).first();
  await entry.waitFor({ timeout });
  await page.locator(testId(`${name}-status`), { hasText: "success" }).waitFor({ timeout });
  return entry.getAttribute("data-ref");
}

/** The server's SHA-256 of what it stored for `ref`. */
async function storedHash(ref, baseUrl = env.baseUrl) {
  const response = await fetch(`${baseUrl}/_test/upload_sha256?ref=${encodeURIComponent(ref)}`);
  assert.equal(response.status, 200, `no stored bytes for ${ref}`);
  return response.json();
}

/** The server's entries of one root (`/_test/uploads`). */
async function serverEntries(root, baseUrl = env.baseUrl) {
  const response = await fetch(`${baseUrl}/_test/uploads?root_id=${encodeURIComponent(root)}`);
  assert.equal(response.status, 200);
  return response.json();
}

/** Polls `check` (async, truthy when done) every 50 ms for up to `timeout` ms. */
async function eventually(check, what, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * (a) A 3 MB PNG through the avatar picker: byte-identical on the server, the progress bar seen
 * between 0 and 100 before reaching 100, and the image shown from the server.
 */
async function avatarArrives(t, pagePath, options = {}) {
  const page = await openProfile(t, pagePath, options);
  const bytes = png(3 * MB);
  await recordProgress(page, "avatar");
  await page.locator(testId("avatar-input")).setInputFiles({ name: "me.png", mimeType: "image/png", buffer: bytes });
  const ref = await succeeded(page, "avatar");
  const stored = await storedHash(ref, options.baseUrl);
  assert.deepEqual([stored.size, stored.sha256], [bytes.length, sha256(bytes)], "the server has the file byte for byte");
  await page.locator(testId("avatar-progress") + '[value="100"]').waitFor({ timeout: 5_000 });
  const seen = await page.evaluate(() => window.progressSeen.avatar);
  console.log(`[upload] ${pagePath} progress bar values: ${JSON.stringify(seen)}`);
  assert.ok(seen.some((value) => value > 0 && value < 100), `the progress bar showed an intermediate value: ${JSON.stringify(seen)}`);
  assert.equal(seen.at(-1), 100);
  const last = seen.findLastIndex((value) => value > 0 && value < 100);
  assert.ok(last < seen.lastIndexOf(100), "the intermediate values came before 100");
  const image = page.locator(testId("avatar-image"));
  await page.waitForFunction(
    (ref) => {
      const image = document.querySelector('[data-testid="avatar-image"]');
      return image && !image.hidden && image.src.endsWith(`/_uploads/${ref}`) && image.complete && image.naturalWidth === 1024;
    },
    ref,
    { timeout: 10_000 },
  );
  assert.equal(new URL(await image.getAttribute("src")).pathname, `/_uploads/${ref}`);
  assert.equal(await page.locator(`${testId("profile-files")} li[data-ref="${ref}"]`).count(), 1);
  return { page, ref };
}

e2e("plain JS: a 3 MB avatar arrives byte-identical with progress, and the page shows it from the server", async (t) => {
  const { page } = await avatarArrives(t, "/js/");
  // Reset cancels the finished entry: the server forgets the file and the avatar goes.
  await page.locator(testId("avatar-reset")).click();
  await page.locator(testId("avatar-status"), { hasText: "idle" }).waitFor({ timeout: 5_000 });
  assert.equal(await page.locator(`${testId("avatar-entries")} li`).count(), 0);
});

e2e("React: a 3 MB avatar arrives byte-identical with progress, and the page shows it from the server", async (t) => {
  await avatarArrives(t, "/react/");
});

e2e("per-root wire: a 3 MB avatar arrives byte-identical with progress", async (t) => {
  const { child, url } = await startDevserver(["--wire", "per-root"]);
  try {
    const { page } = await avatarArrives(t, "/js/", { baseUrl: url });
    assert.equal(await page.evaluate(() => window.musubiDemo.connection.info().wire), "per-root");
  } finally {
    child.kill();
  }
});

e2e("an avatar over 5 MB is refused with too_large", async (t) => {
  const page = await openProfile(t);
  await page.locator(testId("avatar-input")).setInputFiles({ name: "big.png", mimeType: "image/png", buffer: randomBytes(5 * MB + 1) });
  await page.locator(`${testId("avatar-errors")} li.too_large`).waitFor({ timeout: 10_000 });
  await page.locator(testId("avatar-status"), { hasText: "error" }).waitFor({ timeout: 5_000 });
  assert.equal(await page.locator(`${testId("avatar-entries")} li`).count(), 0, "a refused file is no entry");
  const codes = await page.evaluate(() => window.musubiDemo.profile.upload("avatar").snapshot().errors.map((error) => error.code));
  assert.deepEqual(codes, ["too_large"]);
});

e2e("an avatar that is not .png or .jpg is refused with not_accepted", async (t) => {
  const page = await openProfile(t);
  await page.locator(testId("avatar-input")).setInputFiles({ name: "me.gif", mimeType: "image/gif", buffer: randomBytes(1_000) });
  await page.locator(`${testId("avatar-errors")} li.not_accepted`).waitFor({ timeout: 10_000 });
  const codes = await page.evaluate(() => window.musubiDemo.profile.upload("avatar").snapshot().errors.map((error) => error.code));
  assert.deepEqual(codes, ["not_accepted"]);
});

e2e("cancelling a 20 MB archive mid-way removes its entry on the server", async (t) => {
  const root = freshRoot("cancel");
  const page = await openProfile(t, "/js/", { root });
  await whenUploading(page, "archive", "cancel");
  await page.locator(testId("archive-input")).setInputFiles(tempFile("cancel.bin", randomBytes(20 * MB)));
  const { ref, sent } = await page.waitForFunction(() => window.actedAt, null, { timeout: 20_000 }).then((handle) => handle.jsonValue());
  assert.ok(sent > 0 && sent < 20 * MB, `cancelled after ${sent} bytes`);
  await page.locator(`${testId("archive-entries")} li`).waitFor({ state: "detached", timeout: 5_000 });
  await page.locator(testId("archive-status"), { hasText: "cancelled" }).waitFor({ timeout: 5_000 });
  await eventually(async () => !(await serverEntries(root)).some((entry) => entry.ref === ref), `the server to forget ${ref}`);
  const stored = await fetch(`${env.baseUrl}/_test/upload_sha256?ref=${ref}`);
  assert.equal(stored.status, 404, "the partial file is deleted");
  assert.equal(await page.locator(`${testId("profile-files")} li`).count(), 0);
});

e2e("a dropped connection mid-upload shows `disconnected`; Start again sends the file byte-identical", async (t) => {
  const root = freshRoot("drop");
  const page = await openProfile(t, "/js/", { root });
  const bytes = randomBytes(20 * MB);
  await whenUploading(page, "archive", "drop");
  await page.locator(testId("archive-input")).setInputFiles(tempFile("drop.bin", bytes));
  await page.waitForFunction(() => window.actedAt, null, { timeout: 20_000 });
  const entry = page.locator(`${testId("archive-entries")} li`).first();
  await entry.locator(".entry-errors li.disconnected").waitFor({ timeout: 10_000 });
  assert.equal(await entry.getAttribute("data-status"), "error");
  await page.locator(testId("archive-status"), { hasText: "error" }).waitFor({ timeout: 5_000 });
  // Once the socket and the root are back, Start preflights the entry afresh and resends it.
  await page.locator("#status.open").waitFor({ timeout: 10_000 });
  await page.locator("#profile:not(.stale)").waitFor({ timeout: 10_000 });
  await page.locator(testId("archive-start")).click();
  const ref = await succeeded(page, "archive", 60_000);
  const stored = await storedHash(ref);
  assert.deepEqual([stored.size, stored.sha256], [bytes.length, sha256(bytes)], "the restarted upload is byte-identical");
  const server = await serverEntries(root);
  assert.deepEqual(server.filter((entry) => entry.upload === "archive").map((entry) => [entry.ref, entry.status]), [[ref, "success"]]);
  assert.equal(await page.locator(`${testId("archive-entries")} li .entry-errors li`).count(), 0, "the restart cleared the error");
}, { timeout: 120_000 });

e2e("external mode: documents go through the demo-http uploader (PUT) and complete byte-identical", async (t) => {
  const root = freshRoot("document");
  const page = await openProfile(t, "/js/", { root });
  const files = [
    { name: "report.pdf", mimeType: "application/pdf", buffer: randomBytes(MB) },
    { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("external uploads work\n") },
  ];
  await page.locator(testId("document-input")).setInputFiles(files);
  await page.locator(testId("document-status"), { hasText: "success" }).waitFor({ timeout: 30_000 });
  const entries = await page.evaluate(() => window.musubiDemo.profile.upload("document").snapshot().entries);
  assert.deepEqual(entries.map((entry) => [entry.clientName, entry.status, entry.progress]), [["report.pdf", "success", 100], ["notes.txt", "success", 100]]);
  for (const [index, entry] of entries.entries()) {
    const stored = await storedHash(entry.ref);
    assert.deepEqual([stored.size, stored.sha256], [files[index].buffer.length, sha256(files[index].buffer)], `${entry.clientName} is byte-identical`);
    await page.locator(`${testId("profile-files")} li[data-ref="${entry.ref}"]`).waitFor({ timeout: 5_000 });
  }
  const server = await serverEntries(root);
  assert.deepEqual(server.filter((entry) => entry.upload === "document").map((entry) => entry.status), ["success", "success"]);
});

e2e("upload handles, their listeners and the selected files are released on unmount and on disconnect", async (t) => {
  const page = await openPage(t, env.browser, env.baseUrl + "/js/leak.html");
  await page.waitForFunction(() => window.musubi, null, { timeout: 10_000 });
  const rows = await page.evaluate(async (root) => {
    const { musubi } = window;
    const stats = () => {
      const { uploads, subscriptions, stores, mounts, heldFiles } = musubi.debugStats();
      return { uploads, subscriptions, stores, mounts, heldFiles };
    };
    const file = (name, size) => new File([new Uint8Array(size).fill(7)], name, { type: "application/octet-stream" });
    const connection = await musubi.connect("/socket");
    const baseline = stats();
    const cycle = async (connection, id, finish) => {
      const { store, unmount } = await connection.mountStore({ module: "Demo.ProfileStore", id });
      const archive = store.upload("archive");
      if (store.upload("archive") !== archive || store.upload(store.snapshot().archive) !== archive) throw new Error("not identity-stable");
      const off = archive.subscribe(() => {});
      store.upload("avatar").subscribe(() => {});
      const first = archive.snapshot();
      if (archive.snapshot() !== first || !Object.isFrozen(first) || !Object.isFrozen(first.config)) throw new Error("snapshot not stable and frozen");
      await archive.select([file("a.bin", 200_000)]);
      // A selected, not yet sent file stays held until it is sent, cancelled or its root goes.
      const holding = stats();
      await archive.start();
      if (archive.snapshot().status !== "success") throw new Error(`status ${archive.snapshot().status}`);
      await store.upload("document").select([file("d.bin", 10)]);
      const during = stats();
      off();
      await finish(unmount);
      return { holding, during };
    };
    const unmounted = await cycle(connection, `${root}-unmount`, (unmount) => unmount());
    const afterUnmount = stats();
    const other = await musubi.connect("/socket");
    const disconnected = await cycle(other, `${root}-disconnect`, () => other.disconnect());
    const afterDisconnect = stats();
    await connection.disconnect();
    return { baseline, unmounted, afterUnmount, disconnected, afterDisconnect, closed: stats() };
  }, freshRoot("leak"));
  console.log(`[upload-leak] ${JSON.stringify(rows)}`);
  assert.deepEqual(rows.unmounted.during.uploads, 3, "three handles (archive, avatar, document)");
  assert.ok(rows.unmounted.holding.heldFiles >= 1, "a selected file is held");
  assert.deepEqual(rows.afterUnmount, rows.baseline, "unmount releases the handles, their listeners and files");
  assert.deepEqual(rows.afterDisconnect, rows.baseline, "disconnect releases the handles, their listeners and files");
  assert.deepEqual(rows.closed, { uploads: 0, subscriptions: 0, stores: 0, mounts: 0, heldFiles: 0 });
});

e2e("connect() refuses bad uploaders and upload windows with a TypeError", async (t) => {
  const page = await openPage(t, env.browser, env.baseUrl + "/js/leak.html");
  await page.waitForFunction(() => window.musubi, null, { timeout: 10_000 });
  const errors = await page.evaluate(async () => {
    const attempt = (options) =>
      window.musubi.connect("/socket", options).then(
        (connection) => (connection.disconnect(), "connected"),
        (error) => `${error.name}: ${error.message}`,
      );
    return Promise.all([
      attempt({ uploaders: { S3: "https://s3" } }),
      attempt({ uploaders: [] }),
      attempt({ uploaders: () => {} }),
      attempt({ uploadWindow: 0 }),
      attempt({ uploadWindow: 2.5 }),
      attempt({ uploadWindow: 65 }),
      attempt({ uploadWindow: "4" }),
      attempt({ uploadWindow: 64, uploaders: { S3: async () => {} } }),
    ]);
  });
  assert.deepEqual(errors, [
    'TypeError: musubi-wasm connect(): uploaders["S3"] must be a function',
    "TypeError: musubi-wasm connect(): uploaders must be an object of functions by name",
    "TypeError: musubi-wasm connect(): uploaders must be an object of functions by name",
    "TypeError: musubi-wasm connect(): uploadWindow must be an integer from 1 to 64",
    "TypeError: musubi-wasm connect(): uploadWindow must be an integer from 1 to 64",
    "TypeError: musubi-wasm connect(): uploadWindow must be an integer from 1 to 64",
    "TypeError: musubi-wasm connect(): uploadWindow must be an integer from 1 to 64",
    "connected",
  ]);
});

e2e("throughput smoke run: 5 MB archives with windows 1 and 4 arrive intact (MB/s printed, not asserted)", async (t) => {
  const page = await openPage(t, env.browser, env.baseUrl + "/js/leak.html");
  const results = await measureUploads(page, { bytes: 5 * MB, runs: 1, windows: [1, 4] });
  for (const { window, medianMbPerSecond } of results) console.log(`[upload-throughput] 5 MB, window ${window}: ${medianMbPerSecond} MB/s`);
  assert.deepEqual(results.map((result) => result.window), [1, 4]);
});
