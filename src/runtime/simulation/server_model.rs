//! The server's data model: the authoritative state ("database") of one root, which survives
//! remounts and server restarts, and the commands that change it, each producing render cycles.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::tree::{escape, find_store, pointer, store_id_of, store_key, stores};
use super::{ASYNC_KEY, MAX_ITEMS, PANEL_IDS, STORE_KEY, STREAM_KEY};

/// (owner store key, stream name) → items, in order.
type StreamLists = BTreeMap<(String, String), Vec<(String, Value)>>;

/// The authoritative state of one root: its tree and its streams.
#[derive(Debug, Clone)]
pub(super) struct RootDb {
    pub(super) tree: Value,
    /// (owner store key, stream name) → items, materialized with the client's §2.10 semantics.
    pub(super) streams: StreamLists,
    pub(super) serial: u64,
}

/// One render cycle: one envelope's worth of ops, and the state after it.
#[derive(Debug, Clone)]
pub(super) struct Cycle {
    pub(super) ops: Vec<Value>,
    pub(super) stream_ops: Vec<Value>,
    pub(super) tree: Value,
    pub(super) snapshot: Value,
}

/// A stream `insert` op (§2.10).
fn stream_insert(store: &[String], stream: &str, key: &str, at: i64, item: Value, limit: Option<i64>) -> Value {
    json!({"op": "insert", "stream": stream, "ref": "0", "store_id": store, "item_key": key, "at": at, "item": item, "limit": limit})
}

/// A stream `delete` op (§2.10).
fn stream_delete(store: &[String], stream: &str, key: &str) -> Value {
    json!({"op": "delete", "stream": stream, "ref": "0", "store_id": store, "item_key": key})
}

/// An async value node (`__musubi_async__`).
fn async_value(status: &str, result: Value, reason: Value) -> Value {
    json!({ASYNC_KEY: true, "status": status, "result": result, "reason": reason})
}

/// A panel store: a counter, a stream and a nested store.
fn panel_node(id: &str) -> Value {
    json!({STORE_KEY: [id], "hits": 0, "feed": {STREAM_KEY: "feed"}, "meta": {STORE_KEY: [id, "meta"], "note": ""}})
}

impl RootDb {
    /// A fresh root: the initial tree and one log item.
    pub(super) fn new(id: &str) -> Self {
        let tree = json!({
            STORE_KEY: [], "title": id, "count": 0, "items": [], "panels": {},
            "log": {STREAM_KEY: "log"}, "load": async_value("loading", Value::Null, Value::Null),
        });
        let mut db = RootDb { tree, streams: BTreeMap::new(), serial: 0 };
        db.apply_stream(&stream_insert(&[], "log", "seed", -1, json!({"id": "seed", "text": id}), None));
        db
    }

    /// §2.10 client semantics, written independently of the runtime's implementation.
    fn apply_stream(&mut self, op: &Value) {
        let owner: Vec<String> = serde_json::from_value(op["store_id"].clone()).unwrap_or_default();
        let name = op["stream"].as_str().unwrap_or_default().to_owned();
        let list = self.streams.entry((store_key(&owner), name)).or_default();
        let key = op["item_key"].as_str().unwrap_or_default().to_owned();
        match op["op"].as_str() {
            Some("reset") => list.clear(),
            Some("delete") => list.retain(|(k, _)| *k != key),
            Some("insert") => {
                list.retain(|(k, _)| *k != key);
                let len = list.len();
                let at = op["at"].as_i64().unwrap_or(-1);
                let position = match at {
                    -1 => len,
                    at if at <= 0 => 0,
                    at => usize::try_from(at).unwrap_or(len).min(len),
                };
                list.insert(position, (key, op["item"].clone()));
                if let Some(limit) = op["limit"].as_i64() {
                    let size = usize::try_from(limit.unsigned_abs()).unwrap_or(usize::MAX);
                    if list.len() > size {
                        if at == 0 {
                            list.truncate(size);
                        } else {
                            let excess = list.len() - size;
                            list.drain(..excess);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Streams of stores that left the tree are gone (the client prunes them too).
    fn prune_streams(&mut self) {
        let keys: BTreeSet<String> = stores(&self.tree).iter().map(|(id, _)| store_key(id)).collect();
        self.streams.retain(|(owner, _), _| keys.contains(owner));
    }

    /// The stream ops of an initial envelope: every current item, in order.
    pub(super) fn initial_stream_ops(&self) -> Vec<Value> {
        let mut ops = Vec::new();
        for ((owner, name), items) in &self.streams {
            let id: Vec<String> = serde_json::from_str(owner).unwrap_or_default();
            for (key, item) in items {
                ops.push(stream_insert(&id, name, key, -1, item.clone(), None));
            }
        }
        ops
    }

    /// The snapshot the client must show for store `id` (§2.12), from the tree and the streams.
    pub(super) fn snapshot(&self, id: &[String]) -> Value {
        match find_store(&self.tree, id).and_then(|path| self.tree.pointer(&pointer(&path))) {
            Some(node) => self.store_snapshot(node, id),
            None => json!({STORE_KEY: id}),
        }
    }

    fn store_snapshot(&self, node: &Value, id: &[String]) -> Value {
        let key = store_key(id);
        let mut out = Map::new();
        for (field, value) in node.as_object().into_iter().flatten() {
            if field != STORE_KEY {
                out.insert(field.clone(), self.resolve(value, &key));
            }
        }
        out.insert(STORE_KEY.to_owned(), json!(id));
        Value::Object(out)
    }

    fn resolve(&self, value: &Value, owner: &str) -> Value {
        if let Some(id) = store_id_of(value) {
            return self.store_snapshot(value, &id);
        }
        match value {
            Value::Object(map) if map.len() == 1 && map.get(STREAM_KEY).is_some_and(Value::is_string) => {
                let name = map.get(STREAM_KEY).and_then(Value::as_str).unwrap_or_default();
                let items = self.streams.get(&(owner.to_owned(), name.to_owned()));
                Value::Array(items.into_iter().flatten().map(|(_, item)| item.clone()).collect())
            }
            Value::Object(map) if map.get(ASYNC_KEY) == Some(&Value::Bool(true)) => {
                let status = map.get("status").cloned().unwrap_or_default();
                let data = match map.get("result") {
                    None | Some(Value::Null) => Value::Null,
                    Some(result) => self.resolve(result, owner),
                };
                let error = if status == "failed" { map.get("reason").cloned().unwrap_or_default() } else { Value::Null };
                json!({"status": status, "data": data, "error": error})
            }
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), self.resolve(v, owner))).collect()),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.resolve(v, owner)).collect()),
            scalar => scalar.clone(),
        }
    }

    fn set(&mut self, path: &[String], value: Value) {
        if let Some(slot) = self.tree.pointer_mut(&pointer(path)) {
            *slot = value;
        }
    }

    fn get(&self, path: &[String]) -> Value {
        self.tree.pointer(&pointer(path)).cloned().unwrap_or_default()
    }

    fn cycle(&mut self, ops: Vec<Value>, stream_ops: Vec<Value>) -> Cycle {
        for op in &stream_ops {
            self.apply_stream(op);
        }
        self.prune_streams();
        Cycle { ops, stream_ops, tree: self.tree.clone(), snapshot: self.snapshot(&[]) }
    }

    /// Runs a command (or a server-side change) on store `store`: `Ok((reply, cycles))`, or the
    /// error response.
    pub(super) fn execute(&mut self, store: &[String], name: &str, payload: &Value) -> Result<(Value, Vec<Cycle>), Value> {
        let Some(path) = find_store(&self.tree, store) else { return Err(json!({"reason": "unknown store"})) };
        let field = |name: &str| -> Vec<String> { path.iter().cloned().chain([name.to_owned()]).collect() };
        let text = payload["text"].as_str().unwrap_or("x").to_owned();
        let mut cycles = Vec::new();
        let reply = match (store.len(), name) {
            (0, "incr" | "twice") => {
                let times = if name == "twice" { 2 } else { 1 };
                let by = payload["by"].as_i64().unwrap_or(1);
                for _ in 0..times {
                    let count = self.tree["count"].as_i64().unwrap_or(0) + by;
                    self.tree["count"] = json!(count);
                    cycles.push(self.cycle(vec![json!({"op": "replace", "path": "/count", "value": count})], vec![]));
                }
                json!({"count": self.tree["count"]})
            }
            (0, "title") => {
                self.tree["title"] = json!(text);
                cycles.push(self.cycle(vec![json!({"op": "replace", "path": "/title", "value": text})], vec![]));
                json!({})
            }
            (0, "add_item") if self.tree["items"].as_array().is_some_and(|items| items.len() >= MAX_ITEMS) => json!({"ok": false}),
            (0, "add_item") => {
                self.serial += 1;
                let id = format!("item-{}", self.serial);
                let node = json!({STORE_KEY: [id], "label": text, "done": false});
                let items = self.tree["items"].as_array_mut().ok_or_else(|| json!({"reason": "corrupt"}))?;
                let len = items.len();
                let at = payload["at"].as_u64().and_then(|at| usize::try_from(at).ok()).filter(|at| *at <= len);
                let op_path = match at {
                    Some(at) => {
                        items.insert(at, node.clone());
                        format!("/items/{at}")
                    }
                    None => {
                        items.push(node.clone());
                        "/items/-".to_owned()
                    }
                };
                cycles.push(self.cycle(vec![json!({"op": "add", "path": op_path, "value": node})], vec![]));
                json!({"id": id})
            }
            (0, "remove_item") => {
                let items = self.tree["items"].as_array_mut().ok_or_else(|| json!({"reason": "corrupt"}))?;
                let wanted = payload["id"].as_str().unwrap_or_default();
                match items.iter().position(|item| store_id_of(item).is_some_and(|id| id.first().is_some_and(|s| s == wanted))) {
                    Some(index) => {
                        items.remove(index);
                        cycles.push(self.cycle(vec![json!({"op": "remove", "path": format!("/items/{index}")})], vec![]));
                        json!({"ok": true})
                    }
                    None => json!({"ok": false}),
                }
            }
            (0, "add_panel" | "remove_panel") => {
                let id = payload["id"].as_str().unwrap_or("p1").to_owned();
                let op_path = format!("/panels/{}", escape(&id));
                let panels = self.tree["panels"].as_object_mut().ok_or_else(|| json!({"reason": "corrupt"}))?;
                match (name, panels.contains_key(&id)) {
                    ("add_panel", false) => {
                        panels.insert(id.clone(), panel_node(&id));
                        let hello = stream_insert(std::slice::from_ref(&id), "feed", "hello", -1, json!({"text": "hello"}), Some(3));
                        cycles.push(self.cycle(vec![json!({"op": "add", "path": op_path, "value": panel_node(&id)})], vec![hello]));
                        json!({"ok": true})
                    }
                    ("remove_panel", true) => {
                        panels.remove(&id);
                        cycles.push(self.cycle(vec![json!({"op": "remove", "path": op_path})], vec![]));
                        json!({"ok": true})
                    }
                    _ => json!({"ok": false}),
                }
            }
            (0, "clear_panels") => {
                self.tree["panels"] = json!({});
                cycles.push(self.cycle(vec![json!({"op": "replace", "path": "/panels", "value": {}})], vec![]));
                json!({})
            }
            (0, "log") => {
                let key = payload["key"].as_str().unwrap_or("k").to_owned();
                let at = payload["at"].as_i64().unwrap_or(-1);
                let limit = payload["limit"].as_i64();
                let op = stream_insert(&[], "log", &key, at, json!({"id": key, "text": text}), limit);
                cycles.push(self.cycle(vec![], vec![op]));
                json!({})
            }
            (0, "unlog") => {
                let key = payload["key"].as_str().unwrap_or("k").to_owned();
                cycles.push(self.cycle(vec![], vec![stream_delete(&[], "log", &key)]));
                json!({})
            }
            (0, "reseed") => {
                // Server grouping (§2.10): reset, then inserts, then deletes.
                let ops = vec![
                    json!({"op": "reset", "stream": "log", "ref": "0", "store_id": []}),
                    stream_insert(&[], "log", "r1", -1, json!({"id": "r1", "text": text}), None),
                    stream_insert(&[], "log", "r2", 0, json!({"id": "r2", "text": text}), None),
                    stream_delete(&[], "log", "r1"),
                ];
                cycles.push(self.cycle(vec![], ops));
                json!({})
            }
            (0, "load") => {
                let value = if payload["fail"].as_bool() == Some(true) {
                    let previous = self.tree["load"]["result"].clone();
                    async_value("failed", previous, json!({"kind": "error", "value": text}))
                } else {
                    async_value("ok", json!({"text": text}), Value::Null)
                };
                self.tree["load"] = value.clone();
                cycles.push(self.cycle(vec![json!({"op": "replace", "path": "/load", "value": value})], vec![]));
                json!({})
            }
            (0, "multi") if self.tree["items"].as_array().is_some_and(|items| items.len() >= MAX_ITEMS) => json!({"ok": false}),
            (0, "multi") => {
                // Several ops and a stream op in one envelope.
                self.serial += 1;
                let id = format!("item-{}", self.serial);
                let node = json!({STORE_KEY: [id], "label": text, "done": true});
                let count = self.tree["count"].as_i64().unwrap_or(0) + 10;
                self.tree["count"] = json!(count);
                self.tree["title"] = json!(text);
                if let Some(items) = self.tree["items"].as_array_mut() {
                    items.insert(0, node.clone());
                }
                let ops = vec![
                    json!({"op": "replace", "path": "/title", "value": text}),
                    json!({"op": "replace", "path": "/count", "value": count}),
                    json!({"op": "add", "path": "/items/0", "value": node}),
                ];
                let stream = stream_insert(&[], "log", &id, 1, json!({"id": id, "text": text}), Some(4));
                cycles.push(self.cycle(ops, vec![stream]));
                json!({"id": id})
            }
            (0, "noop") => json!({}),
            (0, "halt") => json!({"ok": false, "reason": "unauthorized"}),
            (1, "toggle" | "rename") if store.first().is_some_and(|s| s.starts_with("item-")) => {
                let (key, value) = if name == "toggle" {
                    ("done", json!(!self.get(&field("done")).as_bool().unwrap_or(false)))
                } else {
                    ("label", json!(text))
                };
                self.set(&field(key), value.clone());
                cycles.push(self.cycle(vec![json!({"op": "replace", "path": pointer(&field(key)), "value": value})], vec![]));
                json!({})
            }
            (1, "hit") if store.first().is_some_and(|s| PANEL_IDS.contains(&s.as_str())) => {
                let hits = self.get(&field("hits")).as_i64().unwrap_or(0) + 1;
                self.set(&field("hits"), json!(hits));
                let at = payload["at"].as_i64().unwrap_or(-1);
                let key = format!("h{}", hits % 5);
                let stream = stream_insert(store, "feed", &key, at, json!({"hit": hits}), Some(3));
                cycles.push(self.cycle(vec![json!({"op": "replace", "path": pointer(&field("hits")), "value": hits})], vec![stream]));
                json!({"hits": hits})
            }
            (2, "note") if store.get(1).is_some_and(|s| s == "meta") => {
                self.set(&field("note"), json!(text));
                cycles.push(self.cycle(vec![json!({"op": "replace", "path": pointer(&field("note")), "value": text})], vec![]));
                json!({})
            }
            _ => return Err(json!({"reason": "unknown command"})),
        };
        Ok((reply, cycles))
    }
}
