// End-to-end: the durable stash (npm `openStash`, Leptos `use_stash`) in Chromium, on the demo
// pages served by an own devserver. Each demo's "Notes" panel (view Demo.Notes, shared by the
// plain-JS, React and Leptos pages) survives a reload; pages of one browser context (tabs of one
// origin) see each other's writes live and keep each other's keys, also when both write at once;
// a full localStorage gives the typed error and keeps the old value. Last, it measures (prints,
// never asserts) a merge of one key into views of 100 and 1,000 keys and the stored bytes per key.
import assert from "node:assert/strict";
import { devserverAndBrowser, e2e, openPage } from "./support.mjs";

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/", "/react/app.js"] });
const NOTES = "musubi-stash:Demo.Notes";
const DEMOS = { "plain JS": "/js/", React: "/react/", Leptos: "/" };
const draft = "[data-testid=stash-draft]";
const compact = "[data-testid=stash-compact]";

/** A fresh browser context (its own localStorage: pages in it are tabs of one origin). */
async function tabs(t) {
  const context = await env.browser.newContext();
  t.after(() => context.close());
  return context;
}

/** Opens a demo page in `context` (checked for page errors by `e2e`) once its notes panel is up. */
async function openNotes(t, context, path) {
  const page = await openPage(t, context, env.baseUrl + path);
  await page.locator(draft).waitFor({ timeout: 10_000 });
  return page;
}

const waitForDraft = (page, text) =>
  page.waitForFunction(([selector, want]) => document.querySelector(selector)?.value === want, [draft, text], { timeout: 5_000 });
const waitForCompact = (page, on) =>
  page.waitForFunction(([selector, want]) => document.querySelector(selector)?.checked === want, [compact, on], { timeout: 5_000 });

for (const [name, path] of Object.entries(DEMOS)) {
  e2e(`${name}: the stash-backed note and setting survive a reload`, async (t) => {
    const context = await tabs(t);
    const page = await openNotes(t, context, path);
    assert.equal(await page.locator("[data-testid=stash-saved]").textContent(), "never saved");
    const text = `note ${name} ${Date.now()}`;
    await page.fill(draft, text);
    await page.check(compact);
    const stored = JSON.parse(await page.evaluate((key) => localStorage.getItem(key), NOTES));
    assert.equal(stored.v, 1);
    assert.equal(stored.d.draft[2], text, "stored when the input event was handled");
    await page.reload();
    await page.locator(draft).waitFor({ timeout: 10_000 });
    await waitForDraft(page, text);
    await waitForCompact(page, true);
    assert.match(await page.locator("[data-testid=stash-saved]").textContent(), /^saved /);
    await page.click("[data-testid=stash-reset]");
    await waitForDraft(page, "");
    await page.reload();
    await page.locator(draft).waitFor({ timeout: 10_000 });
    await waitForCompact(page, false);
    assert.equal(await page.inputValue(draft), "");
  });
}

e2e("tabs of the plain-JS, React and Leptos demos see each other's notes live", async (t) => {
  const context = await tabs(t);
  const [js, react, leptos] = [await openNotes(t, context, "/js/"), await openNotes(t, context, "/react/"), await openNotes(t, context, "/")];
  await js.fill(draft, "typed in plain JS");
  await waitForDraft(react, "typed in plain JS");
  await waitForDraft(leptos, "typed in plain JS");
  await leptos.check(compact);
  await waitForCompact(js, true);
  await waitForCompact(react, true);
  await react.fill(draft, "typed in React");
  await waitForDraft(js, "typed in React");
  await waitForDraft(leptos, "typed in React");
  // Each tab wrote a different key; none lost the other's.
  for (const page of [js, react, leptos]) assert.equal(await page.isChecked(compact), true);
});

e2e("two tabs writing different keys at the same time keep all of them and hear each other", async (t) => {
  const context = await tabs(t);
  const [first, second] = [await openNotes(t, context, "/js/"), await openNotes(t, context, "/js/")];
  const view = `E2E.Race-${Date.now()}`;
  const COUNT = 150;
  const hammer = (page, tag) =>
    page.evaluate(
      async ([view, tag, count]) => {
        const { openStash } = await import("/pkg/index.js");
        const stash = await openStash(view);
        window.raceStash = stash;
        let heard = 0;
        stash.subscribe(() => heard++);
        window.raceHeard = () => heard;
        for (let i = 0; i < count; i++) {
          stash.merge({ [`${tag}${i}`]: i });
          // Yield now and then, so the other tab's storage events interleave with these writes.
          if (i % 3 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
        }
      },
      [view, tag, COUNT],
    );
  await Promise.all([hammer(first, "a"), hammer(second, "b")]);
  const settled = (page) =>
    page.waitForFunction((want) => Object.keys(window.raceStash.getView()).length === want, 2 * COUNT, { timeout: 10_000 });
  await settled(first);
  await settled(second);
  const storedKeys = await first.evaluate((key) => Object.keys(JSON.parse(localStorage.getItem(key)).d).length, `musubi-stash:${view}`);
  assert.equal(storedKeys, 2 * COUNT, "every key of both tabs is stored");
  assert.deepEqual(await first.evaluate(() => window.raceStash.getView()), await second.evaluate(() => window.raceStash.getView()));
  assert.ok((await second.evaluate(() => window.raceHeard())) > COUNT, "the second tab heard the first tab's writes");
});

/** Fills the page's localStorage until a 1 KiB value no longer fits; returns the filler keys. */
const fillStorage = (page) =>
  page.evaluate(() => {
    const keys = [];
    for (let size = 1 << 20; size >= 1024; ) {
      const key = `filler-${keys.length}`;
      try {
        localStorage.setItem(key, "f".repeat(size));
        keys.push(key);
      } catch {
        size /= 2;
      }
    }
    return keys;
  });

for (const [name, path] of [["plain JS", "/js/"], ["Leptos", "/"]]) {
  e2e(`${name}: a full localStorage gives quota_exceeded and keeps the old value`, async (t) => {
    const context = await tabs(t);
    const page = await openNotes(t, context, path);
    await page.fill(draft, "kept");
    const before = await page.evaluate((key) => localStorage.getItem(key), NOTES);
    const fillers = await fillStorage(page);
    await page.fill(draft, `kept, and then ${"much more ".repeat(300)}`);
    await page.locator("[data-testid=stash-error][data-kind=quota_exceeded]").waitFor({ timeout: 5_000 });
    assert.equal(await page.evaluate((key) => localStorage.getItem(key), NOTES), before, "the stored value is intact");
    if (name === "plain JS") {
      await waitForDraft(page, "kept"); // the input shows what is stored
      const thrown = await page.evaluate(() => {
        try {
          window.musubiStash.merge({ draft: "x".repeat(100_000) });
          return null;
        } catch (error) {
          return { name: error.name, kind: error.kind, isError: error instanceof Error, data: window.musubiStash.getView().draft };
        }
      });
      assert.deepEqual(thrown, { name: "MusubiStashError", kind: "quota_exceeded", isError: true, data: "kept" });
    }
    await page.evaluate((keys) => keys.forEach((key) => localStorage.removeItem(key)), fillers);
    await page.fill(draft, "fits again");
    await page.locator("[data-testid=stash-error][data-kind]").waitFor({ state: "detached", timeout: 5_000 });
    assert.equal(JSON.parse(await page.evaluate((key) => localStorage.getItem(key), NOTES)).d.draft[2], "fits again");
  });
}

e2e("corrupt data from something else: the demo reads it as empty, refuses writes, and Forget replaces it", async (t) => {
  const context = await tabs(t);
  const page = await openNotes(t, context, "/js/");
  await page.evaluate((key) => localStorage.setItem(key, "{not a stash"), NOTES);
  await page.reload();
  await page.locator(draft).waitFor({ timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.musubiStash.corrupt), true);
  await page.fill(draft, "x");
  await page.locator("[data-testid=stash-error][data-kind=corrupt]").waitFor({ timeout: 5_000 });
  assert.equal(await page.evaluate((key) => localStorage.getItem(key), NOTES), "{not a stash", "never overwritten silently");
  await page.click("[data-testid=stash-reset]");
  await page.fill(draft, "after the reset");
  assert.equal(JSON.parse(await page.evaluate((key) => localStorage.getItem(key), NOTES)).d.draft[2], "after the reset");
});

e2e(
  "benchmark: a merge of one key into views of 100 and 1,000 keys, and the bytes per key (printed, not asserted)",
  async (t) => {
    const context = await tabs(t);
    const page = await openNotes(t, context, "/js/");
    const rows = await page.evaluate(async () => {
      const { openStash } = await import("/pkg/index.js");
      const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
      const results = [];
      for (const keys of [100, 1_000]) {
        const view = `Bench.${keys}-${Date.now()}`;
        const stash = await openStash(view);
        // Values like a small UI setting each: a short string.
        const initial = {};
        for (let i = 0; i < keys; i++) initial[`key-${i}`] = `value ${i}`;
        stash.merge(initial);
        const text = localStorage.getItem(`musubi-stash:${view}`);
        const payload = JSON.stringify(initial).length; // the keys and values alone, as JSON
        // Warm up, then time batches (performance.now() is coarse outside isolated pages).
        for (let i = 0; i < 300; i++) stash.merge({ [`key-${i % keys}`]: `warm ${i}` });
        const batch = 20;
        const merge = [];
        const mergeAndRead = [];
        for (let sample = 0; sample < 60; sample++) {
          let start = performance.now();
          for (let i = 0; i < batch; i++) stash.merge({ [`key-${(sample * batch + i) % keys}`]: `value ${sample} ${i}` });
          merge.push((performance.now() - start) / batch);
          start = performance.now();
          for (let i = 0; i < batch; i++) {
            stash.merge({ [`key-${(sample * batch + i) % keys}`]: `again ${sample} ${i}` });
            stash.getView();
          }
          mergeAndRead.push((performance.now() - start) / batch);
        }
        results.push({
          keys,
          mergeMs: median(merge),
          mergeAndGetViewMs: median(mergeAndRead),
          storedBytes: text.length,
          bytesPerKey: text.length / keys,
          overheadPerKey: (text.length - payload) / keys,
        });
        stash.reset();
        stash.close();
      }
      return results;
    });
    for (const row of rows) {
      console.log(
        `[stash-bench] ${row.keys} keys: merge of one key ${(row.mergeMs * 1000).toFixed(0)} µs (median of 60 × 20), ` +
          `with getView() ${(row.mergeAndGetViewMs * 1000).toFixed(0)} µs; stored ${row.storedBytes} B, ` +
          `${row.bytesPerKey.toFixed(1)} B per key (${row.overheadPerKey.toFixed(1)} B beyond the key and value)`,
      );
    }
    assert.equal(rows.length, 2);
  },
  { timeout: 120_000 },
);
