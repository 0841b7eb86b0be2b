// End-to-end: the demo page (built by trunk into www/dist) served by the devserver, driven in
// Debian's Chromium with playwright-core. Load → both roots live → a click patches the counter →
// another tab sees changes live → drops, version gaps and broken patches → the page recovers.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ARTIFACTS, e2e, launchBrowser, openPage, startDevserver } from "./support.mjs";

let server;
let baseUrl;
let browser;

before(async () => {
  ({ child: server, url: baseUrl } = await startDevserver());
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill();
});

/** Opens the demo in a new page of test `t` (checked for page errors) once both roots are live. */
async function openDemo(t) {
  const page = await openPage(t, browser, baseUrl + "/");
  await page.locator("#state", { hasText: "Open" }).waitFor({ timeout: 10_000 });
  await page.locator("#status-demo-counter", { hasText: "Live" }).waitFor({ timeout: 10_000 });
  await page.locator("#status-demo-board", { hasText: "Live" }).waitFor({ timeout: 10_000 });
  return page;
}

const count = async (page) => Number(await page.locator("#count").textContent());

e2e("the demo mounts both roots and a click increments the counter", async (t) => {
  const page = await openDemo(t);
  const before = await count(page);
  await page.click("#increment");
  await page.waitForFunction((n) => Number(document.querySelector("#count").textContent) === n + 1, before, { timeout: 5_000 });
  await page.locator("#counter-log li").first().waitFor({ timeout: 5_000 });
});

e2e("a change in one tab shows up live in another", async (t) => {
  const first = await openDemo(t);
  const second = await openDemo(t);
  const title = `card ${Date.now()}`;
  await first.fill("#card-input", title);
  await first.click("#add-card");
  await second.locator("#cards li", { hasText: title }).waitFor({ timeout: 5_000 });
  const before = await count(second);
  await first.click("#increment");
  await second.waitForFunction((n) => Number(document.querySelector("#count").textContent) === n + 1, before, { timeout: 5_000 });
});

e2e("after drops, gaps and broken patches the page recovers with the right state", async (t) => {
  const page = await openDemo(t);
  await page.click("#increment");
  const before = await count(page);
  await page.click("#drop");
  await page.locator("#log", { hasText: "transport closed: 4000" }).waitFor({ timeout: 5_000 });
  await page.locator("#status-demo-counter", { hasText: "Live" }).waitFor({ timeout: 5_000 });
  await page.click("#gap");
  await page.locator("#log", { hasText: "recovering demo-counter" }).waitFor({ timeout: 5_000 });
  await page.click("#corrupt");
  await page.locator("#log", { hasText: "recovering demo-board" }).waitFor({ timeout: 5_000 });
  await page.locator("#status-demo-counter", { hasText: "Live" }).waitFor({ timeout: 5_000 });
  await page.locator("#status-demo-board", { hasText: "Live" }).waitFor({ timeout: 5_000 });
  assert.ok((await count(page)) >= before, "the counter kept its value");
  await page.click("#increment");
  await page.waitForFunction((n) => Number(document.querySelector("#count").textContent) >= n + 1, before, { timeout: 5_000 });
  await page.screenshot({ path: path.join(ARTIFACTS, "e2e-demo.png") });
});
