//! `Demo.CounterStore`: a count, a label and a newest-first log stream.
//!
//! Params: `start` (integer, default 0), `label` (string, default "Counter"); they seed a new
//! page only (every root with the same id shares one page).
//!
//! Tree: `{"__musubi_store_id__": [], "count", "label", "log": {"__musubi_stream__": "log"}}`.
//!
//! | command | effect |
//! |---|---|
//! | `increment {by}` (default 1) | `count += by`; log item `{"id": "<n>", "text": "+by"}` inserted at 0, limit 50 |
//! | `set_label {label}` | sets the label |
//! | `set_meta {key, value}` | sets `meta[key] = value` (any key, e.g. `__proto__`; `meta` appears once set) |
//! | `fail` | reply `error {"reason": "demo failure"}` |
//! | `slow {ms}` (default 1000) | reply `ok {}` after `ms`, other messages are not held up |

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{CommandOutcome, RootKind, RootStore, empty, int_arg, shared_by_id, string_arg, uint_arg};
use crate::channels::musubi::render::store_node;
use crate::channels::musubi::stream::Stream;

/// The declared root.
pub const KIND: RootKind = RootKind { module: "Demo.CounterStore", params_key: shared_by_id, create };

/// The log keeps this many items (sent as the inserts' `limit`).
pub const LOG_LIMIT: u64 = 50;

/// The longest `slow` delay accepted.
const MAX_SLOW_MS: u64 = 60_000;

const COMMANDS: &[&str] = &["increment", "set_label", "set_meta", "fail", "slow"];

/// The counter's state.
#[derive(Debug)]
struct CounterStore {
    count: i64,
    label: String,
    log: Stream,
    logged: u64,
    meta: Map<String, Value>,
}

fn create(params: &Map<String, Value>) -> Result<Box<dyn RootStore>, String> {
    let label = match params.get("label") {
        None => "Counter".to_owned(),
        Some(_) => string_arg(params, "label")?,
    };
    Ok(Box::new(CounterStore {
        count: int_arg(params, "start", 0)?,
        label,
        log: Stream::new("log", 0, Vec::new()),
        logged: 0,
        meta: Map::new(),
    }))
}

impl RootStore for CounterStore {
    fn render(&self) -> Value {
        let mut fields = Map::new();
        fields.insert("count".into(), json!(self.count));
        fields.insert("label".into(), json!(self.label));
        fields.insert("log".into(), self.log.marker());
        if !self.meta.is_empty() {
            fields.insert("meta".into(), Value::Object(self.meta.clone()));
        }
        store_node(&[], fields)
    }

    fn commands(&self, store_id: &[String]) -> Option<&'static [&'static str]> {
        store_id.is_empty().then_some(COMMANDS)
    }

    fn command(&mut self, _store_id: &[String], name: &str, payload: &Map<String, Value>) -> Result<CommandOutcome, String> {
        match name {
            "increment" => {
                let by = int_arg(payload, "by", 1)?;
                self.count = self.count.saturating_add(by);
                self.logged += 1;
                let n = self.logged;
                let text = if by >= 0 { format!("+{by}") } else { by.to_string() };
                self.log.insert(format!("log-{n}"), json!({"id": n.to_string(), "text": text}), 0, Some(LOG_LIMIT));
                Ok(CommandOutcome::NoReply)
            }
            "set_label" => {
                self.label = string_arg(payload, "label")?;
                Ok(CommandOutcome::NoReply)
            }
            "set_meta" => {
                let key = string_arg(payload, "key")?;
                self.meta.insert(key, payload.get("value").cloned().unwrap_or(Value::Null));
                Ok(CommandOutcome::NoReply)
            }
            "fail" => Ok(CommandOutcome::Error(json!({"reason": "demo failure"}))),
            "slow" => {
                let ms = uint_arg(payload, "ms", 1000, MAX_SLOW_MS)?;
                Ok(CommandOutcome::ReplyAfter(Duration::from_millis(ms), empty()))
            }
            other => Err(format!("Demo.CounterStore has no command {other}")),
        }
    }

    fn take_stream_ops(&mut self) -> Vec<Value> {
        self.log.take_ops()
    }

    fn stream_seed(&self) -> Vec<Value> {
        self.log.seed_ops()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn counter(params: Value) -> Box<dyn RootStore> {
        create(params.as_object().unwrap()).unwrap()
    }

    #[test]
    fn renders_params_and_defaults() {
        assert_eq!(
            counter(json!({"start": 5})).render(),
            json!({"__musubi_store_id__": [], "count": 5, "label": "Counter", "log": {"__musubi_stream__": "log"}})
        );
        assert_eq!(counter(json!({"label": "L"})).render()["label"], "L");
        assert!(create(json!({"start": "5"}).as_object().unwrap()).is_err());
    }

    #[test]
    fn set_meta_accepts_any_key() {
        let mut store = counter(json!({}));
        let args = json!({"key": "__proto__", "value": {"polluted": true}});
        store.command(&[], "set_meta", args.as_object().unwrap()).unwrap();
        assert_eq!(store.render()["meta"], json!({"__proto__": {"polluted": true}}));
        assert!(store.command(&[], "set_meta", &Map::new()).is_err());
    }

    #[test]
    fn increment_logs_newest_first_and_keeps_fifty() {
        let mut store = counter(json!({}));
        let args = json!({"by": -2});
        store.command(&[], "increment", args.as_object().unwrap()).unwrap();
        let ops = store.take_stream_ops();
        assert_eq!(
            ops,
            vec![json!({"op": "insert", "stream": "log", "ref": "0", "store_id": [], "item_key": "log-1", "at": 0,
                        "item": {"id": "1", "text": "-2"}, "limit": 50})]
        );
        for _ in 0..60 {
            store.command(&[], "increment", &Map::new()).unwrap();
        }
        store.take_stream_ops();
        let seed = store.stream_seed();
        assert_eq!(seed.len(), 50);
        assert_eq!(seed[0]["item_key"], "log-61");
        assert_eq!(store.render()["count"], 58);
    }

    #[test]
    fn bad_arguments_raise() {
        let mut store = counter(json!({}));
        assert!(store.command(&[], "increment", json!({"by": "x"}).as_object().unwrap()).is_err());
        assert!(store.command(&[], "set_label", &Map::new()).is_err());
        assert_eq!(store.command(&[], "fail", &Map::new()).unwrap(), CommandOutcome::Error(json!({"reason": "demo failure"})));
    }
}
