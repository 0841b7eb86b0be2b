// docs/guides/nextjs.md, followed as written on examples/nextjs (Next.js 16, app router): the
// client component app/providers.tsx ("use client") holds the MusubiProvider for the root
// layout, app/counter.tsx the hooks. `next build` prerenders the page on Node (importing
// musubi-wasm/react there must not crash; the hooks render their empty state) and `next start`
// serves the live counter: with Turbopack (the default) through the /socket rewrite to
// MUSUBI_SERVER, and with `next build --webpack` straight to NEXT_PUBLIC_MUSUBI_SOCKET (another
// origin). `next dev` (StrictMode) through the rewrite, on one socket. The guide's code blocks
// are the example's files.
import assert from "node:assert/strict";
import { test } from "node:test";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { checkGuideFiles, deadPort, e2e, expectLiveCounter, guideEnv, open, prepareExample, run, serve, stats, theOneDiagnostic, wsOrigin } from "./support.mjs";

const env = guideEnv();
// What `next build` prints under CI (a CI variable set) when .next/cache is missing, as it is in
// every fresh copy: about the machine's build cache, not the guide.
const NO_CACHE_NOTICE = /^⚠ No build cache found\. .*$/gm;

test("next.js: docs/guides/nextjs.md shows the example's files as they are", () => {
  assert.equal(checkGuideFiles("nextjs.md"), 6);
});

for (const bundler of ["turbopack", "webpack"]) {
  const socket = bundler === "webpack" ? "NEXT_PUBLIC_MUSUBI_SOCKET" : "the /socket rewrite";
  e2e(
    `next.js (${bundler}): next build prerenders the client component on Node, next start serves the live counter (${socket})`,
    async (t) => {
      const app = await prepareExample(t, "nextjs", env.tarball, { as: `nextjs-${bundler}` });
      const buildEnv =
        bundler === "webpack" ? { NEXT_PUBLIC_MUSUBI_SOCKET: `${wsOrigin(env.devserver.url)}/socket` } : { MUSUBI_SERVER: env.devserver.url };
      const output = await run(t, "npm", ["run", "build", ...(bundler === "webpack" ? ["--", "--webpack"] : [])], { cwd: app, env: buildEnv });
      assert.match(output, new RegExp(`Next\\.js \\S+ \\(${bundler === "webpack" ? "webpack" : "Turbopack"}\\)`, "i"));
      assert.match(output, /○ \//, "the page is prerendered (static)");
      assert.doesNotMatch(output.replace(NO_CACHE_NOTICE, ""), /needs a browser|Error occurred|⨯|⚠/);
      // The server render: the hooks' empty state, no store, nothing connected.
      const html = readFileSync(path.join(app, ".next/server/app/index.html"), "utf8");
      assert.ok(
        readdirSync(path.join(app, ".next/static/media")).some((file) => /^musubi_wasm_bg\.[\w-]+\.wasm$/.test(file)),
        "the .wasm is emitted under /_next/static/media/",
      );
      assert.match(html, /<output id="status">connecting<\/output>/);
      assert.match(html, /<output id="count">…<\/output>/);

      const { child, match } = await serve(t, "npm", ["run", "start", "--", "-H", "127.0.0.1", "-p", "0"], {
        cwd: app,
        ready: /Local:\s+(http:\/\/127\.0\.0\.1:\d+)[\s\S]*Ready/,
      });
      const page = await open(t, env.browser, `${match[1]}/`);
      await expectLiveCounter(page);
      page.checkWarnings();
      const origin = bundler === "webpack" ? wsOrigin(env.devserver.url) : wsOrigin(match[1]);
      assert.deepEqual(page.sockets, [`${origin}/socket/websocket?vsn=2.0.0`]);
      assert.doesNotMatch(child.output, /Error|⨯/, "next start logged no error");
    },
    { timeout: 180_000 },
  );
}

e2e(
  "next.js: next dev (Turbopack, StrictMode) serves the live counter through the /socket rewrite, on one socket",
  async (t) => {
    const app = await prepareExample(t, "nextjs", env.tarball, { as: "nextjs-dev" });
    const { child, match } = await serve(t, "npm", ["run", "dev", "--", "-H", "127.0.0.1", "-p", "0"], {
      cwd: app,
      env: { MUSUBI_SERVER: env.devserver.url },
      ready: /Local:\s+(http:\/\/127\.0\.0\.1:\d+)[\s\S]*Ready/,
    });
    const { connects } = await stats(env.devserver.url);
    const page = await open(t, env.browser, `${match[1]}/`);
    await expectLiveCounter(page);
    assert.equal((await stats(env.devserver.url)).connects - connects, 1, "one socket for the page");
    assert.deepEqual(
      page.sockets.filter((url) => url.includes("/socket/")),
      [`${wsOrigin(match[1])}/socket/websocket?vsn=2.0.0`],
    );
    page.checkWarnings();
    assert.doesNotMatch(child.output, /Error|⨯/, "next dev logged no error");
  },
  { timeout: 120_000 },
);

e2e(
  "next.js: next dev with the rewrite aimed at a dead port: the page warns once, naming the URL and the rewrite",
  async (t) => {
    const app = await prepareExample(t, "nextjs", env.tarball, { as: "nextjs-dead" });
    const { match } = await serve(t, "npm", ["run", "dev", "--", "-H", "127.0.0.1", "-p", "0"], {
      cwd: app,
      env: { MUSUBI_SERVER: `http://127.0.0.1:${await deadPort()}` },
      ready: /Local:\s+(http:\/\/127\.0\.0\.1:\d+)[\s\S]*Ready/,
    });
    const warnings = [];
    const page = await open(t, env.browser, `${match[1]}/`, { expected: [/WebSocket connection to '.*' failed/], warnings });
    const said = await theOneDiagnostic(page, warnings, { within: 20_000 });
    assert.ok(said.startsWith(`musubi-wasm: not connected after 5 s to ${wsOrigin(match[1])}/socket/websocket (`), said);
    assert.ok(said.includes('Next.js: rewrites() [{ source: "/socket/:path*"'), `names the rewrite: ${said}`);
    assert.equal(await page.textContent("#count"), "…");
  },
  { timeout: 90_000 },
);
