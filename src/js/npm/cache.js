// Last good state across page loads (`connect(url, { cache })`): each root's state, as the text
// the wasm side exports (an initial envelope), kept in IndexedDB under its module, id and
// canonical params. Reads check the age and the buster; writes evict the oldest entries beyond
// MAX_ENTRIES. IndexedDB being unavailable (private modes, disabled storage) or failing is never
// an error of the app: reads find nothing and writes are skipped (the logger hears why).

const DB_NAME = "musubi-wasm-cache";
const STORE = "roots";
const DB_VERSION = 1;
/** Roots kept at most; the oldest saves go first. */
export const MAX_ENTRIES = 32;
/** At most one write-back per root per this many ms (plus one on `pagehide`). */
export const WRITE_INTERVAL_MS = 1_000;
const DEFAULT_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1_000;

/** Reads the `cache` option: `true`, `{maxAgeMs, buster}`, or off. Throws a TypeError for bad values. */
export function cacheOptions(value) {
  if (value === undefined || value === null || value === false) return undefined;
  if (value === true) return { maxAgeMs: DEFAULT_MAX_AGE_MS, buster: "" };
  if (typeof value !== "object") throw new TypeError("musubi-wasm connect(): cache must be a boolean or an object");
  const { maxAgeMs = DEFAULT_MAX_AGE_MS, buster = "" } = value;
  if (typeof maxAgeMs !== "number" || !(maxAgeMs >= 0)) throw new TypeError("musubi-wasm connect(): cache.maxAgeMs must be a non-negative number");
  if (typeof buster !== "string") throw new TypeError("musubi-wasm connect(): cache.buster must be a string");
  return { maxAgeMs, buster };
}

/** JSON with object keys sorted at every level, so equal params give one key. */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** The cache key of a root. */
export function cacheKey(module, id, params) {
  return JSON.stringify([module, id, canonicalJson(params ?? {})]);
}

const request = (req) =>
  new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });

/**
 * The cache of one connection: `read(key) → text | undefined`, `write(key, text)`, both never
 * rejecting. `log(message)` hears failures.
 */
export function openRootCache({ maxAgeMs, buster }, log) {
  let opening;
  const database = () => {
    opening ??= new Promise((resolve, reject) => {
      if (typeof indexedDB === "undefined") return reject(new Error("IndexedDB is not available"));
      const open = indexedDB.open(DB_NAME, DB_VERSION);
      open.onupgradeneeded = () => {
        const store = open.result.createObjectStore(STORE, { keyPath: "key" });
        store.createIndex("savedAt", "savedAt");
      };
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
      open.onblocked = () => reject(new Error("the cache database is blocked by another tab"));
    });
    return opening;
  };

  async function read(key) {
    try {
      const db = await database();
      const entry = await request(db.transaction(STORE, "readonly").objectStore(STORE).get(key));
      if (!entry || typeof entry.text !== "string") return undefined;
      if (entry.buster !== buster || !(Date.now() - entry.savedAt <= maxAgeMs)) {
        await request(db.transaction(STORE, "readwrite").objectStore(STORE).delete(key));
        return undefined;
      }
      return entry.text;
    } catch (error) {
      log(`cache read failed: ${error?.message ?? error}`);
      return undefined;
    }
  }

  async function write(key, text) {
    try {
      const db = await database();
      const transaction = db.transaction(STORE, "readwrite");
      const store = transaction.objectStore(STORE);
      store.put({ key, text, savedAt: Date.now(), buster });
      const count = await request(store.count());
      if (count > MAX_ENTRIES) {
        // Oldest saves first.
        let excess = count - MAX_ENTRIES;
        const cursor = store.index("savedAt").openCursor();
        cursor.onsuccess = () => {
          const at = cursor.result;
          if (!at || excess <= 0) return;
          at.delete();
          excess -= 1;
          at.continue();
        };
      }
      await new Promise((resolve, reject) => {
        transaction.oncomplete = resolve;
        transaction.onerror = () => reject(transaction.error);
        transaction.onabort = () => reject(transaction.error ?? new Error("the cache write was aborted"));
      });
    } catch (error) {
      log(`cache write failed: ${error?.message ?? error}`);
    }
  }

  return { read, write };
}

/**
 * Writes a mounted root back: `changed()` after each change (at most one write per
 * WRITE_INTERVAL_MS), `flush()` now (on `pagehide`, on unmount). `exportRoot()` gives the text.
 */
export function writeBack(cache, key, exportRoot) {
  let timer;
  let last = 0;
  const save = () => {
    timer = undefined;
    last = Date.now();
    const text = exportRoot();
    if (typeof text === "string") void cache.write(key, text);
  };
  return {
    changed() {
      if (timer !== undefined) return;
      timer = setTimeout(save, Math.max(0, last + WRITE_INTERVAL_MS - Date.now()));
    },
    flush() {
      if (timer !== undefined) clearTimeout(timer);
      save();
    },
    cancel() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
