//! Progress emission control (PROTOCOL.md §3.4), applied when a render cycle drains a page's
//! queued upload ops into its envelope:
//!
//! 1. The queue is split per declaring store; stores go root first, then by depth (shorter
//!    `store_id` first; equal depths keep the order they were first queued in).
//! 2. **Coalescing** within a store: a run of consecutive `progress` ops (no other op between
//!    them) becomes one op per (upload, ref), carrying the run's latest value, at the position of
//!    that key's first op in the run. Other ops keep their positions.
//! 3. **Throttle**: at most one `progress` op per (store_id, upload, ref) per [`THROTTLE`]. The
//!    first one is always emitted; later ones inside the window (measured from the last emitted
//!    one) are dropped, not deferred. Other ops are never throttled.
//!
//! Time is passed in, so both are tested without sleeping.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ops::{OpKind, UploadOp};

/// The throttle window: at most one `progress` op per entry per 100 ms (10 Hz).
pub const THROTTLE: Duration = Duration::from_millis(100);

/// Identifies one entry's progress: (store_id, upload, ref).
type ProgressKey = (Vec<String>, String, String);

/// When each entry's last `progress` op was emitted.
#[derive(Debug, Default)]
pub struct Throttle {
    last: HashMap<ProgressKey, Instant>,
}

impl Throttle {
    /// Keeps every op except `progress` ops inside their entry's window at `now`.
    pub fn filter(&mut self, ops: Vec<UploadOp>, now: Instant) -> Vec<UploadOp> {
        ops.into_iter().filter(|op| self.admit(op, now)).collect()
    }

    fn admit(&mut self, op: &UploadOp, now: Instant) -> bool {
        let (OpKind::Progress(_), Some(entry_ref)) = (&op.kind, &op.entry_ref) else { return true };
        let key = (op.store_id.clone(), op.upload.clone(), entry_ref.clone());
        if self.last.get(&key).is_some_and(|last| now.saturating_duration_since(*last) < THROTTLE) {
            return false;
        }
        self.last.insert(key, now);
        true
    }

    /// Forgets an entry (it was removed; its ref is never reused).
    pub fn forget(&mut self, store_id: &[String], upload: &str, entry_ref: &str) {
        self.last.remove(&(store_id.to_vec(), upload.to_owned(), entry_ref.to_owned()));
    }
}

/// Coalesces runs of `progress` ops in one store's queue (see the module docs).
pub fn coalesce(ops: Vec<UploadOp>) -> Vec<UploadOp> {
    let mut out: Vec<UploadOp> = Vec::with_capacity(ops.len());
    // (upload, ref) → index in `out` of that key's op in the current run.
    let mut run: HashMap<(String, String), usize> = HashMap::new();
    for op in ops {
        let (Some(progress), Some(entry_ref)) = (op.progress(), op.entry_ref.clone()) else {
            run.clear();
            out.push(op);
            continue;
        };
        let key = (op.upload.clone(), entry_ref);
        if let Some(first) = run.get(&key).and_then(|index| out.get_mut(*index)) {
            first.kind = OpKind::Progress(progress);
            continue;
        }
        run.insert(key, out.len());
        out.push(op);
    }
    out
}

/// The wire ops of one envelope from a page's queue: per store (root first, by depth),
/// coalesced, then throttled at `now`.
pub fn drain(queue: Vec<UploadOp>, throttle: &mut Throttle, now: Instant) -> Vec<Value> {
    let mut stores: Vec<(Vec<String>, Vec<UploadOp>)> = Vec::new();
    for op in queue {
        match stores.iter_mut().find(|(store_id, _)| *store_id == op.store_id) {
            Some((_, ops)) => ops.push(op),
            None => stores.push((op.store_id.clone(), vec![op])),
        }
    }
    stores.sort_by_key(|(store_id, _)| store_id.len());
    stores.into_iter().flat_map(|(_, ops)| throttle.filter(coalesce(ops), now)).map(|op| op.to_value()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use serde_json::json;

    use super::*;

    fn progress(upload: &str, entry_ref: &str, value: u64) -> UploadOp {
        UploadOp::entry(&[], upload, entry_ref, OpKind::Progress(value))
    }

    fn complete(entry_ref: &str) -> UploadOp {
        UploadOp::entry(&[], "a", entry_ref, OpKind::Complete)
    }

    fn summary(ops: &[UploadOp]) -> Vec<String> {
        ops.iter()
            .map(|op| match op.kind {
                OpKind::Progress(value) => format!("{}:{}={value}", op.upload, op.entry_ref.clone().unwrap()),
                _ => format!("{}:{}", op.to_value()["op"].as_str().unwrap(), op.entry_ref.clone().unwrap_or_default()),
            })
            .collect()
    }

    #[test]
    fn coalescing_keeps_the_latest_value_at_the_first_position_of_each_run() {
        let ops = vec![
            progress("a", "1", 10),
            progress("a", "2", 5),
            progress("a", "1", 20),
            progress("b", "1", 7),
            progress("a", "2", 6),
            complete("1"),
            progress("a", "1", 30),
            progress("a", "1", 40),
        ];
        assert_eq!(summary(&coalesce(ops)), ["a:1=20", "a:2=6", "b:1=7", "complete:1", "a:1=40"]);
    }

    #[test]
    fn the_throttle_drops_progress_inside_the_window_only() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut throttle = Throttle::default();
        assert_eq!(summary(&throttle.filter(vec![progress("a", "1", 1), progress("a", "2", 1)], at(0))), ["a:1=1", "a:2=1"]);
        // Inside the window: dropped, not deferred; other entries and other ops pass.
        assert_eq!(summary(&throttle.filter(vec![progress("a", "1", 2), complete("1")], at(50))), ["complete:1"]);
        assert!(throttle.filter(vec![progress("a", "1", 3)], at(99)).is_empty());
        // The window counts from the last emitted op (at 0), not from the dropped ones.
        assert_eq!(summary(&throttle.filter(vec![progress("a", "1", 4)], at(100))), ["a:1=4"]);
        assert!(throttle.filter(vec![progress("a", "1", 5)], at(150)).is_empty());
        assert_eq!(summary(&throttle.filter(vec![progress("a", "2", 5)], at(150))), ["a:2=5"]);
        // The same ref in another store or upload has its own window.
        let other_store = UploadOp::entry(&["s".to_owned()], "a", "1", OpKind::Progress(9));
        assert_eq!(throttle.filter(vec![other_store, progress("b", "1", 9)], at(160)).len(), 2);
        throttle.forget(&[], "a", "1");
        assert_eq!(summary(&throttle.filter(vec![progress("a", "1", 6)], at(170))), ["a:1=6"]);
    }

    #[test]
    fn drain_orders_stores_by_depth_then_coalesces_and_throttles() {
        let start = Instant::now();
        let mut throttle = Throttle::default();
        let child = |value| UploadOp::entry(&["c".to_owned()], "x", "9", OpKind::Progress(value));
        let queue = vec![child(1), progress("a", "1", 10), child(2), progress("a", "1", 20), complete("1")];
        assert_eq!(
            drain(queue, &mut throttle, start),
            vec![
                json!({"op": "progress", "upload": "a", "store_id": [], "ref": "1", "progress": 20}),
                json!({"op": "complete", "upload": "a", "store_id": [], "ref": "1"}),
                json!({"op": "progress", "upload": "x", "store_id": ["c"], "ref": "9", "progress": 2}),
            ]
        );
        let later = drain(vec![progress("a", "1", 100), complete("1")], &mut throttle, start + Duration::from_millis(10));
        assert_eq!(later, vec![json!({"op": "complete", "upload": "a", "store_id": [], "ref": "1"})]);
    }
}
