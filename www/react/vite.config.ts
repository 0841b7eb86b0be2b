// Builds the React example (scripts/build-examples.sh: `vite build --config www/react/vite.config.ts`)
// into $MUSUBI_DIST/react (default www/dist/react), served at /react/ by the devserver.
//
// "musubi-wasm" and "musubi-wasm/react" are the package as built into pkg/ (scripts/build-pkg.sh),
// bundled in: pkg/react.js imports "./index.js", the same file the alias names, so the page holds
// one copy of the package and one wasm instance. The wasm file (pkg/web/musubi_wasm_bg.wasm,
// loaded by `new URL(…, import.meta.url)`) is emitted next to the bundle under assets/.
//
// Mode: `development` (the default here) builds React's development version, so <StrictMode>
// really double-renders and double-runs effects (what the e2e tests exercise) and React's
// warnings reach the console (where the tests fail on them); MUSUBI_REACT_MODE=production builds
// the minified production version.
import path from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const dist = path.resolve(repo, process.env.MUSUBI_DIST ?? "www/dist");

export default defineConfig(({ mode }) => ({
  root: here,
  base: "/react/",
  // Nothing to copy from a public/ directory (the page's stylesheet is the plain page's, /js/style.css).
  publicDir: false,
  clearScreen: false,
  logLevel: "warn",
  plugins: [react()],
  resolve: {
    alias: [
      { find: /^musubi-wasm$/, replacement: path.join(repo, "pkg/index.js") },
      { find: /^musubi-wasm\/react$/, replacement: path.join(repo, "pkg/react.js") },
    ],
    // One React for the app and pkg/react.js (both resolve to the repository's node_modules).
    dedupe: ["react", "react-dom"],
  },
  build: {
    outDir: path.join(dist, "react"),
    emptyOutDir: true,
    target: "es2022",
    minify: mode === "production",
    sourcemap: true,
    // Inline nothing: the wasm module stays a file of its own (fetched and compiled streaming).
    assetsInlineLimit: 0,
    rolldownOptions: {
      output: {
        // A stable name: the tests check /react/app.js is served before they start.
        entryFileNames: "app.js",
        chunkFileNames: "assets/[name]-[hash].js",
        assetFileNames: "assets/[name]-[hash][extname]",
      },
    },
  },
}));
