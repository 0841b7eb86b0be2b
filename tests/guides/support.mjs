// Shared by the guide tests (not a test file itself). Each guide in docs/guides is followed as
// written against a fresh copy of its example (examples/<name> → target/guides/<name>): the
// package is packed from pkg/ (`npm pack`, as the guides say) and installed from the tarball,
// offline; vite, webpack, next and react resolve from the repository's node_modules (Node's
// upward lookup; `npm run` puts every ancestor's node_modules/.bin on PATH). Every server binds
// 127.0.0.1 on an ephemeral port and is stopped after its test file — on failure too, and when
// the test process exits.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { spawn } from "node:child_process";
import { cpSync, lstatSync, mkdtempSync, readFileSync, rmSync, mkdirSync, statSync, createReadStream } from "node:fs";
import { createServer } from "node:http";
import os from "node:os";
import path from "node:path";
import { deadPort, e2e, openPage, launchBrowser, ROOT } from "../e2e/support.mjs";

export { deadPort, e2e, launchBrowser, ROOT };

/** Where the examples are copied and built (a fresh copy per run). */
export const GUIDES = path.join(ROOT, "target/guides");
const DEVSERVER = path.resolve(ROOT, process.env.MUSUBI_DEVSERVER_BIN ?? "target/debug/musubi-devserver");

/** The environment of every command: the repository's tools on PATH, no colours, no telemetry. */
export const ENV = {
  ...process.env,
  PATH: `${path.join(ROOT, "node_modules/.bin")}${path.delimiter}${process.env.PATH}`,
  NO_COLOR: "1",
  FORCE_COLOR: "0",
  NEXT_TELEMETRY_DISABLED: "1",
};
// The examples' own settings: each test sets what it needs.
delete ENV.MUSUBI_SERVER;
delete ENV.NEXT_PUBLIC_MUSUBI_SOCKET;
delete ENV.NODE_ENV;

const started = new Set(); // child processes still running (each the leader of its own group)

/** Stops `child` and its process group (npm → sh → vite/next and their workers) → once it exited. */
export function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    child.kill("SIGTERM");
  }
  return exited;
}

/** Stops every process started here and not yet stopped. */
export function stopAll() {
  for (const child of started) stop(child);
  started.clear();
}
after(stopAll);
process.on("exit", stopAll);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    stopAll();
    process.exit(1);
  });
}

/** Spawns `command` in its own process group (stopped by {@link stopAll}), output collected. */
function launch(command, args, { cwd, env }) {
  const child = spawn(command, args, { cwd, env: { ...ENV, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  started.add(child);
  child.on("exit", () => started.delete(child));
  child.output = "";
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => (child.output += chunk));
  }
  return child;
}

const seconds = (since) => ((Date.now() - since) / 1000).toFixed(1);

/** Reports `line` (a build time) as a diagnostic of test `t`, or on stdout outside a test. */
function note(t, line) {
  if (t) t.diagnostic(line);
  else console.log(line); // the TAP reporter shows it as a comment
}

/**
 * Runs `command args` in `cwd` to completion and reports its time as a test diagnostic;
 * rejects with its output when it fails or runs past `timeout` ms.
 */
export function run(t, command, args, { cwd, env = {}, timeout = 240_000 } = {}) {
  const start = Date.now();
  const child = launch(command, args, { cwd, env });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop(child);
      reject(new Error(`${command} ${args.join(" ")} took more than ${timeout / 1000} s:\n${child.output}`));
    }, timeout);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const line = `${command} ${args.join(" ")} (in ${path.relative(ROOT, cwd) || "."}): ${seconds(start)} s`;
      note(t, line);
      if (code === 0) resolve(child.output);
      else reject(new Error(`${line}, exit ${code ?? signal}:\n${child.output}`));
    });
  });
}

/**
 * Starts a long-running `command args` (a dev or preview server) and resolves `{ child, match }`
 * once its output matches `ready`; rejects with the output if it exits first or takes more than
 * `timeout` ms. Stopped when test `t` ends (without `t`: when the test file ends).
 */
export function serve(t, command, args, { cwd, env = {}, ready, timeout = 60_000 }) {
  const start = Date.now();
  const child = launch(command, args, { cwd, env });
  t?.after(() => stop(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} ${args.join(" ")} did not get ready in ${timeout / 1000} s:\n${child.output}`)), timeout);
    const check = () => {
      const match = ready.exec(child.output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout.off("data", check);
      child.stderr.off("data", check);
      note(t, `${command} ${args.join(" ")}: ready in ${seconds(start)} s`);
      resolve({ child, match });
    };
    child.stdout.on("data", check);
    child.stderr.on("data", check);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(" ")} exited (${code ?? signal}) before it was ready:\n${child.output}`));
    });
  });
}

/** `npm pack pkg/` into a temporary directory → the tarball's path (musubi-wasm-<version>.tgz). */
export async function packPackage(t) {
  const pkg = path.join(ROOT, "pkg");
  try {
    statSync(path.join(pkg, "react.js"));
  } catch {
    throw new Error("pkg/ is missing or predates musubi-wasm/react: run scripts/build-pkg.sh first");
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "musubi-guides-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  await run(t, "npm", ["pack", pkg, "--pack-destination", dir, "--ignore-scripts", "--silent"], { cwd: ROOT });
  const { version } = JSON.parse(readFileSync(path.join(pkg, "package.json"), "utf8"));
  return path.join(dir, `musubi-wasm-${version}.tgz`);
}

/**
 * A fresh copy of examples/`name` in target/guides/`as` with the tarball next to it, installed
 * as the guides say (`npm install ./musubi-wasm-<version>.tgz`, here offline) unless `install`
 * is false → the copy's directory.
 */
export async function prepareExample(t, name, tarball, { as = name, install = true } = {}) {
  const dir = path.join(GUIDES, as);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(GUIDES, { recursive: true });
  cpSync(path.join(ROOT, "examples", name), dir, {
    recursive: true,
    // Whatever an in-place try of the example left behind.
    filter: (source) => !/[\\/](node_modules|\.next|vendor)$|\.tgz$|next-env\.d\.ts$/.test(source),
  });
  cpSync(tarball, path.join(dir, path.basename(tarball)));
  if (install) {
    // --no-package-lock: a lockfile here would make Next.js warn that it found two (this one and
    // the repository's, whose node_modules the example uses).
    const flags = ["--offline", "--ignore-scripts", "--legacy-peer-deps", "--no-audit", "--no-fund", "--no-package-lock"];
    await run(t, "npm", ["install", ...flags, `./${path.basename(tarball)}`], { cwd: dir });
    // npm extracts a tarball: a real directory inside the app, not a link to one outside it.
    assert.ok(!lstatSync(path.join(dir, "node_modules/musubi-wasm")).isSymbolicLink(), "musubi-wasm is a copy");
    statSync(path.join(dir, "node_modules/musubi-wasm/web/musubi_wasm_bg.wasm"));
  }
  return dir;
}

/**
 * What a guide's test file shares, filled in before its tests: `tarball` (pkg/ packed),
 * `devserver` (unless `devserver: false`), `browser` (closed after the file), then whatever
 * `prepare(env)` adds. (One hook: Node 20 runs a file's top-level `before` hooks concurrently.)
 */
export function guideEnv({ devserver = true, prepare } = {}) {
  const env = {};
  before(async () => {
    env.tarball = await packPackage();
    if (devserver) env.devserver = await startDevserver();
    env.browser = await launchBrowser();
    await prepare?.(env);
  });
  after(() => env.browser?.close());
  return env;
}

/** `http://127.0.0.1:PORT` → `ws://127.0.0.1:PORT`. */
export const wsOrigin = (httpUrl) => httpUrl.replace(/^http/, "ws").replace(/\/$/, "");

/** Starts a devserver (with the test endpoints and `args`, e.g. `["--static-dir", dir]`) → `{ child, url }`. */
export async function startDevserver(t, args = []) {
  const { child, match } = await serve(t, DEVSERVER, ["--port", "0", "--test-endpoints", ...args], {
    cwd: ROOT,
    ready: /listening on (http:\/\/127\.0\.0\.1:\d+)/,
    timeout: 10_000,
  });
  return { child, url: match[1] };
}

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".map": "application/json" };

/** Serves `dir` as static files on 127.0.0.1 (an ephemeral port) until test `t` ends → its URL. */
export function serveStatic(t, dir) {
  const server = createServer((request, response) => {
    const { pathname } = new URL(request.url, "http://x");
    let file = path.join(dir, decodeURIComponent(pathname));
    if (!file.startsWith(dir)) return response.writeHead(403).end();
    try {
      if (statSync(file).isDirectory()) file = path.join(file, "index.html");
      statSync(file);
    } catch {
      return response.writeHead(404).end();
    }
    response.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(response);
  });
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`)));
}

/** The devserver's counters (`GET /_test/stats`). */
export async function stats(devserverUrl) {
  const response = await fetch(`${devserverUrl}/_test/stats`);
  assert.equal(response.status, 200);
  return response.json();
}

/**
 * Opens `url` for the running e2e test: console errors, uncaught errors and unhandled
 * rejections fail it (unless they match `expected`), and so do console warnings (a wasm served
 * with the wrong MIME type, a React warning, musubi-wasm's not-joined diagnostic) unless
 * `warnings` is given: then they are collected there. `page.sockets` lists the URLs of the
 * WebSockets the page opened.
 */
export async function open(t, browser, url, { expected = [], warnings } = {}) {
  const seen = [];
  const page = await openPage(t, browser, "about:blank", expected);
  page.on("console", (message) => {
    if (message.type() !== "warning") return;
    if (warnings) warnings.push(message.text());
    else seen.push(message.text());
  });
  page.checkWarnings = () => assert.deepEqual(seen, [], "the page logged warnings");
  page.sockets = []; // the URLs of the WebSockets it opened
  page.on("websocket", (socket) => page.sockets.push(socket.url()));
  await page.goto(url);
  return page;
}

/**
 * Waits up to `within` ms for musubi-wasm's not-joined diagnostic among the page's collected
 * `warnings` (see {@link open}), then `quiet` ms more for a second one → its text. Fails unless
 * there is exactly one.
 */
export async function theOneDiagnostic(page, warnings, { within = 10_000, quiet = 1_500 } = {}) {
  const diagnostic = (text) => text.startsWith("musubi-wasm:");
  const start = Date.now();
  while (!warnings.some(diagnostic) && Date.now() - start < within) await page.waitForTimeout(100);
  await page.waitForTimeout(quiet);
  const said = warnings.filter(diagnostic);
  assert.equal(said.length, 1, `one diagnostic warning, got:\n${warnings.join("\n")}`);
  return said[0];
}

/** Waits for the example's counter to show a number → it. */
export async function shownCount(page, timeout = 20_000) {
  const handle = await page.waitForFunction(
    () => {
      const text = document.querySelector("#count")?.textContent ?? "";
      return /^\d+$/.test(text) && !document.querySelector("#increment")?.disabled ? { count: Number(text) } : null;
    },
    null,
    { timeout },
  );
  return (await handle.jsonValue()).count;
}

/**
 * The example page's live counter: shows a number, says "open", and a click on +1 shows the
 * next number (pushed back by the server). Returns the count after the click.
 */
export async function expectLiveCounter(page) {
  const before = await shownCount(page);
  assert.equal(await page.textContent("#status"), "open");
  await page.click("#increment");
  await page.waitForFunction((next) => document.querySelector("#count")?.textContent === String(next), before + 1, { timeout: 10_000 });
  return before + 1;
}

/**
 * Fails unless every file docs/guides/`guide` shows is the example's file, byte for byte: each
 * fenced block right after a `<!-- file: examples/… -->` line must equal that file (so the
 * guide shows exactly what the tests build). Returns how many files it compared.
 */
export function checkGuideFiles(guide) {
  const text = readFileSync(path.join(ROOT, "docs/guides", guide), "utf8");
  const blocks = [...text.matchAll(/^<!-- file: (\S+) -->\n(`{3,})[^\n]*\n([\s\S]*?)^\2$/gm)];
  assert.ok(blocks.length > 0, `${guide} shows no example file`);
  for (const [, file, , body] of blocks) {
    assert.equal(body, readFileSync(path.join(ROOT, file), "utf8"), `${guide} shows ${file} as it is`);
  }
  return blocks.length;
}
