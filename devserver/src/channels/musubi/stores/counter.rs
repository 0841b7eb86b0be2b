//! `Demo.CounterStore`: a count, a label and a newest-first log stream.
//!
//! Params: `start` (integer, default 0), `label` (string, default "Counter"); they seed a new
//! page only (every root with the same id shares one page).
//!
//! Tree: `{"__musubi_store_id__": [], "count", "label", "log": {"__musubi_stream__": "log"}}`.
//!
//! | command | effect |
//! |---|---|
//! | `increment {by}` (integer, default 1) | `count += by`; log item `{"id": "<n>", "text": "+by"}` inserted at 0, limit 50 |
//! | `set_label {label}` (string, required) | sets the label; when it changes, pushes the event `toast {"text": "Label set to “…”"}` |
//! | `set_meta {key, value}` (`key` a string, required; `value` any JSON, default null) | sets `meta[key] = value` (any key, e.g. `__proto__`; `meta` appears once set) |
//! | `fail` | reply `error {"reason": "demo failure"}` |
//! | `slow {ms}` (integer 0..=60000, default 1000) | reply `ok {}` after `ms`, other messages are not held up |
//!
//! A payload that breaks these rules gets `error {"reason": "invalid payload: …"}` naming the
//! field (e.g. `invalid payload: by must be an integer`) and changes nothing.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{CommandOutcome, InvalidArgs, RootKind, RootStore, empty, int_arg, shared_by_id, string_arg, uint_arg};
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
    /// Push events for the next cycle.
    events: Vec<Value>,
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
        events: Vec::new(),
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

    fn command(&mut self, _store_id: &[String], name: &str, payload: &Map<String, Value>) -> Result<CommandOutcome, InvalidArgs> {
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
                let label = string_arg(payload, "label")?;
                if label != self.label {
                    // A toast for everyone on the root (a Musubi 0.13 push event).
                    let text = format!("Label set to \u{201c}{label}\u{201d}");
                    self.events.push(json!({"store_id": [], "name": "toast", "payload": {"text": text}}));
                    self.label = label;
                }
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
            // Not declared (the page server checks `commands` first).
            _ => Ok(CommandOutcome::Error(json!({"reason": "unknown command"}))),
        }
    }

    fn take_stream_ops(&mut self) -> Vec<Value> {
        self.log.take_ops()
    }

    fn take_events(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.events)
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
    fn bad_payloads_are_refused_and_change_nothing() {
        let mut store = counter(json!({}));
        let before = store.render();
        let cases = [
            ("increment", json!({"by": "x"}), "by must be an integer"),
            ("increment", json!({"by": 1.5}), "by must be an integer"),
            ("increment", json!({"by": null}), "by must be an integer"),
            ("increment", json!({"by": u64::MAX}), "by must be an integer"),
            ("set_label", json!({}), "label is required"),
            ("set_label", json!({"label": 3}), "label must be a string"),
            ("set_meta", json!({"value": 1}), "key is required"),
            ("set_meta", json!({"key": ["k"]}), "key must be a string"),
            ("slow", json!({"ms": -1}), "ms must be between 0 and 60000"),
            ("slow", json!({"ms": 60_001}), "ms must be between 0 and 60000"),
            ("slow", json!({"ms": "10"}), "ms must be an integer"),
        ];
        for (name, payload, reason) in cases {
            let refused = store.command(&[], name, payload.as_object().unwrap());
            assert_eq!(refused, Err(InvalidArgs(reason.into())), "{name} {payload}");
        }
        assert_eq!(store.render(), before);
        assert!(store.take_stream_ops().is_empty());
        let invalid = InvalidArgs("by must be an integer".into());
        assert_eq!(invalid.response(), json!({"reason": "invalid payload: by must be an integer"}));
        assert_eq!(store.command(&[], "fail", &Map::new()).unwrap(), CommandOutcome::Error(json!({"reason": "demo failure"})));
    }
}
