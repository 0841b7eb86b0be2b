// docs/guides/script.md, followed as written on examples/script: no build step; the package's
// files unpacked from the tarball into vendor/musubi-wasm with the guide's commands, index.html
// imports "musubi-wasm" through an import map, and the server that serves the page (the
// devserver with --static-dir, standing in for Phoenix's priv/static) has the socket at /socket:
// a live counter. Served by a plain static server instead (no socket), the unbundled package
// counts as a development build and warns once. The guide's code block is the example's file.
import assert from "node:assert/strict";
import { test } from "node:test";
import path from "node:path";
import { checkGuideFiles, e2e, expectLiveCounter, guideEnv, open, prepareExample, run, serveStatic, startDevserver, theOneDiagnostic } from "./support.mjs";

const env = guideEnv({ devserver: false });

test("script: docs/guides/script.md shows the example's file as it is", () => {
  assert.equal(checkGuideFiles("script.md"), 1);
});

e2e(
  "script: the tarball unpacked into vendor/, an import map, served with the socket: a live counter",
  async (t) => {
    const site = await prepareExample(t, "script", env.tarball, { install: false });
    env.site = site;
    // The guide's commands, as written.
    await run(t, "sh", ["-c", `mkdir -p vendor && tar -xzf ${path.basename(env.tarball)} && mv package vendor/musubi-wasm`], { cwd: site });
    const { url } = await startDevserver(t, ["--static-dir", site]);
    const page = await open(t, env.browser, `${url}/`);
    await expectLiveCounter(page);
    assert.deepEqual(page.sockets, [`${url.replace(/^http/, "ws")}/socket/websocket?vsn=2.0.0`]);
    page.checkWarnings();
  },
  { timeout: 60_000 },
);

e2e(
  "script: served without a socket, the unbundled page (a development build) warns once",
  async (t) => {
    assert.ok(env.site, "the previous test prepared the site");
    const url = await serveStatic(t, env.site);
    const warnings = [];
    const page = await open(t, env.browser, `${url}/`, { expected: [/WebSocket connection to '.*' failed/], warnings });
    const said = await theOneDiagnostic(page, warnings);
    assert.ok(said.startsWith(`musubi-wasm: not connected after 5 s to ${url.replace(/^http/, "ws")}/socket/websocket (`), said);
  },
  { timeout: 60_000 },
);
