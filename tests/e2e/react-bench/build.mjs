// Bundling for tests/e2e/react-bench.test.mjs, with esbuild from node_modules.
//
// buildBenchPage(client): the benchmark page (app.jsx) around one client binding, React's
// production build from this repository's node_modules bundled in once (also for a reference
// bundle, whose React imports are external).
//
// As a script, the reference bundle (it stays out of the repository):
//
//   node tests/e2e/react-bench/build.mjs <reference checkout> <out.js>
//
// <reference checkout> holds packages/client/src and packages/react/src of the TypeScript
// reference client (fahchen/arbor at 0.6.1), with `use-sync-external-store` installed next to
// it; `phoenix` comes from this repository's node_modules. See react-bench.test.mjs's header.
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../../..");
const fromRoot = createRequire(path.join(ROOT, "package.json"));
/** Where the page loads the package from (its wasm is fetched next to it). */
export const PACKAGE_URL = "/_bench/pkg/index.js";

const REACT = /^(react|react-dom)(\/.*)?$/;
const production = { "process.env.NODE_ENV": '"production"' };

/** The page bundle (ES module text) for `client`: "ours" (ours.js) or the path of a reference bundle (`minify: false` for a readable CPU profile). */
export async function buildBenchPage(client, { minify = true } = {}) {
  const clientModule = client === "ours" ? path.join(HERE, "ours.js") : path.resolve(client);
  const hooks = path.join(ROOT, "src/js/npm/react.js");
  const result = await esbuild.build({
    entryPoints: [path.join(HERE, "app.jsx")],
    bundle: true,
    write: false,
    format: "esm",
    jsx: "automatic",
    minify,
    define: production,
    logLevel: "silent",
    plugins: [
      {
        name: "bench-page",
        setup(build) {
          build.onResolve({ filter: /^bench-client$/ }, () => ({ path: clientModule }));
          // One React for the page and the client, wherever the client's bundle lives.
          build.onResolve({ filter: REACT }, (args) => ({ path: fromRoot.resolve(args.path) }));
          // The hooks under work (src/js/npm/react.js) over the built package, loaded by URL.
          build.onResolve({ filter: /^musubi-wasm\/react$/ }, () => ({ path: hooks }));
          build.onResolve({ filter: /^musubi-wasm$/ }, () => ({ path: PACKAGE_URL, external: true }));
          build.onResolve({ filter: /^\.\/(index|api)\.js$/ }, (args) =>
            args.importer === hooks ? { path: new URL(args.path, `http://x${PACKAGE_URL}`).pathname, external: true } : undefined,
          );
        },
      },
    ],
  });
  if (result.warnings.length > 0) throw new Error(`esbuild warnings: ${result.warnings.map((warning) => warning.text).join("; ")}`);
  return result.outputFiles[0].text;
}

/** Bundles the reference client, its React package and phoenix from `checkout` into `out` (React external). */
export async function buildReference(checkout, out) {
  const client = path.join(checkout, "packages/client/src/index.ts");
  const react = path.join(checkout, "packages/react/src/index.tsx");
  for (const file of [client, react]) if (!existsSync(file)) throw new Error(`${file} is missing: not a checkout of the reference`);
  await esbuild.build({
    entryPoints: [path.join(HERE, "reference-entry.js")],
    outfile: out,
    bundle: true,
    format: "esm",
    jsx: "automatic",
    define: production,
    logLevel: "warning",
    nodePaths: [path.join(ROOT, "node_modules")],
    plugins: [
      {
        name: "reference",
        setup(build) {
          build.onResolve({ filter: /^@musubi\/client$/ }, () => ({ path: client }));
          build.onResolve({ filter: /^@musubi\/react$/ }, () => ({ path: react }));
          // React stays external; use-sync-external-store's CommonJS `require("react")` goes
          // through an ES module that imports it, as an external `require` cannot run in a page.
          build.onResolve({ filter: REACT }, (args) =>
            args.kind === "require-call" ? { path: args.path, namespace: "react-as-esm" } : { path: args.path, external: true },
          );
          build.onLoad({ filter: /.*/, namespace: "react-as-esm" }, (args) => ({ contents: `export * from ${JSON.stringify(args.path)};`, loader: "js" }));
        },
      },
    ],
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [checkout, out] = process.argv.slice(2);
  if (!checkout || !out || !statSync(checkout, { throwIfNoEntry: false })?.isDirectory()) {
    console.error("usage: node tests/e2e/react-bench/build.mjs <reference checkout> <out.js>");
    process.exit(2);
  }
  await buildReference(path.resolve(checkout), path.resolve(out));
  console.log(`reference bundle: ${path.resolve(out)}`);
}
