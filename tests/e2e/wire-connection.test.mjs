// The same user code against Musubi 0.6.1: the demo pages, unchanged, against a devserver that
// speaks only the connection channel.
import { devserverAndBrowser, e2e } from "./support.mjs";
import { unchangedPagesWork } from "./wire-pages.mjs";

const env = devserverAndBrowser({ paths: ["/pkg/index.js", "/js/", "/react/app.js"], serverArgs: ["--wire", "connection"] });

e2e("the unchanged demo pages work against a connection-channel-only server", (t) => unchangedPagesWork(t, env, "connection"));
