//! Channel-mode uploads through the runtime (PROTOCOL.md §3.3–§3.4, checklist item 46), in both
//! wire modes: preflight, join, windowed binary chunks in offset order, completion, and every
//! way an entry can fail on the way.

use serde_json::{Value, json};

use super::upload_harness::*;
use super::*;
use crate::runtime::upload_transfer::{FileId, UploadStatus};

#[test]
fn checklist_46_the_same_store_and_name_is_the_same_handle() {
    let mut uploads = Uploads::new(Mode::Connection);
    uploads.select_accepted(10);
    let first = uploads.view();
    assert_eq!(uploads.wire.rt.upload_view(&target()), Some(first.clone()), "one handle per (store, name)");
    assert_eq!(first.entries.len(), 1);
    let other = UploadTarget::new(TOPIC, ROOT, StoreId::root(), "document");
    assert_eq!(uploads.wire.rt.upload_view(&other).unwrap().entries.len(), 0, "another name is another handle");
    let revision = uploads.wire.rt.upload_revision(&target());
    assert_eq!(uploads.wire.rt.upload_revision(&target()), revision, "reading changes nothing");
}

#[test]
fn a_channel_upload_preflights_joins_sends_binary_chunks_and_completes_in_both_modes() {
    for mode in MODES {
        let mut uploads = Uploads::new(mode);
        let select = uploads.select(vec![file(1, "me.png", 250)]);
        assert_eq!(uploads.view().status, UploadStatus::Selecting);
        let preflight = uploads.pushed("allow_upload");
        assert_eq!(Wire::payload(&preflight)["entries"], json!([{"client_ref": "0", "name": "me.png", "size": 250, "type": "image/png"}]));
        uploads.wire.reply(
            &preflight,
            "ok",
            json!({"ref": "avatar", "config": {"accept": [".png"], "max_entries": 2, "max_file_size": 5_000_000, "chunk_size": 100},
            "entries": {"0": {"type": "channel", "entry_ref": ENTRY, "token": "tok"}}, "errors": []}),
        );
        let settled = uploads.wire.settled(select).unwrap().unwrap();
        assert_eq!(settled[0]["ref"], ENTRY);
        assert_eq!((settled[0]["clientName"].clone(), settled[0]["status"].clone()), (json!("me.png"), json!("pending")));
        uploads.add_op(ENTRY, 250);

        let start = uploads.start();
        let join = uploads.wire.sent.iter().rev().find(|f| f.event == "phx_join" && f.topic == upload_topic(ENTRY)).cloned().unwrap();
        assert_eq!(Wire::payload(&join), json!({"token": "tok"}));
        uploads.join_upload(ENTRY);
        let received = uploads.upload_everything(ENTRY);
        assert_eq!(received, expected_bytes(250), "{mode:?}: every byte once, in order");
        assert_eq!(uploads.chunks(ENTRY).iter().map(|c| c.join_ref.clone()).collect::<Vec<_>>(), vec![join.join_ref.clone(); 3]);
        assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)), "start settles when the last byte is acknowledged");
        assert_eq!(uploads.view().status, UploadStatus::Success);
        assert_eq!(
            (uploads.view().entries[0].status.as_str(), uploads.view().entries[0].progress),
            ("success", 100.0),
            "handle and entry agree"
        );
        // The server closes the sub-channel; the client never leaves it itself.
        assert_eq!(uploads.wire.sent.iter().filter(|f| f.topic == upload_topic(ENTRY) && f.event == "phx_leave").count(), 0);
        uploads.wire.server(json!([join.join_ref, join.join_ref, upload_topic(ENTRY), "phx_close", {}]));
        uploads.upload_ops(json!([{"op": "progress", "upload": "avatar", "store_id": [], "ref": ENTRY, "progress": 100},
            {"op": "complete", "upload": "avatar", "store_id": [], "ref": ENTRY}]));
        let view = uploads.view();
        assert_eq!((view.entries[0].status.as_str(), view.entries[0].progress, view.progress), ("success", 100.0, 100));
        assert_eq!(view.entries[0].bytes_sent, 250);
        assert_eq!(uploads.released(), vec![FileId(1)], "a done entry lets its file go, once");
        assert_eq!(uploads.wire.rt.pending_pushes(), 0);
    }
}

#[test]
fn a_window_keeps_several_chunks_in_flight_and_sends_them_in_offset_order() {
    let mut uploads = Uploads::new(Mode::Connection);
    uploads.wire.rt.set_upload_window(3);
    uploads.select_accepted(450);
    uploads.start();
    uploads.join_upload(ENTRY);
    let reads = uploads.reads();
    assert_eq!(reads.iter().map(|(_, offset, len)| (*offset, *len)).collect::<Vec<_>>(), vec![(0, 100), (100, 100), (200, 100)]);
    // Reads finish out of order: nothing goes out before the first chunk is read.
    uploads.answer_read(reads[2].0, reads[2].1, reads[2].2);
    uploads.answer_read(reads[1].0, reads[1].1, reads[1].2);
    assert!(uploads.chunks(ENTRY).is_empty());
    uploads.answer_read(reads[0].0, reads[0].1, reads[0].2);
    let chunks = uploads.chunks(ENTRY);
    assert_eq!(chunks.len(), 3, "three in flight before any reply");
    let refs: Vec<u64> = chunks.iter().map(|c| c.msg_ref.clone().unwrap().parse().unwrap()).collect();
    assert!(refs.windows(2).all(|pair| pair[0] < pair[1]), "pushed in offset order: {refs:?}");
    // A reply frees one slot: the next read is asked for.
    uploads.wire.reply(&chunks[0], "ok", json!({"progress": 22}));
    assert_eq!(uploads.reads().iter().map(|(_, offset, len)| (*offset, *len)).collect::<Vec<_>>(), vec![(300, 100)]);
    assert_eq!(uploads.view().entries[0].bytes_sent, 100);
}

#[test]
fn a_chunk_error_reply_ends_the_entry_with_the_mapped_code() {
    for (reason, code) in
        [("chunk too large", "chunk_too_large"), ("upload too large", "too_large"), ("write failed", "internal"), ("odd", "upload_failed")]
    {
        let mut uploads = Uploads::new(Mode::Connection);
        uploads.wire.rt.set_upload_window(2);
        uploads.select_accepted(300);
        let start = uploads.start();
        uploads.join_upload(ENTRY);
        for (read, offset, len) in uploads.reads() {
            uploads.answer_read(read, offset, len);
        }
        let chunks = uploads.chunks(ENTRY);
        uploads.wire.reply(&chunks[0], "error", json!({"reason": reason}));
        let view = uploads.view();
        assert_eq!((view.entries[0].status.as_str(), view.entries[0].errors[0].code.as_str()), ("error", code), "{reason}");
        assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)));
        assert_eq!(view.status, UploadStatus::Error);
        // The second chunk's late reply changes nothing; no more chunks are sent.
        uploads.wire.reply(&chunks[1], "ok", json!({"progress": 66}));
        assert_eq!(uploads.chunks(ENTRY).len(), 2);
        assert!(uploads.reads().is_empty());
    }
}

#[test]
fn a_transport_drop_mid_upload_ends_the_entry_clearly_and_start_preflights_it_again() {
    for mode in MODES {
        let mut uploads = Uploads::new(mode);
        uploads.select_accepted(300);
        let start = uploads.start();
        uploads.join_upload(ENTRY);
        let (read, offset, len) = uploads.reads()[0];
        uploads.answer_read(read, offset, len);
        uploads.wire.drop_transport();
        let view = uploads.view();
        assert_eq!(view.entries[0].status, "error", "{mode:?}");
        assert_eq!(view.entries[0].errors[0].code, "disconnected");
        assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)), "start settles: nothing runs any more");
        assert_eq!(view.status, UploadStatus::Error);
        // Back online, the root remounts; the failed entry keeps its file for a restart.
        uploads.wire.advance(11_000);
        uploads.wire.open();
        let resumed_join = match mode {
            Mode::Connection => {
                let join = uploads.wire.last("phx_join");
                uploads.wire.reply(&join, "ok", json!({}));
                let mount = uploads.wire.last("mount");
                uploads.wire.reply(&mount, "ok", json!({"root_id": ROOT}));
                uploads.wire.join_ref()
            }
            Mode::PerRoot => {
                let join = uploads.wire.sent.iter().rev().find(|f| f.event == "phx_join" && f.topic == root_topic()).cloned().unwrap();
                uploads.wire.reply(&join, "ok", json!({"root_id": format!("{MODULE}:{ROOT}")}));
                join.join_ref
            }
        };
        assert_eq!(
            uploads.wire.sent.iter().filter(|f| f.topic == upload_topic(ENTRY) && f.event == "phx_join").count(),
            1,
            "the sub-channel does not rejoin"
        );
        uploads.root_join = resumed_join;
        uploads.version = 0;
        uploads.envelope(json!([{"op": "replace", "path": "", "value": profile()}]), json!([]));
        assert_eq!(uploads.wire.rt.root_status(TOPIC, ROOT), Some(RootStatus::Live));
        assert!(uploads.released().is_empty(), "the file is kept for the restart");

        let restart = uploads.start();
        let preflight = uploads.pushed("allow_upload");
        assert_eq!(Wire::payload(&preflight)["entries"][0]["client_ref"], "0");
        uploads.wire.reply(
            &preflight,
            "ok",
            json!({"ref": "avatar", "entries": {"0": {"type": "channel", "entry_ref": "u_fresh", "token": "t2"}}, "errors": []}),
        );
        uploads.join_upload("u_fresh");
        assert_eq!(uploads.upload_everything("u_fresh"), expected_bytes(300), "the restart sends the whole file again");
        assert_eq!(uploads.wire.settled(restart), Some(Ok(Value::Null)));
        let view = uploads.view();
        assert_eq!((view.status, view.entries.len(), &*view.entries[0].entry_ref), (UploadStatus::Success, 1, "u_fresh"));
        assert!(view.entries[0].errors.is_empty());
    }
}

#[test]
fn sub_channel_failures_end_the_entry_and_never_rejoin() {
    // (what happens, expected code)
    let cases: [(&str, &str); 4] =
        [("refused", "unauthorized"), ("crash", "upload_failed"), ("close", "upload_closed"), ("join timeout", "timeout")];
    for (case, code) in cases {
        let mut uploads = Uploads::new(Mode::Connection);
        uploads.select_accepted(300);
        let start = uploads.start();
        let join = uploads.wire.sent.iter().rev().find(|f| f.event == "phx_join" && f.topic == upload_topic(ENTRY)).cloned().unwrap();
        match case {
            "refused" => uploads.wire.reply(&join, "error", json!({"reason": "unauthorized"})),
            "crash" => {
                uploads.wire.reply(&join, "ok", json!({}));
                uploads.wire.server(json!([join.join_ref, join.join_ref, upload_topic(ENTRY), "phx_error", {}]));
            }
            "close" => {
                uploads.wire.reply(&join, "ok", json!({}));
                uploads.wire.server(json!([join.join_ref, join.join_ref, upload_topic(ENTRY), "phx_close", {}]));
            }
            _ => uploads.wire.advance(10_001),
        }
        let view = uploads.view();
        assert_eq!(view.entries[0].errors.last().unwrap().code, code, "{case}");
        assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)), "{case}");
        uploads.wire.advance(60_000);
        assert_eq!(
            uploads.wire.sent.iter().filter(|f| f.topic == upload_topic(ENTRY) && f.event == "phx_join").count(),
            1,
            "{case}: no rejoin"
        );
    }
}

#[test]
fn an_unanswered_chunk_times_out_and_a_file_that_changed_is_refused() {
    let mut uploads = Uploads::new(Mode::Connection);
    uploads.select_accepted(300);
    let start = uploads.start();
    uploads.join_upload(ENTRY);
    let (read, offset, len) = uploads.reads()[0];
    uploads.answer_read(read, offset, len);
    uploads.wire.advance(10_001);
    assert_eq!(uploads.view().entries[0].errors[0].code, "timeout");
    assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)));

    let mut uploads = Uploads::new(Mode::Connection);
    uploads.select_accepted(300);
    uploads.start();
    uploads.join_upload(ENTRY);
    let (read, _, _) = uploads.reads()[0];
    uploads.wire.rt.upload_read(read, Ok(vec![0; 7]), uploads.wire.now);
    uploads.wire.drain();
    assert_eq!(uploads.view().entries[0].errors[0].code, "file_unreadable");
    let mut uploads = Uploads::new(Mode::Connection);
    uploads.select_accepted(300);
    uploads.start();
    uploads.join_upload(ENTRY);
    let (read, _, _) = uploads.reads()[0];
    uploads.wire.rt.upload_read(read, Err("NotReadableError".into()), uploads.wire.now);
    uploads.wire.drain();
    assert!(uploads.view().entries[0].errors[0].message.contains("NotReadableError"));
    assert!(uploads.chunks(ENTRY).is_empty());
}

#[test]
fn a_zero_byte_file_sends_one_empty_chunk() {
    let mut uploads = Uploads::new(Mode::Connection);
    uploads.select_accepted(0);
    let start = uploads.start();
    uploads.join_upload(ENTRY);
    assert_eq!(uploads.upload_everything(ENTRY), Vec::<u8>::new());
    assert_eq!(uploads.chunks(ENTRY).len(), 1, "one empty chunk completes it (the reference would time out)");
    assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)));
}

#[test]
fn a_chunk_reply_moves_the_entrys_progress_and_notifies_the_handle_but_not_the_store() {
    let mut uploads = Uploads::new(Mode::Connection);
    uploads.wire.rt.set_upload_window(1);
    uploads.select_accepted(400);
    uploads.start();
    uploads.join_upload(ENTRY);
    let (read, offset, len) = uploads.reads()[0];
    uploads.answer_read(read, offset, len);
    let snapshot = uploads.wire.rt.snapshot(TOPIC, ROOT, &StoreId::root()).unwrap();
    uploads.wire.events.clear();
    let chunk = uploads.chunks(ENTRY)[0].clone();
    uploads.wire.reply(&chunk, "ok", json!({"progress": 25}));
    assert_eq!(uploads.view().entries[0].progress, 25.0, "the acknowledged share, before any progress op");
    assert!(uploads.wire.changed().is_empty(), "the store is not re-rendered for a chunk reply");
    assert_eq!(uploads.wire.events.iter().filter(|event| matches!(event, RuntimeEvent::UploadChanged { .. })).count(), 1);
    assert!(uploads.wire.rt.snapshot(TOPIC, ROOT, &StoreId::root()).unwrap().same(&snapshot));
    // A late, lower progress op does not move it back.
    uploads.upload_ops(json!([{"op": "progress", "upload": "avatar", "store_id": [], "ref": ENTRY, "progress": 10}]));
    assert_eq!(uploads.view().entries[0].progress, 25.0);
}
