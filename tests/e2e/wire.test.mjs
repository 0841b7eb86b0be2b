// The same user code against today's Musubi: the demo pages, unchanged, against a devserver that
// speaks only the per-root wire (Musubi 0.12+: one channel per root, no connection channel).
import { devserverAndBrowser, e2e } from "./support.mjs";
import { unchangedPagesWork } from "./wire-pages.mjs";

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/", "/react/app.js"], serverArgs: ["--wire", "per-root"] });

e2e("the unchanged demo pages work against a per-root-only server", (t) => unchangedPagesWork(t, env, "per-root"));
