// The npm package's cache helpers (src/js/npm/cache.js) in node: option checks, canonical keys,
// and the write-back throttle (at most one write per second per root, a flush on demand). The
// IndexedDB side runs in Chromium (tests/e2e/cache.test.mjs).
import { test, mock } from "node:test";
import assert from "node:assert/strict";

import { WRITE_INTERVAL_MS, cacheKey, cacheOptions, canonicalJson, writeBack } from "../../src/js/npm/cache.js";

test("cache options: true, an object, or off; anything else is a TypeError", () => {
  assert.equal(cacheOptions(undefined), undefined);
  assert.equal(cacheOptions(false), undefined);
  assert.deepEqual(cacheOptions(true), { maxAgeMs: 7 * 24 * 60 * 60 * 1_000, buster: "" });
  assert.deepEqual(cacheOptions({ maxAgeMs: 5, buster: "v2" }), { maxAgeMs: 5, buster: "v2" });
  assert.throws(() => cacheOptions("yes"), TypeError);
  assert.throws(() => cacheOptions({ maxAgeMs: -1 }), /maxAgeMs/);
  assert.throws(() => cacheOptions({ maxAgeMs: Number.NaN }), /maxAgeMs/);
  assert.throws(() => cacheOptions({ buster: 1 }), /buster/);
});

test("keys are canonical: params with the same content in another order share one key", () => {
  assert.equal(canonicalJson({ b: [1, { d: 1, c: 2 }], a: "x" }), '{"a":"x","b":[1,{"c":2,"d":1}]}');
  assert.equal(cacheKey("M", "id", { b: 1, a: 2 }), cacheKey("M", "id", { a: 2, b: 1 }));
  assert.notEqual(cacheKey("M", "id", { a: 1 }), cacheKey("M", "id", { a: 2 }));
  assert.notEqual(cacheKey("M", "a:b", {}), cacheKey("M:a", "b", {}), "module and id never run together");
  assert.equal(cacheKey("M", "id", undefined), cacheKey("M", "id", {}));
});

test("write-back: one write per interval however many changes, a flush writes at once", () => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_700_000_000_000 });
  try {
    const writes = [];
    const cache = { write: (key, text) => writes.push([key, text]) };
    let version = 0;
    const writer = writeBack(cache, "k", () => `v${version}`);
    for (let i = 0; i < 10; i++) {
      version = i;
      writer.changed();
    }
    assert.equal(writes.length, 0, "throttled");
    mock.timers.tick(0);
    assert.deepEqual(writes, [["k", "v9"]], "the latest state, once");
    version = 10;
    writer.changed();
    mock.timers.tick(WRITE_INTERVAL_MS - 1);
    assert.equal(writes.length, 1, "not again within the interval");
    mock.timers.tick(1);
    assert.deepEqual(writes.at(-1), ["k", "v10"]);
    version = 11;
    writer.changed();
    writer.flush();
    assert.deepEqual(writes.at(-1), ["k", "v11"], "a flush writes now");
    mock.timers.tick(WRITE_INTERVAL_MS * 2);
    assert.equal(writes.length, 3, "and cancels the pending write");
    const quiet = writeBack(cache, "q", () => undefined);
    quiet.flush();
    assert.equal(writes.length, 3, "nothing to export, nothing written");
  } finally {
    mock.timers.reset();
  }
});
