// End-to-end: the `musubi-wasm/react` hooks on a test page (tests/e2e/react-hooks/app.jsx) that
// this file bundles with esbuild (react, react-dom and the package included; every case under
// <StrictMode>), served by an own devserver, in Chromium. Plus a server render in Node.
//
// The page is bundled against a copy of pkg/ (build it first: scripts/build-pkg.sh) whose
// react.js is replaced by src/js/npm/react.js, so that the file being worked on is what runs;
// MUSUBI_REACT_FROM_PKG=1 tests pkg/react.js as built instead.
//
// Run: MUSUBI_DEVSERVER_BIN=target/debug/musubi-devserver node --test --test-concurrency=1 tests/e2e/react-hooks.test.mjs
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import { ROOT, e2e, launchBrowser, openPage, startDevserverServing } from "./support.mjs";

const PKG = path.join(ROOT, "pkg");
const PAGE_SOURCE = path.join(ROOT, "tests/e2e/react-hooks");
const FROM_PKG = process.env.MUSUBI_REACT_FROM_PKG === "1";

const env = { baseUrl: undefined, browser: undefined, server: undefined, out: undefined };

/** Copies pkg/ (with the react.js under test) and bundles the page into a temporary directory. */
async function buildPage() {
  if (!existsSync(path.join(PKG, "web/musubi_wasm_bg.wasm"))) throw new Error("pkg/ is not built: run scripts/build-pkg.sh first");
  mkdirSync(path.join(ROOT, "target"), { recursive: true });
  const out = mkdtempSync(path.join(ROOT, "target", "react-hooks-"));
  const pkg = path.join(out, "pkg");
  const www = path.join(out, "www");
  cpSync(PKG, pkg, { recursive: true });
  if (!FROM_PKG) copyFileSync(path.join(ROOT, "src/js/npm/react.js"), path.join(pkg, "react.js"));
  mkdirSync(www);
  const entries = { "musubi-wasm": path.join(pkg, "index.js"), "musubi-wasm/react": path.join(pkg, "react.js") };
  const result = await esbuild.build({
    entryPoints: [path.join(PAGE_SOURCE, "app.jsx")],
    outfile: path.join(www, "app.js"),
    bundle: true,
    format: "esm",
    jsx: "automatic",
    // React's development build: StrictMode double-renders and double-runs effects.
    define: { "process.env.NODE_ENV": '"development"' },
    sourcemap: "inline",
    logLevel: "silent",
    plugins: [
      {
        name: "musubi-wasm",
        setup(build) {
          build.onResolve({ filter: /^musubi-wasm(\/react)?$/ }, (args) => ({ path: entries[args.path] }));
        },
      },
    ],
  });
  assert.deepEqual(result.warnings.map((warning) => warning.text), [], "esbuild warnings");
  copyFileSync(path.join(PAGE_SOURCE, "index.html"), path.join(www, "index.html"));
  // The wasm-bindgen glue loads `new URL("musubi_wasm_bg.wasm", import.meta.url)`: next to app.js.
  copyFileSync(path.join(pkg, "web/musubi_wasm_bg.wasm"), path.join(www, "musubi_wasm_bg.wasm"));
  return out;
}

before(async () => {
  env.out = await buildPage();
  ({ child: env.server, url: env.baseUrl } = await startDevserverServing(path.join(env.out, "www")));
  env.browser = await launchBrowser();
});

after(async () => {
  await env.browser?.close();
  env.server?.kill();
  if (env.out && process.env.MUSUBI_REACT_KEEP_PAGE !== "1") rmSync(env.out, { recursive: true, force: true });
});

let runs = 0;
/** Opens the page on `which` case with root ids of its own. */
function openCase(t, which) {
  return openPage(t, env.browser, `${env.baseUrl}/index.html?case=${which}&run=${process.pid}-${++runs}`);
}

const serverStats = async () => (await fetch(`${env.baseUrl}/_test/stats`)).json();
const pageStats = (page) => page.evaluate(() => window.page.stats());
const pageLog = (page) => page.evaluate(() => window.page.log);
const text = (page, selector) => page.locator(selector).textContent();

/** Waits until `selector`'s text is `want`. */
function waitForText(page, selector, want, timeout = 10_000) {
  return page.waitForFunction(([selector, want]) => document.querySelector(selector)?.textContent === want, [selector, want], { timeout });
}

/** Waits until the page's log has a line matching `pattern` → that line. */
async function waitForLog(page, pattern, timeout = 10_000) {
  const handle = await page.waitForFunction(
    ([source, flags]) => window.page.log.find((line) => new RegExp(source, flags).test(line)),
    [pattern.source, pattern.flags],
    { timeout },
  );
  return handle.jsonValue();
}

/** Polls `read` until `check(value)` holds → the value (fails with the last value after `timeout`). */
async function eventually(read, check, what, timeout = 5_000) {
  const deadline = Date.now() + timeout;
  let value;
  for (;;) {
    value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new assert.AssertionError({ message: `${what}: still ${JSON.stringify(value)}` });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const dedupe = (list) => list.filter((item, i) => i === 0 || item !== list[i - 1]);

// ---- Server render (Node) --------------------------------------------------------------------

test("server render: no connection or mount, status connecting, root idle; suspense renders the fallback; hooks outside the provider throw", async () => {
  const { createElement, StrictMode, Suspense } = await import("react");
  const { renderToString } = await import("react-dom/server");
  const hooks = await import(pathToFileURL(path.join(env.out, "pkg/react.js")).href);
  const { MusubiProvider, useConnection, useConnectionStatus, useRoot, useStore, useCommand, useEvent, useUpload } = hooks;

  function View() {
    const status = useConnectionStatus();
    const connection = useConnection();
    const root = useRoot("Demo.CounterStore", "ssr", { start: 1 });
    const count = useStore(root, undefined, (snapshot) => snapshot.count);
    const command = useCommand(root, "increment");
    useEvent(root, "toast", () => {});
    const upload = useUpload(root, "avatar");
    return createElement("p", null, [status.status, connection, root.status, root.store, count, command.pending, command.queued, upload.handle, upload.snapshot].map(String).join("|"));
  }
  const html = renderToString(createElement(StrictMode, null, createElement(MusubiProvider, { url: "/socket" }, createElement(View))));
  assert.match(html, /connecting\|null\|idle\|null\|undefined\|false\|0\|null\|null/);

  // Suspense mode cannot mount on the server: the boundary's fallback goes out (and the client renders it).
  function Suspended() {
    useRoot("Demo.CounterStore", "ssr", undefined, { suspense: true });
    return createElement("p", null, "mounted");
  }
  const errors = [];
  const original = console.error;
  console.error = (...args) => errors.push(args.map(String).join(" "));
  let suspended;
  try {
    suspended = renderToString(createElement(MusubiProvider, { url: "/socket" }, createElement(Suspense, { fallback: createElement("i", null, "fallback") }, createElement(Suspended))));
  } finally {
    console.error = original;
  }
  assert.match(suspended, /fallback/);
  assert.doesNotMatch(suspended, /mounted/);

  const root = { module: "Demo.CounterStore", id: "x", store: null, status: "idle", error: null, stale: false };
  const outside = {
    useConnection: () => useConnection(),
    useConnectionStatus: () => useConnectionStatus(),
    useRoot: () => useRoot("Demo.CounterStore", "x"),
    useStore: () => useStore(root),
    useCommand: () => useCommand(root, "increment"),
    useEvent: () => useEvent(root, "toast", () => {}),
    useUpload: () => useUpload(root, "avatar"),
  };
  for (const [name, call] of Object.entries(outside)) {
    const Component = () => (call(), null);
    assert.throws(() => renderToString(createElement(Component)), { message: `musubi-wasm/react: ${name}() must be used inside <MusubiProvider>` }, name);
  }
});

// ---- In the browser --------------------------------------------------------------------------

e2e("counter: useRoot + useStore(selector) + useCommand + useEvent; one socket and one mount per root under StrictMode", async (t) => {
  const before = await serverStats();
  const page = await openCase(t, "counter");
  await waitForText(page, "#status", "open");
  await waitForText(page, "#root-status", "live");
  await waitForText(page, "#count", "0");
  assert.equal(await text(page, "#has-connection"), "true");
  assert.equal(await text(page, "#label"), "Counter", "useStore(root, selector) shorthand");
  const statuses = await page.evaluate(() => window.page.statuses);
  assert.equal(statuses[0], "connecting");
  assert.deepEqual(dedupe(statuses), ["connecting", "open"], "useConnectionStatus went connecting → open");
  const after = await serverStats();
  assert.equal(after.connects - before.connects, 1, "StrictMode's double effects opened one socket");
  assert.equal(after.mounts - before.mounts, 2, "and mounted each of the two roots once");
  assert.equal((await pageStats(page)).connections, 1);

  // Before the root is mounted: not_mounted, dispatch resolves undefined.
  const early = await pageLog(page);
  assert.ok(early.includes('early dispatchAsync not_mounted: musubi-wasm/react: useCommand("increment"): the root is not mounted yet'), early.join("\n"));
  assert.ok(early.includes("early dispatch resolved undefined"), early.join("\n"));
  assert.ok(early.includes("early upload not_mounted"), early.join("\n"));
  assert.equal(await text(page, "#early-error"), "not_mounted");
  const earlyCalls = early.filter((line) => line.startsWith("early dispatchAsync") || line.startsWith("early dispatch resolved")).length;
  assert.ok(earlyCalls >= 2);
  assert.equal(early.filter((line) => line === 'early onError not_mounted {"by":1}').length, earlyCalls, "onError heard each refused call once");

  // Commands and the selected values.
  await page.click("#increment");
  await waitForText(page, "#count", "1");
  await waitForText(page, "#boxed", "1");
  await page.click("#increment");
  await waitForText(page, "#count", "2");
  assert.equal(await text(page, "#queued"), "0");
  const successes = (await pageLog(page)).filter((line) => line.startsWith("increment onSuccess"));
  assert.deepEqual(successes, ['increment onSuccess {} {"by":1}', 'increment onSuccess {} {"by":1}'], "onSuccess once per call, with the reply and the payload");

  // pending → data.
  await page.click("#slow");
  await waitForText(page, "#slow-pending", "true", 2_000);
  assert.equal(await text(page, "#slow-data"), "none");
  await waitForText(page, "#slow-pending", "false", 5_000);
  assert.equal(await text(page, "#slow-data"), "{}");
  await waitForLog(page, /^slow resolved \{\}$/);
  // Its onSuccess threw: reported as uncaught, and the call still settled as a success.
  await waitForLog(page, /^reported onSuccess threw on purpose$/);

  // A failing command: dispatch resolves undefined and sets error; dispatchAsync rejects.
  await page.click("#fail");
  await waitForText(page, "#fail-error", 'MusubiCommandError: Command "fail" failed: demo failure');
  await waitForLog(page, /^fail dispatch resolved undefined$/);
  assert.equal(await text(page, "#fail-pending"), "false");
  await page.click("#fail-reset");
  await waitForText(page, "#fail-error", "none");
  await page.click("#fail-async");
  await waitForLog(page, /^fail dispatchAsync rejected MusubiCommandError demo failure$/);
  await waitForText(page, "#fail-error", 'MusubiCommandError: Command "fail" failed: demo failure');
  assert.equal((await pageLog(page)).filter((line) => line === "fail onError MusubiCommandError demo failure undefined").length, 2, "onError once per failed call (dispatch and dispatchAsync)");
  await page.click("#unknown");
  assert.match(await waitForLog(page, /^unknown rejected /), /unknown command/);
  assert.match(await text(page, "#unknown-error"), /unknown command/);

  // A push event: once, through the latest callback; the label change leaves the boxed count's identity alone.
  const boxes = await page.evaluate(() => window.page.boxes);
  assert.equal(boxes, 3, "the boxed selection changed identity once per count (0, 1, 2)");
  await page.fill("#label-input", "Hooked");
  await page.click("#set-label");
  await waitForText(page, "#label", "Hooked");
  await waitForText(page, "#toast", "Label set to “Hooked”");
  await page.click("#increment");
  await waitForText(page, "#count", "3");
  const log = await pageLog(page);
  assert.equal(log.filter((line) => line === "toast Label set to “Hooked”").length, 1, "the event reached the callback once");
  assert.equal(await page.evaluate(() => window.page.boxes), 4, "isEqual kept the selection across the label change");
  assert.ok((await page.evaluate(() => window.page.renders)) < 60, "no render loop");
  assert.equal((await serverStats()).connects - before.connects, 1, "still one socket");
});

e2e("board: child stores by snapshot and by id (useStore, useCommand storeId), handles memoized", async (t) => {
  const page = await openCase(t, "board");
  await waitForText(page, "#status", "open");
  await page.waitForFunction(() => document.querySelectorAll("#cards li").length === 2, null, { timeout: 10_000 });
  assert.deepEqual(await page.$$eval("#cards .title", (items) => items.map((item) => item.textContent)), ["Try Musubi", "Open a second tab"]);
  const stores = (await pageStats(page)).stores;
  const first = page.locator("#cards li").first();
  await first.locator(".toggle").click();
  await page.locator("#cards li.done").first().waitFor({ timeout: 5_000 });
  await first.locator(".toggle").click();
  await page.waitForFunction(() => document.querySelectorAll("#cards li.done").length === 0, null, { timeout: 5_000 });
  const second = page.locator("#cards li").nth(1);
  const id = await second.getAttribute("data-id");
  await second.locator(".rename").click();
  await page.locator("#cards .title", { hasText: `renamed ${id}` }).waitFor({ timeout: 5_000 });
  assert.equal((await pageStats(page)).stores, stores, "re-renders made no new store handles");
  await page.click("#add-card");
  await page.waitForFunction(() => document.querySelectorAll("#cards li").length === 3, null, { timeout: 5_000 });
  await page.locator("#cards .title", { hasText: "added" }).waitFor({ timeout: 5_000 });
});

e2e("upload: useUpload selects, starts and reports progress", async (t) => {
  const page = await openCase(t, "upload");
  await waitForText(page, "#has-handle", "true");
  assert.equal(await text(page, "#upload-status"), "idle");
  await page.locator("#avatar-input").setInputFiles({ name: "me.png", mimeType: "image/png", buffer: randomBytes(400_000) });
  await waitForLog(page, /^upload finished$/);
  await waitForText(page, "#upload-status", "success");
  assert.equal(await text(page, "#upload-progress"), "100");
  await waitForText(page, "#files", "me.png");
  const progress = await page.evaluate(() => window.page.progress);
  assert.ok(progress.includes("success 100"), progress.join(", "));
  assert.ok(
    progress.some((line) => /^uploading (\d+)$/.test(line) && Number(line.split(" ")[1]) > 0 && Number(line.split(" ")[1]) < 100),
    `an intermediate progress was rendered: ${progress.join(", ")}`,
  );
});

e2e("suspense above the provider: the fallback, then the root; the render's connection is the provider's", async (t) => {
  const page = await openCase(t, "suspense-outer");
  await waitForText(page, "#suspense-count", "7");
  assert.ok((await pageLog(page)).includes("fallback outer"), "the fallback was shown");
  assert.equal(await text(page, "#suspense-status"), "live");
  await waitForText(page, "#status", "open");
  assert.equal((await pageStats(page)).connections, 1, "one connection");
  assert.equal((await pageStats(page)).mounts, 1, "one mount");
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await pageStats(page)).connections, 1, "still one connection");
});

e2e("suspense below the provider: the fallback, then the root; a mount error reaches the error boundary", async (t) => {
  const page = await openCase(t, "suspense-inner");
  await waitForText(page, "#suspense-count", "7");
  assert.ok((await pageLog(page)).includes("fallback inner"), "the fallback was shown");
  await page.locator("#suspense-error").waitFor({ timeout: 10_000 });
  assert.match(await text(page, "#suspense-error"), /unknown root/);
  assert.equal(await page.locator("#suspense-failure-rendered").count(), 0);
  assert.ok((await pageLog(page)).some((line) => /^caught .*unknown root/.test(line)));
  assert.equal((await pageStats(page)).connections, 1);
});

e2e("a hook outside <MusubiProvider> throws the documented error", async (t) => {
  const page = await openCase(t, "outside");
  await page.locator("#outside-error").waitFor({ timeout: 10_000 });
  assert.equal(await text(page, "#outside-error"), "musubi-wasm/react: useConnectionStatus() must be used inside <MusubiProvider>");
});

e2e("an app-owned connection: the provider uses it and never disconnects it", async (t) => {
  const page = await openCase(t, "external");
  await waitForText(page, "#root-status", "live");
  await waitForText(page, "#status", "open");
  await page.evaluate(() => window.page.unmountExternal());
  await page.waitForFunction(() => window.page.external.info().roots.length === 0, null, { timeout: 5_000 });
  assert.equal(await page.evaluate(() => window.page.external.status), "open");
  assert.equal((await pageStats(page)).connections, 1);
  await page.evaluate(() => window.page.external.disconnect());
  assert.equal((await pageStats(page)).connections, 0);
});

const LEAK_CYCLES = 100;

e2e(
  `leak: ${LEAK_CYCLES} provider mount/unmount cycles (each with a root) leave no connection, mount or socket behind, alone and next to a kept provider`,
  async (t) => {
    const page = await openCase(t, "leak");
    await page.locator("#leak-ready").waitFor({ timeout: 10_000 });
    const cycles = async (phase) => {
      const started = Date.now();
      await page.evaluate(([cycles, phase]) => window.page.leak(cycles, phase), [LEAK_CYCLES, phase]);
      console.log(`[react-hooks leak] phase ${phase}: ${LEAK_CYCLES} cycles in ${Date.now() - started} ms`);
    };

    // Alone: every connection and root goes once its provider is gone.
    await cycles("alone");
    const released = await eventually(() => pageStats(page), (stats) => stats.connections === 0 && stats.mounts === 0, "debugStats after the cycles");
    console.log(`[react-hooks leak] released: ${JSON.stringify(released)}`);
    for (const key of ["connections", "mounts", "stores", "subscriptions", "uploads", "liveHandles"]) assert.equal(released[key], 0, key);
    // This file's other pages are closed, so the devserver's counts are this page's.
    const server = await eventually(serverStats, (stats) => stats.sockets === 0 && stats.roots === 0, "/_test/stats after the cycles");
    console.log(`[react-hooks leak] server: ${JSON.stringify(server)}`);

    // Next to a kept provider: the cycles share its connection, so their roots must be unmounted.
    await page.evaluate(() => window.page.keep());
    const kept = await pageStats(page);
    assert.equal(kept.connections, 1);
    assert.equal(kept.mounts, 1);
    await eventually(serverStats, (stats) => stats.sockets === 1 && stats.roots === 1, "/_test/stats with one provider");
    await cycles("kept");
    const afterKept = await eventually(() => pageStats(page), (stats) => stats.connections === 1 && stats.mounts === 1, "debugStats after the cycles next to the kept provider");
    console.log(`[react-hooks leak] kept: ${JSON.stringify(afterKept)}`);
    assert.equal(afterKept.subscriptions, kept.subscriptions, "subscriptions");
    assert.equal(afterKept.stores, kept.stores, "stores");
    await eventually(serverStats, (stats) => stats.sockets === 1 && stats.roots === 1, "/_test/stats after the cycles next to the kept provider");

    await page.evaluate(() => window.page.drop());
    await eventually(() => pageStats(page), (stats) => stats.connections === 0 && stats.mounts === 0, "debugStats after the last unmount");
    await eventually(serverStats, (stats) => stats.sockets === 0 && stats.roots === 0, "/_test/stats after the last unmount");
    assert.ok(!(await pageLog(page)).some((line) => line.startsWith("caught")), "no error was caught");
  },
  { timeout: 180_000 },
);
