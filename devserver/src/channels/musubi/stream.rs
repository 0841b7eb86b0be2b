//! A server-side stream (PROTOCOL.md §2.10): the ops queued during one render cycle, emitted as
//! reset → inserts → deletes, plus a mirror of what a client has materialized, so that a fresh
//! subscriber can be seeded with the current items.

use serde_json::{Value, json};

use super::render::stream_marker;

/// One stream of one store.
#[derive(Debug, Clone)]
pub struct Stream {
    name: &'static str,
    /// The stream's per-store ordinal as a decimal string.
    ordinal: String,
    store_id: Vec<String>,
    /// What a client holds after every emitted op: `(item_key, item)` in order.
    items: Vec<(String, Value)>,
    pending_reset: bool,
    pending_inserts: Vec<Insert>,
    pending_deletes: Vec<String>,
}

/// A queued insert.
#[derive(Debug, Clone)]
struct Insert {
    key: String,
    item: Value,
    at: i64,
    limit: Option<u64>,
}

impl Stream {
    /// An empty stream `name` of the store `store_id`, the `ordinal`-th stream of that store.
    pub fn new(name: &'static str, ordinal: usize, store_id: Vec<String>) -> Self {
        Stream {
            name,
            ordinal: ordinal.to_string(),
            store_id,
            items: Vec::new(),
            pending_reset: false,
            pending_inserts: Vec::new(),
            pending_deletes: Vec::new(),
        }
    }

    /// The marker placed in the owning store's node.
    pub fn marker(&self) -> Value {
        stream_marker(self.name)
    }

    /// Queues an insert (`at`: -1 appends, 0 prepends, n > 0 splices); `limit` is sent as given.
    pub fn insert(&mut self, key: String, item: Value, at: i64, limit: Option<u64>) {
        self.pending_inserts.push(Insert { key, item, at, limit });
    }

    /// Queues a delete by item key.
    pub fn delete(&mut self, key: String) {
        self.pending_deletes.push(key);
    }

    /// Queues a reset (emitted before this cycle's inserts and deletes).
    pub fn reset(&mut self) {
        self.pending_reset = true;
    }

    /// The current items, in order.
    pub fn items(&self) -> impl Iterator<Item = &Value> {
        self.items.iter().map(|(_, item)| item)
    }

    /// This cycle's ops in wire order (reset, inserts, deletes); the mirror is updated as a
    /// client would update it.
    pub fn take_ops(&mut self) -> Vec<Value> {
        let mut ops = Vec::new();
        if std::mem::take(&mut self.pending_reset) {
            self.items.clear();
            ops.push(json!({"op": "reset", "stream": self.name, "ref": self.ordinal, "store_id": self.store_id}));
        }
        for Insert { key, item, at, limit } in std::mem::take(&mut self.pending_inserts) {
            ops.push(self.insert_op(&key, &item, at, limit));
            self.materialize_insert(key, item, at, limit);
        }
        for key in std::mem::take(&mut self.pending_deletes) {
            ops.push(json!({"op": "delete", "stream": self.name, "ref": self.ordinal, "store_id": self.store_id, "item_key": key}));
            self.items.retain(|(existing, _)| *existing != key);
        }
        ops
    }

    /// Inserts that rebuild the current items on a client that has none (appends, no limit).
    pub fn seed_ops(&self) -> Vec<Value> {
        self.items.iter().map(|(key, item)| self.insert_op(key, item, -1, None)).collect()
    }

    fn insert_op(&self, key: &str, item: &Value, at: i64, limit: Option<u64>) -> Value {
        json!({
            "op": "insert",
            "stream": self.name,
            "ref": self.ordinal,
            "store_id": self.store_id,
            "item_key": key,
            "at": at,
            "item": item,
            "limit": limit,
        })
    }

    /// The client's insert (PROTOCOL.md §2.10): upsert-move, position, limit trimming.
    fn materialize_insert(&mut self, key: String, item: Value, at: i64, limit: Option<u64>) {
        self.items.retain(|(existing, _)| *existing != key);
        let len = self.items.len();
        let position = match at {
            -1 => len,
            at if at <= 0 => 0,
            at => usize::try_from(at).map_or(len, |at| at.min(len)),
        };
        self.items.insert(position, (key, item));
        let Some(limit) = limit.map(|limit| usize::try_from(limit).unwrap_or(usize::MAX)) else { return };
        if self.items.len() <= limit {
            return;
        }
        if at == 0 {
            self.items.truncate(limit);
        } else {
            let excess = self.items.len() - limit;
            self.items.drain(..excess);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn keys(stream: &Stream) -> Vec<&str> {
        stream.items.iter().map(|(key, _)| key.as_str()).collect()
    }

    #[test]
    fn inserts_follow_the_client_positions() {
        let mut stream = Stream::new("s", 0, vec![]);
        stream.insert("a".into(), json!(1), -1, None);
        stream.insert("b".into(), json!(2), 0, None);
        stream.insert("c".into(), json!(3), 1, None);
        stream.take_ops();
        assert_eq!(keys(&stream), ["b", "c", "a"]);
        stream.insert("b".into(), json!(4), -1, None);
        stream.take_ops();
        assert_eq!(keys(&stream), ["c", "a", "b"]);
    }

    #[test]
    fn limits_trim_the_end_opposite_to_the_insert() {
        let mut stream = Stream::new("s", 0, vec![]);
        stream.insert("a".into(), json!(1), -1, None);
        stream.insert("b".into(), json!(2), -1, None);
        stream.insert("c".into(), json!(3), -1, Some(2));
        stream.take_ops();
        assert_eq!(keys(&stream), ["b", "c"]);
        stream.insert("d".into(), json!(4), 0, Some(2));
        stream.take_ops();
        assert_eq!(keys(&stream), ["d", "b"]);
    }

    #[test]
    fn ops_are_grouped_reset_inserts_deletes() {
        let mut stream = Stream::new("log", 1, vec!["x".into()]);
        stream.insert("a".into(), json!(1), -1, None);
        stream.take_ops();
        stream.delete("b".into());
        stream.insert("b".into(), json!(2), -1, Some(5));
        stream.reset();
        let ops = stream.take_ops();
        let kinds: Vec<&str> = ops.iter().map(|op| op["op"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["reset", "insert", "delete"]);
        assert_eq!(
            ops[1],
            json!({"op": "insert", "stream": "log", "ref": "1", "store_id": ["x"], "item_key": "b", "at": -1, "item": 2, "limit": 5})
        );
        assert!(stream.items.is_empty());
        assert!(stream.take_ops().is_empty());
    }

    #[test]
    fn seed_ops_rebuild_the_items() {
        let mut stream = Stream::new("s", 0, vec![]);
        stream.insert("a".into(), json!(1), 0, Some(50));
        stream.insert("b".into(), json!(2), 0, Some(50));
        stream.take_ops();
        let seeds = stream.seed_ops();
        assert_eq!(seeds.len(), 2);
        assert_eq!((seeds[0]["item_key"].clone(), seeds[0]["at"].clone(), seeds[0]["limit"].clone()), (json!("b"), json!(-1), Value::Null));
        assert_eq!(stream.items().cloned().collect::<Vec<_>>(), [json!(2), json!(1)]);
    }
}
