// End-to-end: the demo page (built by trunk into www/dist) served by the devserver, driven in
// Debian's Chromium with playwright-core. Load → both roots live → a click patches the counter →
// another tab sees changes live → drops, version gaps and broken patches → the page recovers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.resolve(ROOT, process.env.MUSUBI_DEVSERVER_BIN ?? "target/debug/musubi-devserver");
const ARTIFACTS = path.resolve(ROOT, process.env.MUSUBI_TEST_ARTIFACTS ?? "target/test-logs");

let server;
let baseUrl;
let browser;

function startDevserver() {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ["--port", "0", "--test-endpoints", "--static-dir", path.join(ROOT, "www/dist")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const timer = setTimeout(() => reject(new Error("devserver did not start")), 10_000);
    child.on("error", reject);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      const match = /listening on (\S+)/.exec(chunk);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    });
  });
}

before(async () => {
  ({ child: server, url: baseUrl } = await startDevserver());
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
});

/** Opens the demo in a new page and fails the test on any page error or wasm panic. */
async function openDemo(t, name) {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" || /panicked/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  t.after(async () => {
    await page.screenshot({ path: path.join(ARTIFACTS, `e2e-${name}.png`) }).catch(() => {});
    await page.close();
    assert.deepEqual(problems, [], "no page errors");
  });
  await page.goto(baseUrl + "/");
  await page.locator("#state", { hasText: "Open" }).waitFor({ timeout: 10_000 });
  await page.locator("#status-demo-counter", { hasText: "Live" }).waitFor({ timeout: 10_000 });
  await page.locator("#status-demo-board", { hasText: "Live" }).waitFor({ timeout: 10_000 });
  return page;
}

const count = async (page) => Number(await page.locator("#count").textContent());

test("the demo mounts both roots and a click increments the counter", async (t) => {
  const page = await openDemo(t, "counter");
  const before = await count(page);
  await page.click("#increment");
  await page.waitForFunction((n) => Number(document.querySelector("#count").textContent) === n + 1, before, { timeout: 5_000 });
  await page.locator("#counter-log li").first().waitFor({ timeout: 5_000 });
});

test("a change in one tab shows up live in another", async (t) => {
  const first = await openDemo(t, "tab-a");
  const second = await openDemo(t, "tab-b");
  const title = `card ${Date.now()}`;
  await first.fill("#card-input", title);
  await first.click("#add-card");
  await second.locator("#cards li", { hasText: title }).waitFor({ timeout: 5_000 });
  const before = await count(second);
  await first.click("#increment");
  await second.waitForFunction((n) => Number(document.querySelector("#count").textContent) === n + 1, before, { timeout: 5_000 });
});

test("after drops, gaps and broken patches the page recovers with the right state", async (t) => {
  const page = await openDemo(t, "faults");
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
