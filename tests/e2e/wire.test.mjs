// The same user code against today's Musubi: the Leptos, plain-JS and React demo pages, unchanged
// (wire "auto"), against a devserver that speaks only the per-root wire (Musubi 0.12+: one channel
// per root, no connection channel). Each detects it, goes live, patches and receives push events.
import { devserverAndBrowser, e2e, openPage } from "./support.mjs";

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/", "/react/app.js"], serverArgs: ["--wire", "per-root"] });

e2e("the unchanged demo pages work against a per-root-only server", async (t) => {
  const leptos = await openPage(t, env.browser, env.baseUrl + "/");
  const plain = await openPage(t, env.browser, env.baseUrl + "/js/");
  const react = await openPage(t, env.browser, env.baseUrl + "/react/");
  await leptos.locator("#indicator.green").waitFor({ timeout: 10_000 });
  for (const page of [plain, react]) {
    await page.waitForFunction(() => document.querySelector("#status")?.textContent === "open", null, { timeout: 10_000 });
    await page.waitForFunction(() => /^-?\d+$/.test(document.querySelector("#count")?.textContent ?? ""), null, { timeout: 10_000 });
  }
  await plain.locator("#events li", { hasText: "wire: per-root" }).waitFor({ timeout: 5_000 });
  const before = Number(await plain.locator("#count").textContent());
  await leptos.click("#increment");
  for (const page of [leptos, plain, react]) {
    await page.waitForFunction((want) => Number(document.querySelector("#count")?.textContent) === want, before + 1, { timeout: 5_000 });
  }
  const label = `Per root ${Date.now()}`;
  await plain.fill("#label-input", label);
  await plain.click("#set-label");
  for (const page of [leptos, plain, react]) {
    await page.locator("#toast", { hasText: label }).waitFor({ timeout: 5_000 });
  }
});
