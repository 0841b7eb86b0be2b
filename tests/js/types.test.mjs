// The package's TypeScript declarations (src/js/npm/index.d.ts, react.d.ts, bundler.d.ts) compile
// in strict mode, give precise types to typical code, and reject common mistakes: the files in
// tests/types, each compilation with its own tsconfig (a module-augmentation registry is global,
// so it gets a compilation of its own). Every `@ts-expect-error` there must be needed — tsc fails
// on an unused one — so each marks a mistake the types catch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TYPES = path.join(ROOT, "tests/types");
const TSC = path.join(ROOT, "node_modules/.bin/tsc");

/** tsconfig → what it compiles. */
const COMPILATIONS = {
  "tsconfig.json": "no registry (untyped defaults), generic registries, the React hooks without a registry, usage.ts",
  "tsconfig.register.json": "the `declare module \"musubi-wasm\" { interface Register }` registry: core API and React hooks",
  "tsconfig.register-invalid.json": "a malformed `Register` registry: the errors land at the calls, also under skipLibCheck",
  "tsconfig.readme.json": "the README's React snippet, verbatim",
};

const readConfig = (name) => JSON.parse(readFileSync(path.join(TYPES, name), "utf8").replace(/^\s*\/\/.*$/gm, ""));

for (const [config, what] of Object.entries(COMPILATIONS)) {
  test(`tsc --strict -p tests/types/${config}: ${what}`, () => {
    const result = spawnSync(TSC, ["-p", path.join(TYPES, config)], { encoding: "utf8" });
    assert.equal(result.error, undefined, `could not run ${TSC}: ${result.error}`);
    assert.equal(result.status, 0, `tsc failed:\n${result.stdout}${result.stderr}`);
  });
}

test("every type test file is compiled, under strict", () => {
  const compiled = new Set();
  for (const config of Object.keys(COMPILATIONS)) {
    const { extends: base, files } = readConfig(config);
    const options = { ...(base ? readConfig(base).compilerOptions : {}), ...readConfig(config).compilerOptions };
    assert.equal(options.strict, true, `${config} must be strict`);
    for (const file of files) compiled.add(file);
  }
  const sources = readdirSync(TYPES).filter((file) => /\.tsx?$/.test(file));
  assert.deepEqual(sources.filter((file) => !compiled.has(file)), [], "type test files no tsconfig compiles");
});

test("public declarations use no `any`", () => {
  for (const file of ["index.d.ts", "react.d.ts", "bundler.d.ts"]) {
    const declarations = readFileSync(path.join(ROOT, "src/js/npm", file), "utf8");
    // Comments and string literal types (an upload's `accept` may be the literal "any") are not code.
    const code = declarations.replace(/\/\*\*?[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "").replace(/"[^"\n]*"/g, '""');
    assert.doesNotMatch(code, /\bany\b/, `${file} uses \`any\``);
  }
});

test("the READMEs' React snippet is tests/types/readme-react.tsx verbatim", (t) => {
  const expected = readFileSync(path.join(TYPES, "readme-react.tsx"), "utf8");
  let found = 0;
  for (const readme of ["README.md", "src/js/npm/README.md"]) {
    const text = readFileSync(path.join(ROOT, readme), "utf8");
    const blocks = [...text.matchAll(/```tsx\n([\s\S]*?)```/g)].map((match) => match[1]);
    for (const snippet of blocks.filter((block) => block.includes('from "musubi-wasm/react"') && block.includes("interface Register"))) {
      assert.equal(snippet, expected, `${readme}'s React snippet differs from tests/types/readme-react.tsx`);
      found += 1;
    }
  }
  if (found === 0) t.skip("no README has the React snippet with a registry yet");
});
