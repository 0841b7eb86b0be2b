// End-to-end: the npm package's examples (www/js → /js/, www/react → /react/, copied into
// www/dist by scripts/build-examples.sh) served by an own devserver, in Chromium. Both pages
// mount the same roots as the Rust demo (demo-counter, demo-board), so pages share state.
// Tests run in order and share the server's state: each one reads the values it starts from.
import assert from "node:assert/strict";
import { devserverAndBrowser, e2e, openPage } from "./support.mjs";

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/", "/react/app.js"] });

const count = async (page) => Number(await page.locator("#count").textContent());
/** Card titles as shown (an editable input on the plain page, text in React). */
const titles = (page) => page.$$eval("#cards li .title", (items) => items.map((item) => item.value ?? item.textContent));

/** Waits until the badge's text is exactly `status` and it carries the class `status`. */
function waitForStatus(page, status, timeout = 10_000) {
  const check = (want) => {
    const badge = document.querySelector("#status");
    return badge?.textContent === want && badge.classList.contains(want);
  };
  return page.waitForFunction(check, status, { timeout });
}

function waitForCount(page, n) {
  return page.waitForFunction((want) => Number(document.querySelector("#count")?.textContent) === want, n, { timeout: 5_000 });
}

/** Opens an example page and waits until it is connected and shows both roots. */
async function openExample(t, path) {
  const page = await openPage(t, env.browser, env.baseUrl + path);
  await waitForStatus(page, "open");
  await page.waitForFunction(() => /^-?\d+$/.test(document.querySelector("#count")?.textContent ?? ""), null, { timeout: 10_000 });
  await page.locator("#cards li").first().waitFor({ timeout: 10_000 });
  return page;
}

/** Drops every connection through the test endpoint (as the page's button does). */
async function dropAndRecover(page) {
  const before = await count(page);
  await page.click("#drop");
  // The transition is brief (the first reconnect runs after 10 ms), so look for it in the page's
  // event list rather than racing the badge; then the badge must settle on "open".
  await page.locator("#events li", { hasText: "open → reconnecting" }).waitFor({ timeout: 5_000 });
  await waitForStatus(page, "open");
  await page.locator("#events li", { hasText: "reconnecting → open" }).waitFor({ timeout: 5_000 });
  // The roots remount right after the socket is back; until then commands reject with "Store is
  // not connected" and the pages dim the panels (class "stale").
  await page.locator("#counter:not(.stale)").waitFor({ timeout: 5_000 });
  await page.locator("#board:not(.stale)").waitFor({ timeout: 5_000 });
  assert.equal(await count(page), before, "the count survived the drop");
  return before;
}

// The plain HTML + JS page (/js/): the first tests see the fresh devserver's state.

e2e("plain JS: the page loads and shows the devserver's state", async (t) => {
  const page = await openExample(t, "/js/");
  assert.equal(await count(page), 0);
  assert.equal(await page.locator("#label").textContent(), "Counter");
  assert.deepEqual(await titles(page), ["Try Musubi", "Open a second tab"]);
  await page.locator("#stats", { hasText: "2 cards" }).waitFor({ timeout: 5_000 });
  assert.equal(await page.locator("#log li").count(), 0);
});

e2e("plain JS: a click dispatches a command and the view updates", async (t) => {
  const page = await openExample(t, "/js/");
  const before = await count(page);
  await page.click("#increment");
  await waitForCount(page, before + 1);
  await page.locator("#log li", { hasText: "+1" }).first().waitFor({ timeout: 5_000 });
  // Server text is shown as text, never parsed as HTML.
  const label = `<b id="injected">bold</b> ${Date.now()}`;
  await page.fill("#label-input", label);
  await page.click("#set-label");
  await page.locator("#label", { hasText: label }).waitFor({ timeout: 5_000 });
  assert.equal(await page.locator("#injected").count(), 0, "the label was not parsed as HTML");
});

e2e("plain JS: board cards are added, renamed, toggled and removed", async (t) => {
  const page = await openExample(t, "/js/");
  const title = `<img src=x id="injected"> card ${Date.now()}`;
  await page.fill("#card-input", title);
  await page.click("#add-card");
  const card = page.locator("#cards li").last();
  await page.waitForFunction((want) => [...document.querySelectorAll("#cards .title")].some((input) => input.value === want), title, { timeout: 5_000 });
  await page.locator("#stats", { hasText: "3 cards" }).waitFor({ timeout: 5_000 });
  assert.equal(await page.locator("#injected").count(), 0, "the title was not parsed as HTML");
  // rename and toggle go to the card's child store (store.child(["cards", id])).
  await card.locator(".title").fill("renamed card");
  await card.locator(".title").press("Tab");
  await page.waitForFunction(() => [...document.querySelectorAll("#cards .title")].some((input) => input.value === "renamed card"), null, { timeout: 5_000 });
  await card.locator(".toggle").click();
  await page.locator("#cards li.done .title").waitFor({ timeout: 5_000 });
  assert.equal(await page.locator("#cards li.done .title").inputValue(), "renamed card");
  await page.locator("#cards li.done .remove").click();
  await page.locator("#stats", { hasText: "2 cards" }).waitFor({ timeout: 5_000 });
  assert.deepEqual(await titles(page), ["Try Musubi", "Open a second tab"]);
});

e2e("plain JS: a second page sees the change", async (t) => {
  const first = await openExample(t, "/js/");
  const second = await openExample(t, "/js/");
  const before = await count(second);
  await first.click("#increment");
  await waitForCount(second, before + 1);
  const title = `from the second page ${Date.now()}`;
  await second.fill("#card-input", title);
  await second.click("#add-card");
  await first.waitForFunction((want) => [...document.querySelectorAll("#cards .title")].some((input) => input.value === want), title, { timeout: 5_000 });
  // Clean up so later tests see two cards again.
  await first.locator("#cards li").last().locator(".remove").click();
  await second.locator("#stats", { hasText: "2 cards" }).waitFor({ timeout: 5_000 });
});

e2e("plain JS: after a dropped connection the badge goes reconnecting → open and the state is intact", async (t) => {
  const page = await openExample(t, "/js/");
  const before = await dropAndRecover(page);
  assert.deepEqual(await titles(page), ["Try Musubi", "Open a second tab"]);
  await page.click("#increment");
  await waitForCount(page, before + 1);
  assert.equal(await page.locator("#events li", { hasText: "failed" }).count(), 0, "no command failed");
});

// The React page (/react/), on the state the plain-JS tests left.

e2e("React: the page loads and shows the same state as the plain page", async (t) => {
  const react = await openExample(t, "/react/");
  const plain = await openExample(t, "/js/");
  assert.equal(await count(react), await count(plain));
  assert.equal(await react.locator("#label").textContent(), await plain.locator("#label").textContent());
  assert.deepEqual(await titles(react), await titles(plain));
  await react.locator("#stats", { hasText: "2 cards" }).waitFor({ timeout: 5_000 });
  assert.equal(await react.locator("#log li").count(), await plain.locator("#log li").count());
});

e2e("React: a click dispatches a command; the view and the plain page update", async (t) => {
  const react = await openExample(t, "/react/");
  const plain = await openExample(t, "/js/");
  const before = await count(react);
  await react.click("#increment");
  await waitForCount(react, before + 1);
  await waitForCount(plain, before + 1);
  // A card's toggle goes to its child store; both pages show it.
  await react.locator("#cards li").first().locator(".toggle").click();
  await react.locator("#cards li.done").first().waitFor({ timeout: 5_000 });
  await plain.locator("#cards li.done").first().waitFor({ timeout: 5_000 });
  await plain.locator("#cards li.done .toggle").click();
  await react.waitForFunction(() => document.querySelectorAll("#cards li.done").length === 0, null, { timeout: 5_000 });
  assert.equal(await react.locator("#problem").count(), 0, "no command failed");
});

e2e("React: after a dropped connection the badge goes reconnecting → open and the state is intact", async (t) => {
  const page = await openExample(t, "/react/");
  const before = await dropAndRecover(page);
  await page.click("#increment");
  await waitForCount(page, before + 1);
  assert.equal(await page.locator("#problem").count(), 0, "no command failed");
});

e2e("a rename anywhere toasts on the Leptos, JS and React pages (push events)", async (t) => {
  const leptos = await openPage(t, env.browser, env.baseUrl + "/");
  await leptos.locator("#indicator.green").waitFor({ timeout: 10_000 });
  const plain = await openExample(t, "/js/");
  const react = await openExample(t, "/react/");
  const label = `Evented ${Date.now()}`;
  await react.fill("#label-input", label);
  await react.click("#set-label");
  const text = `Label set to “${label}”`;
  for (const page of [leptos, plain, react]) {
    await page.locator("#toast", { hasText: text }).waitFor({ timeout: 5_000 });
    await page.locator("#label", { hasText: label }).waitFor({ timeout: 5_000 });
  }
  // Once each: the plain page notes every event it hears.
  assert.equal(await plain.locator("#events li", { hasText: `event toast: ${text}` }).count(), 1);
});

e2e("a connection that never joins warns once, naming the URL the socket dials", async (t) => {
  // The browser reports each refused handshake on the console itself.
  const page = await openPage(t, env.browser, env.baseUrl + "/js/", [/WebSocket connection to '.*\/nowhere\/websocket/]);
  await waitForStatus(page, "open");
  const warnings = [];
  page.on("console", (message) => {
    if (message.type() === "warning" && message.text().startsWith("musubi-wasm: not connected")) warnings.push(message.text());
  });
  const origin = new URL(env.baseUrl).host;
  // Unbundled, the page counts as a development build; `/nowhere` has no socket behind it.
  await page.evaluate(async () => {
    const { connect } = await import("/pkg/index.js");
    window.lost = await connect("/nowhere", { waitForJoin: false, reconnectAfterMs: [200] });
  });
  await page.waitForTimeout(6_000);
  assert.notEqual(await page.evaluate(() => window.lost.status), "open");
  assert.equal(warnings.length, 1, "once");
  assert.ok(warnings[0].includes(`to ws://${origin}/nowhere/websocket (status "`), warnings[0]);
  assert.match(warnings[0], /proxy WebSocket upgrades of "\/nowhere"/);
  await page.evaluate(() => window.lost.disconnect());
});
