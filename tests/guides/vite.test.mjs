// docs/guides/vite.md, followed as written on examples/vite (Vite + React + TypeScript):
// `npm run build` (tsc -b with the Register registry, then vite build) served by `vite preview`,
// and `npm run dev`, both proxying /socket to a devserver (MUSUBI_SERVER, read by the example's
// vite.config.ts); a hot update keeps the one socket; with the proxy aimed at a dead port the
// development page logs the one not-joined warning naming the URL and the fix, and the
// production build logs nothing. The guide's code blocks are the example's files.
import assert from "node:assert/strict";
import { test } from "node:test";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { checkGuideFiles, deadPort, e2e, expectLiveCounter, guideEnv, open, prepareExample, run, serve, stats, stop, theOneDiagnostic, wsOrigin } from "./support.mjs";

const LOCAL = /Local:\s+(http:\/\/127\.0\.0\.1:\d+)\//;
const HOST = ["--host", "127.0.0.1", "--port", "0"];
// Chromium's own report of each refused WebSocket (the diagnostics test's dead proxy target).
const REFUSED = [/WebSocket connection to '.*' failed/];

const env = guideEnv({ prepare: async (env) => (env.app = await prepareExample(undefined, "vite", env.tarball)) });

test("vite: docs/guides/vite.md shows the example's files as they are", () => {
  assert.equal(checkGuideFiles("vite.md"), 4);
});

e2e(
  "vite: npm run build (tsc -b with the registry, vite build), vite preview proxies /socket: a live counter",
  async (t) => {
    await run(t, "npm", ["run", "build"], { cwd: env.app });
    const { child, match } = await serve(t, "npm", ["run", "preview", "--", ...HOST], {
      cwd: env.app,
      env: { MUSUBI_SERVER: wsOrigin(env.devserver.url) },
      ready: LOCAL,
    });
    const page = await open(t, env.browser, `${match[1]}/`);
    await expectLiveCounter(page);
    page.checkWarnings();
    await page.close();
    await stop(child); // Vite runs one preview server per project at a time

    // A production build stays silent when it cannot connect (no development diagnostic).
    const dead = await serve(t, "npm", ["run", "preview", "--", ...HOST], {
      cwd: env.app,
      env: { MUSUBI_SERVER: `ws://127.0.0.1:${await deadPort()}` },
      ready: LOCAL,
    });
    const silent = await open(t, env.browser, `${dead.match[1]}/`, { expected: REFUSED });
    await silent.waitForTimeout(6_500);
    assert.equal(await silent.textContent("#status"), "connecting");
    silent.checkWarnings();
  },
  { timeout: 120_000 },
);

e2e(
  "vite: npm run dev proxies /socket: a live counter on one socket, kept across a hot update of App.tsx",
  async (t) => {
    const { match } = await serve(t, "npm", ["run", "dev", "--", ...HOST], {
      cwd: env.app,
      env: { MUSUBI_SERVER: wsOrigin(env.devserver.url) },
      ready: LOCAL,
    });
    const { connects: connectsBefore } = await stats(env.devserver.url);
    const page = await open(t, env.browser, `${match[1]}/`);
    const count = await expectLiveCounter(page);
    // StrictMode mounts the provider twice: still one connection.
    let now = await stats(env.devserver.url);
    assert.equal(now.connects - connectsBefore, 1, "one socket for the page");
    assert.deepEqual(
      page.sockets.filter((url) => url.includes("/socket/")),
      [`${wsOrigin(match[1])}/socket/websocket?vsn=2.0.0`],
      "through the dev server's proxy",
    );

    const file = path.join(env.app, "src/App.tsx");
    const source = readFileSync(file, "utf8");
    assert.match(source, /Count: /);
    writeFileSync(file, source.replace("Count: ", "Clicks: "));
    try {
      await page.waitForFunction(() => document.body.textContent.includes("Clicks:"), null, { timeout: 15_000 });
    } finally {
      writeFileSync(file, source);
    }
    assert.equal(await page.textContent("#count"), String(count), "the hot update kept the state");
    now = await stats(env.devserver.url);
    assert.equal(now.connects - connectsBefore, 1, "the hot update did not reconnect");
    await expectLiveCounter(page);
    page.checkWarnings();
  },
  { timeout: 90_000 },
);

e2e(
  "vite: with the proxy aimed at a dead port the page warns once, naming the URL and the fix",
  async (t) => {
    const { match } = await serve(t, "npm", ["run", "dev", "--", ...HOST], {
      cwd: env.app,
      env: { MUSUBI_SERVER: `ws://127.0.0.1:${await deadPort()}` },
      ready: LOCAL,
    });
    const warnings = [];
    const page = await open(t, env.browser, `${match[1]}/`, { expected: REFUSED, warnings });
    await page.waitForFunction(() => document.querySelector("#status")?.textContent === "connecting");
    const text = await theOneDiagnostic(page, warnings, { quiet: 2_000 });
    assert.ok(text.includes(`${wsOrigin(match[1])}/socket/websocket`), `names the URL it dialed: ${text}`);
    assert.match(text, /not connected after 5 s/);
    assert.ok(text.includes('server.proxy { "/socket": { target: "ws://127.0.0.1:4000", ws: true } }'), `names the fix: ${text}`);
    assert.equal(await page.textContent("#count"), "…");
  },
  { timeout: 60_000 },
);
