//! Seeded faults against uploads: a hostile or flaky server answers preflights, joins, reads and
//! chunks at random — or not at all — drops the transport, crashes or closes sub-channels, while
//! the application cancels. Whatever happens, every request settles exactly once, no entry keeps
//! `start` running for ever, no chunk is pushed twice or out of order, and the handle ends in a
//! truthful status.

use serde_json::json;

use super::upload_harness::{Mode, Uploads, file, target};
use super::*;
use crate::phoenix::frame::{Body, Frame};
use crate::runtime::upload_transfer::UploadStatus;
use std::collections::HashMap;

/// One run of the fault schedule of `seed`: the handle's final status and how many chunks went
/// out.
fn run(seed: u64) -> (UploadStatus, usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mode = if rng.bool() { Mode::Connection } else { Mode::PerRoot };
    let mut uploads = Uploads::new(mode);
    uploads.wire.rt.set_upload_window(rng.usize(1..=4));
    let size = rng.u64(0..700);
    let select = uploads.select(vec![file(1, "me.png", size)]);
    let preflight = uploads.pushed("allow_upload");
    match rng.u8(0..10) {
        0 => uploads.wire.reply(&preflight, "error", json!({"reason": "unknown upload"})),
        1 => uploads.wire.advance(10_001),
        _ => uploads.wire.reply(
            &preflight,
            "ok",
            json!({"ref": "avatar", "entries": {"0": {"type": "channel", "entry_ref": "u_1", "token": "t"}}, "errors": []}),
        ),
    }
    assert!(uploads.wire.settled(select).is_some(), "seed {seed}: select settles");
    let start = uploads.start();
    let mut requests = vec![start];
    let mut pending_reads = Vec::new();
    let mut answered_chunks: HashMap<String, usize> = HashMap::new();
    let mut answered_joins: Vec<Option<String>> = Vec::new();
    for _ in 0..120 {
        pending_reads.extend(uploads.reads());
        let topics: Vec<String> =
            uploads.wire.sent.iter().filter(|f| f.topic.starts_with(UPLOAD_TOPIC_PREFIX)).map(|f| f.topic.clone()).collect();
        let Some(topic) = topics.last().cloned() else { break };
        // A join nobody answered yet is answered more often than not; reads waiting likewise.
        let join = uploads.wire.sent.iter().rev().find(|f| f.topic == topic && f.event == "phx_join").cloned();
        let unanswered = join.as_ref().filter(|join| !answered_joins.contains(&join.msg_ref));
        let action = match (unanswered, pending_reads.is_empty()) {
            (Some(_), _) if rng.u8(0..3) > 0 => 22,
            (None, false) if rng.bool() => 0,
            _ => rng.u8(0..40),
        };
        match action {
            0..=11 if !pending_reads.is_empty() => {
                let (read, offset, len) = pending_reads.remove(rng.usize(0..pending_reads.len()));
                match rng.u8(0..12) {
                    0 => uploads.wire.rt.upload_read(read, Ok(vec![0; 1]), uploads.wire.now),
                    1 => uploads.wire.rt.upload_read(read, Err("gone".into()), uploads.wire.now),
                    _ => uploads.answer_read(read, offset, len),
                }
                uploads.wire.drain();
            }
            12..=21 => {
                let chunks: Vec<Frame> = uploads.wire.sent.iter().filter(|f| f.topic == topic && f.event == "chunk").cloned().collect();
                let answered = answered_chunks.entry(topic.clone()).or_default();
                if let Some(chunk) = chunks.get(*answered).cloned() {
                    *answered += 1;
                    let status = if rng.u8(0..10) == 0 { "error" } else { "ok" };
                    uploads.wire.reply(&chunk, status, json!({"reason": "chunk too large", "progress": 10}));
                }
            }
            0..=11 => {}
            22..=25 => {
                if let Some(join) = join {
                    answered_joins.push(join.msg_ref.clone());
                    let status = if rng.u8(0..5) == 0 { "error" } else { "ok" };
                    uploads.wire.reply(&join, status, json!({"reason": "unauthorized"}));
                }
            }
            26 => uploads.wire.drop_transport(),
            27 => {
                if let Some(join) = join {
                    let event = if rng.bool() { "phx_error" } else { "phx_close" };
                    uploads.wire.server(json!([join.join_ref, join.join_ref, topic, event, {}]));
                }
            }
            28 => {
                let cancel = uploads.wire.rt.upload_cancel(&target(), None, uploads.wire.now);
                uploads.wire.drain();
                requests.push(cancel);
                if let Some(push) = uploads.wire.sent.iter().rev().find(|f| f.event == "cancel_upload").cloned() {
                    uploads.wire.reply(&push, "ok", json!({}));
                }
            }
            29 => {
                let again = uploads.wire.rt.upload_start(&target(), uploads.wire.now);
                uploads.wire.drain();
                requests.push(again);
            }
            30..=37 => uploads.wire.advance(rng.u64(0..2_000)),
            _ => uploads.wire.advance(rng.u64(0..12_000)),
        }
        check_chunks(&uploads, seed);
    }
    // Silence from here on: every timeout fires.
    uploads.wire.advance(120_000);
    for request in requests {
        assert!(uploads.wire.settled(request).is_some(), "seed {seed}: request {request:?} settles");
    }
    let view = uploads.view();
    assert!(!matches!(view.status, UploadStatus::Uploading), "seed {seed}: nothing runs, so the handle cannot say uploading: {view:?}");
    (view.status, uploads.wire.sent.iter().filter(|f| f.event == "chunk").count())
}

/// No chunk of an entry is pushed twice or out of order, and none exceeds the chunk size.
fn check_chunks(uploads: &Uploads, seed: u64) {
    let mut per_topic: HashMap<&str, Vec<usize>> = HashMap::new();
    for frame in uploads.wire.sent.iter().filter(|f| f.event == "chunk") {
        let Body::Message(Payload::Binary(bytes)) = &frame.body else { panic!("seed {seed}: a chunk that is not binary") };
        assert!(bytes.len() <= 100, "seed {seed}: a chunk above the chunk size");
        per_topic.entry(&frame.topic).or_default().push(bytes.len());
    }
    for (topic, chunks) in per_topic {
        let total: usize = chunks.iter().sum();
        assert!(total <= 700, "seed {seed}: {topic} sent {total} bytes of a file of at most 700");
    }
}

#[test]
fn seeded_faults_never_wedge_an_upload_or_leave_a_request_unsettled() {
    let outcomes: Vec<(UploadStatus, usize)> = (0..400).map(run).collect();
    // The schedules reach every outcome, and most of them send chunks.
    for status in [UploadStatus::Success, UploadStatus::Error, UploadStatus::Cancelled] {
        assert!(outcomes.iter().any(|(seen, _)| *seen == status), "no schedule ended {status:?}");
    }
    assert!(outcomes.iter().filter(|(_, chunks)| *chunks > 0).count() > 100, "too few schedules sent chunks");
}
