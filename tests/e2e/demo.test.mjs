// End-to-end: the demo page (built by trunk into www/dist) served by the devserver, driven in
// Debian's Chromium with playwright-core. Load → joined → ping → broadcast across two tabs →
// server drops every connection → the page reconnects and rejoins on its own.
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
    if (problems.length > 0 || t.passed === false) {
      await page.screenshot({ path: path.join(ARTIFACTS, `e2e-${name}.png`) }).catch(() => {});
    }
    await page.close();
    assert.deepEqual(problems, [], "no page errors");
  });
  await page.goto(baseUrl + "/");
  await page.locator("#state", { hasText: "Open" }).waitFor({ timeout: 10_000 });
  await page.locator("#channel", { hasText: "Joined" }).waitFor({ timeout: 10_000 });
  return page;
}

test("the demo loads, connects, joins and answers a ping", async (t) => {
  const page = await openDemo(t, "ping");
  await page.click("#ping");
  await page.locator("#rtt", { hasText: /round trip \d+ ms/ }).waitFor({ timeout: 5_000 });
});

test("a broadcast from one tab shows up in another", async (t) => {
  const first = await openDemo(t, "broadcast-a");
  const second = await openDemo(t, "broadcast-b");
  await first.fill("#text", "hello from tab one");
  await first.click("#send");
  await second.locator("#messages li", { hasText: "hello from tab one" }).waitFor({ timeout: 5_000 });
  await first.locator("#messages li", { hasText: "hello from tab one" }).waitFor({ timeout: 5_000 });
});

test("after the server drops every connection the page reconnects and rejoins", async (t) => {
  const page = await openDemo(t, "drop");
  await page.click("#drop");
  await page.locator("#log", { hasText: "transport closed: 4000" }).waitFor({ timeout: 5_000 });
  await page.locator("#state", { hasText: "Open" }).waitFor({ timeout: 5_000 });
  await page.locator("#channel", { hasText: "Joined" }).waitFor({ timeout: 5_000 });
  await page.click("#ping");
  await page.locator("#rtt", { hasText: /round trip \d+ ms/ }).waitFor({ timeout: 5_000 });
  await page.screenshot({ path: path.join(ARTIFACTS, "e2e-demo.png") });
});
