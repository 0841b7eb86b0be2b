// docs/guides/webpack.md, followed as written on examples/webpack: `npm run build` (webpack 5,
// production, the default `musubi-wasm` entry: webpack emits the .wasm it finds through
// `new URL(…, import.meta.url)`), dist/ served as static files by `python3 -m http.server` as
// the guide says (a Node static server if there is no python3), the page pointed at a devserver
// on another origin with `?socket=ws://…/socket`: a live counter. A development build
// (`--mode development`) aimed at a dead port warns once, naming the URL; the guide's
// `musubi-wasm/bundler` variant (experiments.asyncWebAssembly) runs too. The guide's code blocks
// are the example's files.
import assert from "node:assert/strict";
import { test } from "node:test";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { checkGuideFiles, deadPort, e2e, expectLiveCounter, guideEnv, open, prepareExample, run, serve, serveStatic, theOneDiagnostic, wsOrigin } from "./support.mjs";

const REFUSED = [/WebSocket connection to '.*' failed/];

const hasPython = (() => {
  try {
    execFileSync("python3", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** Serves `dir` the guide's way (`python3 -m http.server`) → its URL. */
async function serveDist(t, dir) {
  if (!hasPython) {
    t.diagnostic("python3 not found: a Node static server serves dist/");
    return serveStatic(t, dir);
  }
  const { match } = await serve(t, "python3", ["-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dir], {
    cwd: dir,
    env: { PYTHONUNBUFFERED: "1" },
    ready: /Serving HTTP on 127\.0\.0\.1 port (\d+)/,
    timeout: 10_000,
  });
  return `http://127.0.0.1:${match[1]}`;
}

const env = guideEnv();

test("webpack: docs/guides/webpack.md shows the example's files as they are", () => {
  assert.equal(checkGuideFiles("webpack.md"), 3);
});

e2e(
  "webpack: npm run build emits main.js and the .wasm; dist/ served statically, ?socket= a devserver: a live counter",
  async (t) => {
    const app = await prepareExample(t, "webpack", env.tarball);
    const output = await run(t, "npm", ["run", "build"], { cwd: app });
    assert.doesNotMatch(output, /WARNING|ERROR/, "webpack builds without warnings");
    const dist = path.join(app, "dist");
    const files = readdirSync(dist);
    assert.ok(files.includes("main.js") && files.some((file) => /^[0-9a-f]+\.wasm$/.test(file)), `dist/ holds main.js and the .wasm: ${files}`);
    const site = await serveDist(t, dist);
    const socket = `${wsOrigin(env.devserver.url)}/socket`;
    const page = await open(t, env.browser, `${site}/?socket=${socket}`);
    await expectLiveCounter(page);
    page.checkWarnings();
  },
  { timeout: 90_000 },
);

e2e(
  "webpack: a development build aimed at a dead port warns once, naming the URL it dialed",
  async (t) => {
    const app = await prepareExample(t, "webpack", env.tarball, { as: "webpack-development" });
    await run(t, "npm", ["run", "build", "--", "--mode", "development"], { cwd: app });
    const site = await serveDist(t, path.join(app, "dist"));
    const socket = `ws://127.0.0.1:${await deadPort()}/socket`;
    const warnings = [];
    const page = await open(t, env.browser, `${site}/?socket=${socket}`, { expected: REFUSED, warnings });
    const said = await theOneDiagnostic(page, warnings);
    assert.ok(said.startsWith(`musubi-wasm: not connected after 5 s to ${socket}/websocket (`), said);
    assert.match(said, /without "\/websocket"\); or the server is not running/);
  },
  { timeout: 60_000 },
);

e2e(
  "webpack: the musubi-wasm/bundler variant (experiments.asyncWebAssembly) builds and runs: a live counter",
  async (t) => {
    const app = await prepareExample(t, "webpack", env.tarball, { as: "webpack-bundler" });
    // The guide's two changes.
    const config = path.join(app, "webpack.config.js");
    const entry = path.join(app, "src/index.js");
    const guide = readFileSync(path.join(import.meta.dirname, "../../docs/guides/webpack.md"), "utf8");
    assert.ok(guide.includes("  experiments: { asyncWebAssembly: true },\n") && guide.includes('import { connect } from "musubi-wasm/bundler";\n'));
    writeFileSync(config, readFileSync(config, "utf8").replace('  mode: "production",\n', '  mode: "production",\n  experiments: { asyncWebAssembly: true },\n'));
    writeFileSync(entry, readFileSync(entry, "utf8").replace('import { connect } from "musubi-wasm";', 'import { connect } from "musubi-wasm/bundler";'));
    const output = await run(t, "npm", ["run", "build"], { cwd: app });
    assert.doesNotMatch(output, /WARNING|ERROR/);
    assert.ok(readdirSync(path.join(app, "dist")).some((file) => file.endsWith(".module.wasm")), "the bundler build's .module.wasm");
    const site = await serveDist(t, path.join(app, "dist"));
    const page = await open(t, env.browser, `${site}/?socket=${wsOrigin(env.devserver.url)}/socket`);
    await expectLiveCounter(page);
    page.checkWarnings();
  },
  { timeout: 90_000 },
);
