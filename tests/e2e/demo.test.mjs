// End-to-end: the Leptos demo app (built by trunk into www/dist) served by the devserver, driven
// in Debian's Chromium with playwright-core. Load → both roots live → a click patches the counter
// → another tab sees changes live → a drop turns the indicator yellow with a countdown, then green
// with the state intact → version gaps and broken patches heal → close / connect controls.
import assert from "node:assert/strict";
import { devserverAndBrowser, e2e, openPage } from "./support.mjs";

const env = devserverAndBrowser();

/** Opens the demo in a new page of test `t` (checked for page errors) once both roots are live. */
async function openDemo(t) {
  const page = await openPage(t, env.browser, env.baseUrl + "/");
  await page.locator("#indicator.green").waitFor({ timeout: 10_000 });
  await page.locator("#status-demo-counter", { hasText: "live" }).waitFor({ timeout: 10_000 });
  await page.locator("#status-demo-board", { hasText: "live" }).waitFor({ timeout: 10_000 });
  await page.locator("#count").filter({ hasText: /\d/ }).waitFor({ timeout: 10_000 });
  return page;
}

const count = async (page) => Number(await page.locator("#count").textContent());
const waitForCount = (page, expected) =>
  page.waitForFunction((n) => Number(document.querySelector("#count")?.textContent) === n, expected, { timeout: 5_000 });

e2e("the Leptos demo shows live state and a click increments the counter and logs it", async (t) => {
  const page = await openDemo(t);
  const before = await count(page);
  await page.click("#increment");
  await waitForCount(page, before + 1);
  await page.locator("#log li", { hasText: "+1" }).first().waitFor({ timeout: 5_000 });
  await page.locator("#stats", { hasText: "cards" }).waitFor({ timeout: 5_000 });
  assert.equal(await page.locator("#error-banner").count(), 0, "no error banner");
});

e2e("a change in one tab shows up live in another (counter, label, child-store cards)", async (t) => {
  const first = await openDemo(t);
  const second = await openDemo(t);
  const before = await count(second);
  await first.click("#increment");
  await waitForCount(second, before + 1);
  const label = `Clicks ${Date.now()}`;
  await first.fill("#label-input", label);
  await first.click("#set-label");
  await second.locator("#label", { hasText: label }).waitFor({ timeout: 5_000 });
  const title = `card ${Date.now()}`;
  await first.fill("#card-input", title);
  await first.click("#add-card");
  const card = second.locator("#cards li", { hasText: title });
  await card.waitFor({ timeout: 5_000 });
  await first.locator("#cards li", { hasText: title }).locator(".toggle").click();
  await second.locator("#cards li.done", { hasText: title }).waitFor({ timeout: 5_000 });
  await first.locator("#cards li", { hasText: title }).locator(".remove").click();
  await card.waitFor({ state: "detached", timeout: 5_000 });
});

e2e("a dropped connection turns the indicator yellow with a countdown, then green with the state intact", async (t) => {
  const page = await openDemo(t);
  const start = await count(page);
  await page.click("#increment");
  await waitForCount(page, start + 1);
  const before = start + 1;
  await page.click("#drop");
  await page.locator("#indicator.yellow").waitFor({ timeout: 5_000 });
  await page.locator("#countdown", { hasText: /retry \d+ in/ }).waitFor({ timeout: 5_000 });
  assert.equal(await count(page), before, "the last good state stays visible");
  await page.locator("#error-banner", { hasText: "connection lost" }).waitFor({ timeout: 5_000 });
  await page.locator("#indicator.green").waitFor({ timeout: 10_000 });
  await page.locator("#status-demo-counter", { hasText: "live" }).waitFor({ timeout: 5_000 });
  assert.equal(await count(page), before, "the state is intact after the reconnect");
  // The banner clears itself once the connection is open and every root is live again.
  await page.locator("#error-banner").waitFor({ state: "detached", timeout: 5_000 });
  await page.click("#increment");
  await waitForCount(page, before + 1);
});

e2e("version gaps and broken patches heal: the roots remount with the right state", async (t) => {
  const page = await openDemo(t);
  const start = await count(page);
  await page.click("#increment");
  await waitForCount(page, start + 1);
  const before = start + 1;
  // The banner may come and go within milliseconds on loopback: record every text it shows.
  await page.evaluate(() => {
    window.__banners = [];
    new MutationObserver(() => {
      const text = document.querySelector("#error-text")?.textContent;
      if (text && window.__banners.at(-1) !== text) window.__banners.push(text);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  const shown = (text) => page.waitForFunction((t) => window.__banners.some((b) => b.includes(t)), text, { timeout: 5_000 });
  await page.click("#gap");
  // A gap is a missed update, not a broken one, and the banner says which.
  await shown("root demo-counter is resyncing: it missed an update (expected");
  await page.locator("#status-demo-counter", { hasText: "live" }).waitFor({ timeout: 5_000 });
  await page.click("#corrupt");
  await shown("root demo-board is resyncing: an update could not be applied");
  await page.locator("#status-demo-counter", { hasText: "live" }).waitFor({ timeout: 5_000 });
  await page.locator("#status-demo-board", { hasText: "live" }).waitFor({ timeout: 5_000 });
  await page.locator("#error-banner").waitFor({ state: "detached", timeout: 5_000 });
  assert.ok((await count(page)) >= before, "the counter kept its value");
  await page.click("#increment");
  await page.waitForFunction((n) => Number(document.querySelector("#count").textContent) >= n + 1, before, { timeout: 5_000 });
});

e2e("close stops the connection (red, no retries) and connect brings it back", async (t) => {
  const page = await openDemo(t);
  const before = await count(page);
  await page.click("#close");
  await page.locator("#indicator.red").waitFor({ timeout: 5_000 });
  await page.waitForTimeout(1_500);
  assert.equal(await page.locator("#indicator").getAttribute("class"), "indicator red", "no retry while closed");
  assert.equal(await count(page), before, "still readable while closed");
  await page.click("#open");
  await page.locator("#indicator.green").waitFor({ timeout: 5_000 });
  await page.locator("#status-demo-counter", { hasText: "live" }).waitFor({ timeout: 5_000 });
  await page.click("#increment");
  await waitForCount(page, before + 1);
});
