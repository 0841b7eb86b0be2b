// Snapshot identity through the package on scripted frames (the trace's WebSocket stand-in,
// tests/e2e/bench/trace.js): a large first read is one JSON.parse, and later reads are built in
// step with the previous JS objects. What did not change keeps its JS identity — inside a changed
// element, after an insert or a removal shifts an array, across child stores — and everything is
// frozen, with server keys such as `__proto__` as own properties.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { devserverAndBrowser, e2e, openPage, ROOT } from "./support.mjs";

const env = devserverAndBrowser();

/** A page of the devserver that can import the scripted server at `/_bench/trace.js`. */
async function scriptedPage(t) {
  const page = await openPage(t, env.browser, `${env.baseUrl}/js/leak.html`);
  const body = readFileSync(path.join(ROOT, "tests/e2e/bench/trace.js"), "utf8");
  await page.route(`${env.baseUrl}/_bench/trace.js`, (route) => route.fulfill({ status: 200, headers: { "content-type": "text/javascript" }, body }));
  return page;
}

e2e("snapshots keep the identity of everything unchanged, in step with the previous version", async (t) => {
  const page = await scriptedPage(t);
  const result = await page.evaluate(async () => {
    const { connectScripted } = await import("/_bench/trace.js");
    const { server, connection } = await connectScripted((await import("/pkg/index.js")).connect);
    const list = Array.from({ length: 200 }, (_, n) => ({ id: n, tags: ["t", n], meta: { x: n } }));
    const tree = { __musubi_store_id__: [], list, child: { __musubi_store_id__: ["c"], name: "c", items: [{ a: 1 }] }, odd: JSON.parse('{"__proto__": {"a": 1}, "keep": {"b": 2}}') };
    server.script("identity", tree, [
      [{ op: "replace", path: "/list/5/meta/x", value: -5 }],
      [{ op: "add", path: "/list/0", value: { id: "new" } }],
      [{ op: "remove", path: "/list/0" }],
      [{ op: "replace", path: "/child/name", value: "renamed" }],
      [{ op: "replace", path: "/odd/__proto__/a", value: 2 }],
    ]);
    const { store: root, unmount } = await connection.mountStore({ module: "Identity", id: "identity", params: {} });
    const child = root.child(["c"]);
    const frames = server.roots.get("identity").frames;
    const out = {};
    const deepFrozen = (value) => {
      const pending = [value];
      while (pending.length) {
        const next = pending.pop();
        if (next === null || typeof next !== "object") continue;
        if (!Object.isFrozen(next)) return false;
        pending.push(...Object.values(next));
      }
      return true;
    };
    const first = root.snapshot();
    out.firstFrozen = deepFrozen(first);
    out.childShared = child.snapshot() === first.child;

    server.deliverNow(frames[0]);
    const second = root.snapshot();
    out.changedElementIsNew = second.list[5] !== first.list[5] && second.list[5].meta.x === -5;
    out.untouchedInsideChangedElement = second.list[5].tags === first.list[5].tags;
    out.untouchedElements = second.list[4] === first.list[4] && second.list[199] === first.list[199];
    out.untouchedSiblings = second.child === first.child && second.odd === first.odd;
    out.secondFrozen = deepFrozen(second);

    server.deliverNow(frames[1]);
    const third = root.snapshot();
    out.insertShiftsKeepIdentity = third.list[0].id === "new" && third.list[1] === second.list[0] && third.list[6] === second.list[5] && third.list[200] === second.list[199];

    server.deliverNow(frames[2]);
    const fourth = root.snapshot();
    out.removeShiftsKeepIdentity = fourth.list.length === 200 && fourth.list[0] === second.list[0] && fourth.list[199] === second.list[199];

    server.deliverNow(frames[3]);
    const fifth = root.snapshot();
    out.childStoreRenewed = fifth.child !== fourth.child && fifth.child === child.snapshot() && fifth.child.name === "renamed";
    out.childUntouchedInside = fifth.child.items === fourth.child.items && fifth.list === fourth.list;

    server.deliverNow(frames[4]);
    const sixth = root.snapshot();
    out.protoKeyIsOwn =
      Object.getPrototypeOf(sixth.odd) === Object.prototype &&
      Object.prototype.hasOwnProperty.call(sixth.odd, "__proto__") &&
      sixth.odd["__proto__"].a === 2 &&
      sixth.odd.keep === fifth.odd.keep &&
      deepFrozen(sixth);
    await unmount();
    await connection.disconnect();
    return out;
  });
  assert.deepEqual(result, {
    firstFrozen: true,
    childShared: true,
    changedElementIsNew: true,
    untouchedInsideChangedElement: true,
    untouchedElements: true,
    untouchedSiblings: true,
    secondFrozen: true,
    insertShiftsKeepIdentity: true,
    removeShiftsKeepIdentity: true,
    childStoreRenewed: true,
    childUntouchedInside: true,
    protoKeyIsOwn: true,
  });
});

// A subscribed handle keeps its last read until the wasm side calls into JS again (api.js
// makeStore): that must never show a listener an old state — whichever store's listener runs
// first, after a resubscribe, or with several listeners on one handle.
e2e("listeners share one subscription per handle and always read the current snapshot", async (t) => {
  const page = await scriptedPage(t);
  const result = await page.evaluate(async () => {
    const musubi = await import("/pkg/index.js");
    const { connectScripted } = await import("/_bench/trace.js");
    const { server, connection } = await connectScripted(musubi.connect);
    const tree = { __musubi_store_id__: [], n: 0, child: { __musubi_store_id__: ["c"], name: "c0" } };
    const rename = (k) => [{ op: "replace", path: "/child/name", value: `c${k}` }];
    const count = (k) => [{ op: "replace", path: "/n", value: k }];
    server.script("shared", tree, [rename(1), rename(2), count(3), rename(4), rename(5), count(6)]);
    const { store: root, unmount } = await connection.mountStore({ module: "Shared", id: "shared", params: {} });
    const child = root.child(["c"]);
    const frames = server.roots.get("shared").frames;
    const base = musubi.debugStats().subscriptions;
    const seen = [];
    // Each reads the other store first: its callback may not have run yet in this change.
    const offRoot = root.subscribe(() => seen.push(`root sees ${child.snapshot().name} ${root.snapshot().child.name}`));
    const offChild = [1, 2, 3].map((k) => child.subscribe(() => seen.push(`child ${k} sees ${root.snapshot().child.name} ${child.snapshot().name}`)));
    const subscriptions = musubi.debugStats().subscriptions - base;
    root.snapshot();
    child.snapshot();
    server.deliverNow(frames[0]);
    // A listener removed by another during a change is not called any more.
    const offEarly = child.subscribe(() => {
      offLate();
      seen.push("early");
    });
    const offLate = child.subscribe(() => seen.push("late"));
    server.deliverNow(frames[1]);
    offEarly();
    offChild.forEach((off) => off());
    offRoot();
    const released = musubi.debugStats().subscriptions - base;
    // Nobody listens: a change calls nothing, and a read is still current (also after resubscribing).
    child.snapshot();
    server.deliverNow(frames[2]);
    server.deliverNow(frames[3]);
    const unsubscribedRead = child.snapshot().name;
    const offAgain = child.subscribe(() => {});
    const afterResubscribe = child.snapshot().name;
    offAgain();
    server.deliverNow(frames[4]);
    const offOnceMore = child.subscribe(() => {});
    const resubscribedRead = child.snapshot().name;
    server.deliverNow(frames[5]);
    const rootRead = root.snapshot().n;
    offOnceMore();
    await unmount();
    await connection.disconnect();
    return { subscriptions, released, seen, unsubscribedRead, afterResubscribe, resubscribedRead, rootRead };
  });
  assert.equal(result.subscriptions, 2, "one wasm subscription per handle, whatever its listeners");
  assert.equal(result.released, 0);
  assert.deepEqual(result.seen.slice().sort(), [
    "child 1 sees c1 c1",
    "child 1 sees c2 c2",
    "child 2 sees c1 c1",
    "child 2 sees c2 c2",
    "child 3 sees c1 c1",
    "child 3 sees c2 c2",
    "early",
    "root sees c1 c1",
    "root sees c2 c2",
  ]);
  assert.equal(result.unsubscribedRead, "c4");
  assert.equal(result.afterResubscribe, "c4");
  assert.equal(result.resubscribedRead, "c5");
  assert.equal(result.rootRead, 6);
});

e2e("a long frame of any text arrives intact through the native copy into wasm", async (t) => {
  const page = await scriptedPage(t);
  const result = await page.evaluate(async () => {
    const { connectScripted } = await import("/_bench/trace.js");
    const { server, connection } = await connectScripted((await import("/pkg/index.js")).connect);
    // Frames far past the native-copy threshold (4,096 UTF-16 units): ASCII only, ASCII then
    // other scripts (the second encoding pass starts mid-frame), and astral characters
    // (surrogate pairs) throughout.
    const trees = {
      ascii: { __musubi_store_id__: [], text: "a".repeat(20000) },
      mixed: { __musubi_store_id__: [], head: "b".repeat(6000), tail: "日本語のテキスト ".repeat(800), "キー": "値" },
      astral: { __musubi_store_id__: [], text: "😀𝄞 ".repeat(3000), list: Array.from({ length: 300 }, (_, n) => `Ünïcödé ${n} 🚀`) },
    };
    // Key order aside (snapshots list keys sorted), the snapshot is the tree.
    const canonical = (value) =>
      Array.isArray(value) ? value.map(canonical) : value !== null && typeof value === "object" ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])])) : value;
    const out = {};
    for (const [id, tree] of Object.entries(trees)) {
      server.script(id, tree, []);
      const { store, unmount } = await connection.mountStore({ module: "Text", id, params: {} });
      const snapshot = JSON.stringify(canonical(store.snapshot()));
      out[id] = snapshot === JSON.stringify(canonical(tree)) || snapshot.slice(0, 200);
      await unmount();
    }
    await connection.disconnect();
    return out;
  });
  assert.deepEqual(result, { ascii: true, mixed: true, astral: true });
});
