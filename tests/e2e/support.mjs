// Shared by js.test.mjs and leak.test.mjs (not a test file itself): an own devserver on an
// ephemeral port serving www/dist with the test endpoints, Debian's Chromium, and pages that
// fail their test on any console error, uncaught error or unhandled rejection.
import assert from "node:assert/strict";
import { test, before, after } from "node:test";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { crc32, deflateSync } from "node:zlib";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.resolve(ROOT, process.env.MUSUBI_DEVSERVER_BIN ?? "target/debug/musubi-devserver");
export const ARTIFACTS = path.resolve(ROOT, process.env.MUSUBI_TEST_ARTIFACTS ?? "target/test-logs");
/** What the devserver serves (`MUSUBI_STATIC_DIR` overrides www/dist, e.g. a private copy). */
export const STATIC_DIR = path.resolve(ROOT, process.env.MUSUBI_STATIC_DIR ?? "www/dist");

/** Starts the devserver on port 0 (with `args`, e.g. `["--wire", "per-root"]`) → `{ child, url }` once it prints its address. */
export function startDevserver(args = []) {
  return startDevserverServing(STATIC_DIR, args);
}

/** {@link startDevserver} serving `staticDir` instead of {@link STATIC_DIR} (e.g. a page a test built). */
export function startDevserverServing(staticDir, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ["--port", "0", "--test-endpoints", "--static-dir", staticDir, ...args], {
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

/** A loopback port nothing listens on (bound, then closed): connections to it are refused. */
export function deadPort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Fails early, with the fix, when the examples were not copied into www/dist. */
export async function requireServed(baseUrl, paths) {
  for (const file of paths) {
    const response = await fetch(baseUrl + file);
    if (!response.ok) {
      throw new Error(`${file} is not served (HTTP ${response.status}): run scripts/build-pkg.sh, trunk build and scripts/build-examples.sh first`);
    }
  }
}

/**
 * For one test file: starts an own devserver and Chromium before its tests and stops both after
 * them. Returns `{ baseUrl, browser }`, filled in once the tests run. `paths` must be served
 * (e.g. built examples), `browserArgs` are extra Chromium flags, `serverArgs` extra devserver flags.
 */
export function devserverAndBrowser({ paths = [], browserArgs = [], serverArgs = [] } = {}) {
  const env = { baseUrl: undefined, browser: undefined, server: undefined };
  before(async () => {
    ({ child: env.server, url: env.baseUrl } = await startDevserver(serverArgs));
    if (paths.length > 0) await requireServed(env.baseUrl, paths);
    env.browser = await launchBrowser(browserArgs);
  });
  after(async () => {
    await env.browser?.close();
    env.server?.kill();
  });
  return env;
}

/** Debian's Chromium, headless, with the flags of webdriver.json plus `--no-sandbox` (and any `extraArgs`); without the background-networking flags Chromium floods a closed network with refused connections. */
export function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", ...extraArgs],
  });
}

const slug = (text) => text.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "").toLowerCase();

/** Screenshots every page still open into the artifacts directory. */
async function screenshots(pages) {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const { page, file } of pages) {
    if (!page.isClosed()) await page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true }).catch(() => {});
  }
}

const openPages = new WeakMap(); // test context → [{ page, file, problems }]

/**
 * A test whose pages (opened with {@link openPage}) are screenshotted if it fails, closed when it
 * ends, and checked: any console error, uncaught error, unhandled rejection or wasm panic fails it.
 */
export function e2e(name, body, options = { timeout: 60_000 }) {
  test(name, options, async (t) => {
    openPages.set(t, []);
    let failure;
    try {
      await body(t);
    } catch (error) {
      failure = error;
    }
    const pages = openPages.get(t);
    const problems = pages.flatMap((entry) => entry.problems);
    if (failure || problems.length > 0) await screenshots(pages);
    await Promise.all(pages.map(({ page }) => page.close()));
    if (problems.length > 0) {
      const message = `the page reported problems${failure ? ` (and the test failed: ${failure.message})` : ""}:\n${problems.join("\n")}`;
      throw new assert.AssertionError({ message });
    }
    if (failure) throw failure;
  });
}

/** Opens `url` in a new page of `browser` for the running {@link e2e} test `t`. */
/**
 * Opens `url` in a new page whose console errors, uncaught errors and unhandled rejections fail
 * the test — except console messages matching one of `expected` (e.g. the browser's own report
 * of a WebSocket the test made the server refuse).
 */
export async function openPage(t, browser, url, expected = []) {
  const page = await browser.newPage();
  const pages = openPages.get(t);
  const entry = { page, file: `e2e-${slug(t.name)}-${pages.length + 1}.png`, problems: [] };
  pages.push(entry);
  page.on("pageerror", (error) => entry.problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (expected.some((pattern) => pattern.test(message.text()))) return;
    if (message.type() === "error" || /panicked/.test(message.text())) entry.problems.push(`console ${message.type()}: ${message.text()}`);
  });
  // An unhandled rejection is reported as an error on the console, so the check above sees it.
  await page.addInitScript(() => {
    addEventListener("unhandledrejection", (event) => console.error(`unhandled rejection: ${event.reason?.stack ?? event.reason}`));
  });
  await page.goto(url);
  return page;
}

/**
 * In `page` (which has imported the package as `window.musubi`): what `connect()` says to each
 * of `optionsList` — `"accepted"`, or the message of the TypeError it threw.
 */
export function connectOptionErrors(page, optionsList) {
  return page.evaluate(async (optionsList) => {
    const outcomes = [];
    for (const options of optionsList) {
      try {
        const connection = await window.musubi.connect("/socket", options);
        await connection.disconnect();
        outcomes.push("accepted");
      } catch (error) {
        outcomes.push(error instanceof TypeError ? error.message : String(error));
      }
    }
    return outcomes;
  }, optionsList);
}

/** One PNG chunk: length, type, data, CRC of type + data. */
function pngChunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A valid PNG of about `bytes` bytes, `width` pixels wide (random RGB pixels, stored
 * uncompressed), so that a page can show it from the server.
 */
export function png(bytes, width = 1024) {
  const stride = width * 3 + 1;
  const height = Math.max(1, Math.ceil(bytes / stride));
  const pixels = randomBytes(stride * height);
  for (let row = 0; row < height; row++) pixels[row * stride] = 0; // filter: none
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, pngChunk("IHDR", header), pngChunk("IDAT", deflateSync(pixels, { level: 0 })), pngChunk("IEND", Buffer.alloc(0))]);
}
