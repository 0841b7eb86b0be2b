// End-to-end: the React demo (www/react, built by Vite into www/dist/react by
// scripts/build-examples.sh) on the package's hooks (`musubi-wasm/react`), under <StrictMode> in
// React's development build (double render, double effects), against an own devserver in
// Chromium: one socket and one server mount per root despite the double effects, released when
// the page goes; a click counts; a board card's child store renders and follows a change made
// elsewhere; a push event toasts; uploads (channel and the external `demo-http` uploader) reach
// 100 %; while offline a click shows the outbox indicator ("1 change waiting") and is applied
// once; a reload while the server is away shows the cached marker; `?offline=0` refuses instead.
//
// Run: MUSUBI_DEVSERVER_BIN=target/debug/musubi-devserver node --test --test-concurrency=1 tests/e2e/react-demo.test.mjs
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { devserverAndBrowser, e2e, openPage, png } from "./support.mjs";

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/", "/react/", "/react/app.js"] });

/** Sockets refused during `/_test/pause` are reported by the browser itself. */
const REFUSED = [/WebSocket connection to .* failed/];
const testId = (id) => `[data-testid="${id}"]`;
const count = async (page) => Number(await page.locator("#count").textContent());
const waitForCount = (page, want, timeout = 5_000) =>
  page.waitForFunction((want) => Number(document.querySelector("#count")?.textContent) === want, want, { timeout });
const serverStats = async () => (await fetch(`${env.baseUrl}/_test/stats`)).json();

/** Polls `read` until `check` holds (→ the value), else fails with the last value. */
async function eventually(read, check, what, timeout = 5_000) {
  const until = Date.now() + timeout;
  let value;
  for (;;) {
    value = await read();
    if (check(value)) return value;
    if (Date.now() > until) assert.fail(`${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let profiles = 0;
/** Opens the React page (with its own profile root) once it is connected and shows every root. */
async function openReact(t, { query = "", expected = [] } = {}) {
  const profile = `react-demo-${process.pid}-${++profiles}`;
  const page = await openPage(t, env.browser, `${env.baseUrl}/react/?profile=${profile}${query}`, expected);
  await page.locator("#status.open").waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => /^-?\d+$/.test(document.querySelector("#count")?.textContent ?? ""), null, { timeout: 10_000 });
  await page.locator("#cards li").first().waitFor({ timeout: 10_000 });
  await page.locator(testId("profile-name"), { hasText: "Profile" }).waitFor({ timeout: 10_000 });
  await page.locator(testId("avatar-status"), { hasText: "idle" }).waitFor({ timeout: 10_000 });
  await page.locator("#counter:not(.stale)").waitFor({ timeout: 5_000 });
  return page;
}

// First, while no other page is open: the server's counters belong to this page alone.
e2e("React demo: under StrictMode one socket and one mount per root, released when the page goes", async (t) => {
  const bundle = await (await fetch(`${env.baseUrl}/react/app.js`)).text();
  if (process.env.MUSUBI_REACT_MODE === "production") {
    t.diagnostic("built with MUSUBI_REACT_MODE=production: StrictMode double-invokes nothing there");
  } else {
    assert.ok(bundle.includes("react-dom-client.development"), "the demo is built with React's development build (StrictMode active)");
  }
  const before = await eventually(serverStats, (stats) => stats.sockets === 0 && stats.roots === 0, "no sockets before the page");
  const page = await openReact(t);
  const stats = await eventually(serverStats, (stats) => stats.sockets === 1 && stats.roots === 3, "one socket, three roots");
  // StrictMode ran every effect twice; the provider and useRoot shared, so nothing left and re-joined.
  await page.waitForTimeout(300);
  const settled = await serverStats();
  assert.equal(settled.connects - before.connects, 1, "one socket was opened");
  assert.equal(settled.mounts - before.mounts, 3, "each root was mounted once");
  assert.deepEqual([settled.sockets, settled.roots], [stats.sockets, stats.roots]);
  await page.close();
  await eventually(serverStats, (stats) => stats.sockets === 0 && stats.roots === 0, "sockets and roots after the page closed");
});

e2e("React demo: +1 counts and logs; a rename toasts (push event) and the toast goes after 4 s", async (t) => {
  const page = await openReact(t);
  const before = await count(page);
  const logged = await page.locator("#log li").count();
  await page.click("#increment");
  await waitForCount(page, before + 1);
  await page.waitForFunction((n) => document.querySelectorAll("#log li").length === n, Math.min(50, logged + 1), { timeout: 5_000 });
  assert.equal(await page.locator("#log li").first().textContent(), "+1");
  const label = `React hooks ${Date.now()}`;
  await page.fill("#label-input", label);
  await page.press("#label-input", "Enter");
  await page.locator("#label", { hasText: label }).waitFor({ timeout: 5_000 });
  await page.locator("#toast", { hasText: `Label set to “${label}”` }).waitFor({ timeout: 5_000 });
  await page.locator("#toast").waitFor({ state: "detached", timeout: 6_000 });
  assert.equal(await page.locator("#problem").count(), 0, "no command failed");
});

e2e("React demo: a board card is a child store: added, changed elsewhere, toggled and removed", async (t) => {
  const page = await openReact(t);
  await page.locator("#stats", { hasText: /^\d+ cards$/ }).waitFor({ timeout: 5_000 });
  const title = `card ${Date.now()}`;
  await page.fill("#card-input", title);
  await page.click("#add-card");
  const item = page.locator("#cards li", { hasText: title });
  await item.waitFor({ timeout: 5_000 });
  const id = await item.getAttribute("data-id");
  const cards = await page.locator("#cards li").count();
  await page.locator("#stats", { hasText: `${cards} cards` }).waitFor({ timeout: 5_000 });
  // Another client renames it through the card's child store (["cards", id]).
  const renamed = `${title} renamed`;
  await page.evaluate(
    async ({ id, renamed }) => {
      const musubi = await import("/pkg/index.js");
      const connection = await musubi.connect("/socket");
      const { store } = await connection.mountStore({ module: "Demo.BoardStore", id: "demo-board" });
      await store.child(["cards", id]).dispatchCommand("rename", { title: renamed });
      await connection.disconnect();
    },
    { id, renamed },
  );
  const card = page.locator(`#cards li[data-id="${id}"]`);
  await card.locator(".title", { hasText: renamed }).waitFor({ timeout: 5_000 });
  // Its toggle goes to the child store (useCommand with storeId: the card's snapshot).
  await card.locator(".toggle").click();
  await page.locator(`#cards li.done[data-id="${id}"]`).waitFor({ timeout: 5_000 });
  assert.equal(await card.locator(".toggle").isChecked(), true);
  await card.locator(".remove").click();
  await card.waitFor({ state: "detached", timeout: 5_000 });
  await page.locator("#stats", { hasText: `${cards - 1} cards` }).waitFor({ timeout: 5_000 });
  assert.equal(await page.locator("#problem").count(), 0, "no command failed");
});

e2e("React demo: uploads reach 100 % through useUpload (channel avatar, demo-http document)", async (t) => {
  const page = await openReact(t);
  await page.locator(testId("avatar-input")).setInputFiles({ name: "me.png", mimeType: "image/png", buffer: png(1_000_000, 256) });
  await page.locator(testId("avatar-status"), { hasText: "success" }).waitFor({ timeout: 20_000 });
  await page.locator(`${testId("avatar-progress")}[value="100"]`).waitFor({ timeout: 5_000 });
  const ref = await page.locator(`${testId("avatar-entries")} li`).first().getAttribute("data-ref");
  await page.locator(`${testId("profile-files")} li[data-ref="${ref}"][data-upload="avatar"]`).waitFor({ timeout: 5_000 });
  await page.waitForFunction(
    (ref) => {
      const image = document.querySelector('[data-testid="avatar-image"]');
      return image?.src.endsWith(`/_uploads/${ref}`) && image.complete && image.naturalWidth === 256;
    },
    ref,
    { timeout: 10_000 },
  );
  // The external uploader given in the provider's options.
  await page.locator(testId("document-input")).setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: randomBytes(200_000) });
  await page.locator(testId("document-status"), { hasText: "success" }).waitFor({ timeout: 20_000 });
  await page.locator(`${testId("document-progress")}[value="100"]`).waitFor({ timeout: 5_000 });
  await page.locator(`${testId("profile-files")} li[data-upload="document"]`).waitFor({ timeout: 5_000 });
  // Reset cancels the finished avatar entry: the server forgets the file and the avatar goes.
  await page.locator(testId("avatar-reset")).click();
  await page.locator(testId("avatar-status"), { hasText: "idle" }).waitFor({ timeout: 5_000 });
  await page.locator(testId("avatar-image")).waitFor({ state: "detached", timeout: 5_000 });
  assert.equal(await page.locator("#problem").count(), 0, "nothing failed");
});

e2e("React demo: offline, +1 shows \"1 change waiting\" (useCommand's queued) and counts once; a reload shows the cached marker", async (t) => {
  const page = await openReact(t, { expected: REFUSED });
  const before = await count(page);
  await page.evaluate(async () => {
    await fetch("/_test/pause?ms=2000", { method: "POST" });
    await fetch("/_test/drop?code=1011", { method: "POST" });
  });
  await page.locator("#counter.stale").waitFor({ timeout: 5_000 });
  await page.click("#increment");
  await page.locator(testId("outbox-waiting"), { hasText: "1 change waiting" }).waitFor({ timeout: 2_000 });
  await page.click("#increment");
  await page.locator(testId("outbox-waiting"), { hasText: "2 changes waiting" }).waitFor({ timeout: 2_000 });
  await waitForCount(page, before + 2, 15_000);
  const emptied = (id) => page.waitForFunction((id) => document.querySelector(`[data-testid=${id}]`)?.textContent === "", id, { timeout: 15_000 });
  await emptied("outbox-waiting");
  await page.locator("#counter:not(.stale)").waitFor({ timeout: 5_000 });
  await page.waitForTimeout(500);
  assert.equal(await count(page), before + 2, "applied exactly once each");
  // The cache holds the count: a reload while sockets are refused shows it at once, marked.
  await page.waitForTimeout(1_200); // one write-back interval
  await page.evaluate(() => fetch("/_test/pause?ms=2000", { method: "POST" }));
  await page.reload();
  await page.locator(testId("counter-state"), { hasText: "cached" }).waitFor({ timeout: 5_000 });
  assert.equal(await count(page), before + 2, "the cached count, before the server answers");
  assert.equal(await page.locator("#counter.stale").count(), 1, "the cached root is shown stale");
  await emptied("counter-state");
  await page.locator("#counter:not(.stale)").waitFor({ timeout: 5_000 });
  await page.locator("#status.open").waitFor({ timeout: 5_000 });
  assert.equal(await page.locator("#problem").count(), 0, "no command failed");
});

e2e("React demo: with ?offline=0 a click while offline is refused at once (no outbox)", async (t) => {
  const page = await openReact(t, { query: "&offline=0", expected: REFUSED });
  const before = await count(page);
  await page.evaluate(async () => {
    await fetch("/_test/pause?ms=1500", { method: "POST" });
    await fetch("/_test/drop?code=1011", { method: "POST" });
  });
  await page.locator("#counter.stale").waitFor({ timeout: 5_000 });
  await page.click("#increment");
  await page.locator("#problem", { hasText: "increment failed" }).waitFor({ timeout: 2_000 });
  assert.equal(await page.locator(testId("outbox-waiting")).textContent(), "", "nothing waits");
  await page.locator("#counter:not(.stale)").waitFor({ timeout: 10_000 });
  await page.waitForTimeout(300);
  assert.equal(await count(page), before, "the refused click never ran");
});
