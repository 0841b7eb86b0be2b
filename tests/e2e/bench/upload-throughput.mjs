// Upload throughput of the npm package in Chromium (a measurement, never asserted): a random
// file sent through Demo.ProfileStore's `archive` upload (channel mode, 64 kB chunks) on an own
// devserver, `runs` times per chunk window. Prints the median MB/s of `start()` → every byte
// acknowledged, and checks the server's copy (size and SHA-256) after every run.
//
//   node tests/e2e/bench/upload-throughput.mjs [megabytes=50] [runs=3] [windows=1,4]
//
// (MUSUBI_DEVSERVER_BIN and MUSUBI_STATIC_DIR as for the e2e tests; needs pkg/ in the static
// dir: scripts/build-pkg.sh and scripts/build-examples.sh.) `measureUploads` is also used by the
// small smoke run in tests/e2e/upload.test.mjs.
import { pathToFileURL } from "node:url";
import { launchBrowser, requireServed, startDevserver } from "../support.mjs";

/**
 * In `page` (any page of the devserver that can import /pkg/index.js): uploads one random file
 * of `bytes` bytes `runs` times per window, each checked against the server's copy (size and
 * SHA-256) → `[{window, runs: [{ms, mbPerSecond}], medianMbPerSecond}]`.
 */
export async function measureUploads(page, { bytes, runs, windows }) {
  return page.evaluate(
    async ({ bytes, runs, windows }) => {
      const { connect } = await import("/pkg/index.js");
      const data = new Uint8Array(bytes);
      for (let at = 0; at < bytes; at += 65_536) crypto.getRandomValues(data.subarray(at, Math.min(bytes, at + 65_536)));
      const sha256 = [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))].map((byte) => byte.toString(16).padStart(2, "0")).join("");
      const file = new File([data], "archive.bin", { type: "application/octet-stream" });
      const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
      const results = [];
      for (const window of windows) {
        const connection = await connect("/socket", { uploadWindow: window });
        const measured = [];
        for (let run = 0; run < runs; run++) {
          const { store, unmount } = await connection.mountStore({ module: "Demo.ProfileStore", id: `throughput-${window}-${run}-${Date.now()}` });
          const archive = store.upload("archive");
          await archive.select([file]);
          const started = performance.now();
          await archive.start();
          const ms = performance.now() - started;
          const { status, entries } = archive.snapshot();
          if (status !== "success") throw new Error(`window ${window}, run ${run}: ${status} ${JSON.stringify(entries)}`);
          const ref = entries[0].ref;
          const response = await fetch(`/_test/upload_sha256?ref=${encodeURIComponent(ref)}`);
          const stored = response.ok ? await response.json() : undefined;
          if (stored?.size !== bytes || stored?.sha256 !== sha256) {
            throw new Error(`window ${window}, run ${run}: the server's copy of ${ref} differs: ${JSON.stringify(stored)} (HTTP ${response.status})`);
          }
          measured.push({ ms: Math.round(ms), mbPerSecond: Number((bytes / 1e6 / (ms / 1000)).toFixed(1)) });
          await unmount();
        }
        await connection.disconnect();
        results.push({ window, runs: measured, medianMbPerSecond: median(measured.map((run) => run.mbPerSecond)) });
      }
      return results;
    },
    { bytes, runs, windows },
  );
}

async function main() {
  const [megabytes = "50", runs = "3", windows = "1,4"] = process.argv.slice(2);
  const bytes = Math.round(Number(megabytes) * 1e6);
  const { child, url } = await startDevserver();
  const browser = await launchBrowser();
  try {
    await requireServed(url, ["/pkg/index.js", "/js/leak.html"]);
    const page = await browser.newPage();
    page.on("console", (message) => message.type() === "error" && console.error(`[page] ${message.text()}`));
    await page.goto(`${url}/js/leak.html`);
    const results = await measureUploads(page, { bytes, runs: Number(runs), windows: windows.split(",").map(Number) });
    for (const { window, runs, medianMbPerSecond } of results) {
      const each = runs.map((run) => `${run.mbPerSecond} MB/s (${run.ms} ms)`).join(", ");
      console.log(`[upload-throughput] ${megabytes} MB, window ${window}: median ${medianMbPerSecond} MB/s — runs: ${each}`);
    }
  } finally {
    await browser.close();
    child.kill();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
