// Shared by wire.test.mjs and wire-connection.test.mjs (not a test file itself): the Leptos,
// plain-JS and React demo pages, unchanged (wire "auto"), against the devserver of `env`.
import { openPage } from "./support.mjs";

/** Opens the three pages, checks they detected `wire`, then that a click patches and a rename toasts everywhere. */
export async function unchangedPagesWork(t, env, wire) {
  const leptos = await openPage(t, env.browser, env.baseUrl + "/");
  const plain = await openPage(t, env.browser, env.baseUrl + "/js/");
  const react = await openPage(t, env.browser, env.baseUrl + "/react/");
  await leptos.locator("#indicator.green").waitFor({ timeout: 10_000 });
  for (const page of [plain, react]) {
    await page.waitForFunction(() => document.querySelector("#status")?.textContent === "open", null, { timeout: 10_000 });
    await page.waitForFunction(() => /^-?\d+$/.test(document.querySelector("#count")?.textContent ?? ""), null, { timeout: 10_000 });
  }
  await plain.locator("#events li", { hasText: `wire: ${wire}` }).waitFor({ timeout: 5_000 });
  const before = Number(await plain.locator("#count").textContent());
  await leptos.click("#increment");
  for (const page of [leptos, plain, react]) {
    await page.waitForFunction((want) => Number(document.querySelector("#count")?.textContent) === want, before + 1, { timeout: 5_000 });
  }
  const label = `${wire} ${Date.now()}`;
  await plain.fill("#label-input", label);
  await plain.click("#set-label");
  for (const page of [leptos, plain, react]) {
    await page.locator("#toast", { hasText: label }).waitFor({ timeout: 5_000 });
  }
}
