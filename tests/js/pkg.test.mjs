// The built npm package in pkg/ (scripts/build-pkg.sh): its manifest, what `npm pack` ships,
// both wasm-pack builds, and no eval-like code anywhere in its JavaScript.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PKG = path.join(ROOT, "pkg");
assert.ok(existsSync(path.join(PKG, "package.json")), "pkg/ is not built: run scripts/build-pkg.sh first");

test("the manifest names musubi-wasm, is ESM and points at existing files", () => {
  const manifest = JSON.parse(readFileSync(path.join(PKG, "package.json"), "utf8"));
  const cargo = readFileSync(path.join(ROOT, "Cargo.toml"), "utf8");
  assert.equal(manifest.name, "musubi-wasm");
  assert.equal(manifest.type, "module");
  assert.equal(manifest.version, /^version = "(.*)"/m.exec(cargo)?.[1]);
  for (const entry of Object.values(manifest.exports)) {
    for (const file of typeof entry === "string" ? [entry] : Object.values(entry)) assert.ok(existsSync(path.join(PKG, file)), file);
  }
});

test("npm pack ships the ESM layer, types, README and both wasm builds", () => {
  const [packed] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: PKG, encoding: "utf8" }));
  const files = packed.files.map((file) => file.path).sort();
  for (const needed of [
    "index.js", "index.d.ts", "api.js", "cache.js", "bundler.js", "bundler.d.ts", "README.md", "package.json",
    "web/musubi_wasm.js", "web/musubi_wasm_bg.wasm", "bundler/musubi_wasm.js", "bundler/musubi_wasm_bg.js", "bundler/musubi_wasm_bg.wasm",
  ]) {
    assert.ok(files.includes(needed), `${needed} missing from ${files.join(", ")}`);
  }
});

test("no eval, no new Function in the package's JavaScript", () => {
  const sources = ["index.js", "api.js", "cache.js", "bundler.js", "web/musubi_wasm.js", "bundler/musubi_wasm_bg.js", "bundler/musubi_wasm.js"];
  for (const file of sources) {
    const code = readFileSync(path.join(PKG, file), "utf8");
    assert.doesNotMatch(code, /\beval\s*\(|new\s+Function\s*\(/, file);
  }
});
