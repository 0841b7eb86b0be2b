// The package's TypeScript declarations (src/js/npm/index.d.ts) compile in strict mode, give
// precise types to typical code, and reject common mistakes (tests/types/usage.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

test("index.d.ts type-checks typical usage and rejects mistakes (tsc --strict)", () => {
  const tsc = path.join(ROOT, "node_modules/.bin/tsc");
  const result = spawnSync(tsc, ["-p", path.join(ROOT, "tests/types/tsconfig.json")], { encoding: "utf8" });
  assert.equal(result.status, 0, `tsc failed:\n${result.stdout}${result.stderr}`);
});

test("public declarations use no `any`", () => {
  const declarations = readFileSync(path.join(ROOT, "src/js/npm/index.d.ts"), "utf8");
  // Comments and string literal types (an upload's `accept` may be the literal "any") are not code.
  const code = declarations.replace(/\/\*\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "").replace(/"[^"\n]*"/g, '""');
  assert.doesNotMatch(code, /\bany\b/);
});
