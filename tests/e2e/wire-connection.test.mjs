// The same user code against Musubi 0.6.1: the Leptos, plain-JS and React demo pages, unchanged
// (wire "auto"), against a devserver that speaks only the connection channel.
import { devserverAndBrowser, e2e, openPage } from "./support.mjs";

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/", "/react/app.js"], serverArgs: ["--wire", "connection"] });

e2e("the unchanged demo pages work against a connection-channel-only server", async (t) => {
  const leptos = await openPage(t, env.browser, env.baseUrl + "/");
  const plain = await openPage(t, env.browser, env.baseUrl + "/js/");
  const react = await openPage(t, env.browser, env.baseUrl + "/react/");
  await leptos.locator("#indicator.green").waitFor({ timeout: 10_000 });
  for (const page of [plain, react]) {
    await page.waitForFunction(() => document.querySelector("#status")?.textContent === "open", null, { timeout: 10_000 });
    await page.waitForFunction(() => /^-?\d+$/.test(document.querySelector("#count")?.textContent ?? ""), null, { timeout: 10_000 });
  }
  await plain.locator("#events li", { hasText: "wire: connection" }).waitFor({ timeout: 5_000 });
  const before = Number(await plain.locator("#count").textContent());
  await react.click("#increment");
  for (const page of [leptos, plain, react]) {
    await page.waitForFunction((want) => Number(document.querySelector("#count")?.textContent) === want, before + 1, { timeout: 5_000 });
  }
  const label = `Connection ${Date.now()}`;
  await plain.fill("#label-input", label);
  await plain.click("#set-label");
  for (const page of [leptos, plain, react]) {
    await page.locator("#toast", { hasText: label }).waitFor({ timeout: 5_000 });
  }
});
