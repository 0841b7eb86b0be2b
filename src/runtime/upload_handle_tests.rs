//! An upload handle through the runtime (PROTOCOL.md §3.2, §3.5–§3.8, checklist items 50–52):
//! preflight outcomes, external uploaders, cancel and reset, notifications and the handle's
//! lifecycle with its root, and hostile preflight replies.

use serde_json::{Value, json};

use super::upload_harness::*;
use super::*;
use crate::runtime::upload_transfer::{ExternalOutcome, FileId, UploadStatus};

#[test]
fn preflight_errors_become_handle_errors_and_refusals_reject_select() {
    for mode in MODES {
        let mut uploads = Uploads::new(mode);
        let select = uploads.select(vec![
            file(1, "a.png", 10),
            file(2, "b.gif", 10),
            file(3, "c.png", 9_000_000),
            file(4, "d.png", 1),
            file(5, "", 1),
        ]);
        let preflight = uploads.pushed("allow_upload");
        uploads.wire.reply(
            &preflight,
            "ok",
            json!({"ref": "avatar", "entries": {"0": {"type": "channel", "entry_ref": "u_a", "token": "t"}},
            "errors": [{"client_ref": "1", "error": {"code": "not_accepted", "message": "file type is not accepted"}},
                       {"client_ref": "2", "error": {"code": "too_large"}},
                       {"client_ref": "3", "error": {"code": "too_many_files", "message": ""}},
                       {"client_ref": "", "error": {"code": "preflight_rejected"}}]}),
        );
        let entries = uploads.wire.settled(select).unwrap().unwrap();
        assert_eq!(entries.as_array().unwrap().len(), 1);
        let view = uploads.view();
        assert_eq!(view.status, UploadStatus::Error);
        let errors: Vec<(&str, &str)> = view.errors.iter().map(|e| (e.code.as_str(), e.message.as_str())).collect();
        assert_eq!(
            errors,
            vec![
                ("not_accepted", "file type is not accepted"),
                ("too_large", "file exceeds the maximum size"),
                ("too_many_files", "too many files selected"),
                ("preflight_rejected", "upload was rejected"),
            ],
            "every §3.2 code, with the server's default message when it sends none"
        );
        let mut released = uploads.released();
        released.sort();
        assert_eq!(released, vec![FileId(2), FileId(3), FileId(4), FileId(5)], "refused files are released at once");

        // A routing error rejects the request; the status says so too.
        let select = uploads.select(vec![file(9, "x.png", 1)]);
        let preflight = uploads.pushed("allow_upload");
        uploads.wire.reply(&preflight, "error", json!({"reason": "unknown upload"}));
        let error = uploads.wire.settled(select).unwrap().unwrap_err();
        assert_eq!(error.kind(), "upload_refused");
        assert_eq!(error.to_string(), "Upload refused: {\"reason\":\"unknown upload\"}");
        assert_eq!(uploads.view().status, UploadStatus::Error);
        assert_eq!(uploads.view().errors.last().unwrap().code, "unknown upload");
        let select = uploads.select(vec![file(10, "y.png", 1)]);
        uploads.wire.advance(10_001);
        assert_eq!(uploads.wire.settled(select), Some(Err(SyncError::UploadTimeout)), "a preflight that is never answered settles");
    }
}

#[test]
fn select_with_nothing_or_without_a_live_root_settles_at_once() {
    let mut uploads = Uploads::new(Mode::Connection);
    let select = uploads.select(vec![]);
    assert_eq!(uploads.wire.settled(select), Some(Ok(json!([]))));
    assert_eq!(uploads.wire.count("allow_upload"), 0);
    uploads.wire.drop_transport();
    let select = uploads.select(vec![file(4, "a.png", 1)]);
    assert_eq!(uploads.wire.settled(select), Some(Err(SyncError::NotConnected)));
    assert_eq!(uploads.released(), vec![FileId(4)]);
    let start = uploads.start();
    assert_eq!(uploads.wire.settled(start), Some(Err(SyncError::NotConnected)));
}

#[test]
fn checklist_50_external_mode_calls_the_uploader_and_pushes_its_progress() {
    for mode in MODES {
        let mut uploads = Uploads::new(mode);
        let (start, job, meta) = external(&mut uploads);
        assert_eq!(meta, json!({"url": "https://s3/x"}));
        let calls = uploads.wire.events.iter().filter(|event| matches!(event, RuntimeEvent::StartExternal { .. })).count();
        assert_eq!(calls, 1, "called once");
        uploads.wire.rt.external_progress(job, 33.4, uploads.wire.now);
        uploads.wire.drain();
        let progress = uploads.pushed("upload_progress");
        assert_eq!((Wire::payload(&progress)["ref"].clone(), Wire::payload(&progress)["progress"].clone()), (json!("u_ext"), json!(33)));
        uploads.wire.rt.external_progress(job, 33.0, uploads.wire.now);
        uploads.wire.rt.external_progress(job, f64::NAN, uploads.wire.now);
        uploads.wire.drain();
        assert_eq!(uploads.wire.count("upload_progress"), 2, "a repeat is not sent again; NaN counts as 0");
        uploads.wire.rt.external_finished(job, ExternalOutcome::Done, uploads.wire.now);
        uploads.wire.drain();
        let last = uploads.pushed("upload_progress");
        assert_eq!(Wire::payload(&last)["progress"], 100, "a final 100 after the uploader resolved");
        assert_eq!(uploads.wire.settled(start), None, "done once the server accepted the completion");
        uploads.wire.reply(&last, "ok", json!({}));
        assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)));
        assert_eq!(uploads.view().status, UploadStatus::Success);
        assert_eq!(uploads.view().entries[0].status, "success", "the entry agrees before the complete op arrives");
    }
}

#[test]
fn checklist_51_a_rejecting_uploader_pushes_upload_error_and_the_handle_errs() {
    let mut uploads = Uploads::new(Mode::Connection);
    let (start, job, _) = external(&mut uploads);
    uploads.wire.rt.external_finished(job, ExternalOutcome::Failed("PUT 500".into()), uploads.wire.now);
    uploads.wire.drain();
    let error = Wire::payload(&uploads.pushed("upload_error"));
    assert_eq!(
        (error["code"].clone(), error["ref"].clone(), error["message"].clone()),
        (json!("external_failed"), json!("u_ext"), json!("PUT 500"))
    );
    assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)), "start resolves; the rejection is not re-thrown");
    assert_eq!(uploads.view().status, UploadStatus::Error);
}

#[test]
fn checklist_52_no_registered_uploader_resolves_start_with_status_error() {
    let mut uploads = Uploads::new(Mode::PerRoot);
    let (start, job, _) = external(&mut uploads);
    uploads.wire.rt.external_finished(job, ExternalOutcome::NoUploader("S3".into()), uploads.wire.now);
    uploads.wire.drain();
    assert_eq!(uploads.wire.count("upload_error"), 0, "nothing is pushed");
    assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)));
    let view = uploads.view();
    assert_eq!(view.status, UploadStatus::Error);
    assert_eq!(view.errors[0].message, "No registered uploader for \"S3\"");
}

#[test]
fn cancel_aborts_leaves_and_pushes_cancel_upload_and_settles_on_the_reply() {
    for mode in MODES {
        let mut uploads = Uploads::new(mode);
        uploads.select_accepted(300);
        let start = uploads.start();
        uploads.join_upload(ENTRY);
        let cancel = uploads.wire.rt.upload_cancel(&target(), Some(ENTRY), uploads.wire.now);
        uploads.wire.drain();
        assert!(
            uploads.wire.sent.iter().any(|f| f.topic == upload_topic(ENTRY) && f.event == "phx_leave"),
            "the sub-channel is left first"
        );
        let push = uploads.pushed("cancel_upload");
        assert_eq!(Wire::payload(&push)["ref"], ENTRY);
        assert!(uploads.view().entries.is_empty(), "gone from the view at once");
        assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)));
        assert_eq!(uploads.view().status, UploadStatus::Cancelled);
        assert_eq!(uploads.wire.settled(cancel), None, "settles on the reply");
        uploads.wire.reply(&push, "ok", json!({}));
        assert_eq!(uploads.wire.settled(cancel), Some(Ok(Value::Null)));
        assert_eq!(uploads.released(), vec![FileId(1)]);
        // The server's cancel op finds nothing left to remove.
        uploads.upload_ops(json!([{"op": "cancel", "upload": "avatar", "store_id": [], "ref": ENTRY}]));
        assert!(uploads.view().entries.is_empty());
        assert_eq!(uploads.wire.rt.pending_pushes(), 0);
    }
}

#[test]
fn cancelling_an_external_entry_aborts_its_uploader_and_its_late_progress_is_not_sent() {
    let mut uploads = Uploads::new(Mode::Connection);
    let (_, job, _) = external(&mut uploads);
    let cancel = uploads.wire.rt.upload_cancel(&target(), None, uploads.wire.now);
    uploads.wire.drain();
    assert!(uploads.wire.events.iter().any(|event| *event == RuntimeEvent::AbortExternal { job }));
    uploads.wire.rt.external_progress(job, 50.0, uploads.wire.now);
    uploads.wire.rt.external_finished(job, ExternalOutcome::Done, uploads.wire.now);
    uploads.wire.drain();
    assert_eq!(uploads.wire.count("upload_progress"), 0, "no progress for a cancelled entry (§3.5)");
    let push = uploads.pushed("cancel_upload");
    uploads.wire.reply(&push, "ok", json!({}));
    assert_eq!(uploads.wire.settled(cancel), Some(Ok(Value::Null)));
}

#[test]
fn reset_cancels_everything_and_the_handle_is_idle() {
    let mut uploads = Uploads::new(Mode::Connection);
    uploads.select(vec![file(1, "a.png", 10), file(2, "b.png", 10)]);
    let preflight = uploads.pushed("allow_upload");
    uploads.wire.reply(&preflight, "ok", json!({"ref": "avatar", "entries": {"0": {"type": "channel", "entry_ref": "u_a", "token": "t"}, "1": {"type": "channel", "entry_ref": "u_b", "token": "t"}},
        "errors": [{"client_ref": "7", "error": {"code": "too_many_files", "message": "too many files selected"}}]}));
    let reset = uploads.wire.rt.upload_reset(&target(), uploads.wire.now);
    uploads.wire.drain();
    assert_eq!(uploads.wire.count("cancel_upload"), 2);
    let view = uploads.view();
    assert_eq!((view.status, view.entries.len(), view.errors.len()), (UploadStatus::Idle, 0, 0));
    for push in uploads.wire.sent.clone().iter().filter(|f| f.event == "cancel_upload") {
        uploads.wire.reply(push, "ok", json!({}));
    }
    assert_eq!(uploads.wire.settled(reset), Some(Ok(Value::Null)));
}

#[test]
fn a_server_cancel_op_removes_the_local_entry_and_stops_its_transfer() {
    let mut uploads = Uploads::new(Mode::Connection);
    uploads.select_accepted(300);
    let start = uploads.start();
    uploads.join_upload(ENTRY);
    uploads.upload_ops(json!([{"op": "cancel", "upload": "avatar", "store_id": [], "ref": ENTRY}]));
    assert!(uploads.view().entries.is_empty());
    assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)));
    assert!(uploads.wire.sent.iter().any(|f| f.topic == upload_topic(ENTRY) && f.event == "phx_leave"));
    assert_eq!(uploads.released(), vec![FileId(1)]);
}

#[test]
fn upload_changes_notify_the_store_once_and_give_it_a_new_snapshot() {
    let mut uploads = Uploads::new(Mode::Connection);
    let before = uploads.wire.rt.snapshot(TOPIC, ROOT, &StoreId::root()).unwrap();
    uploads.wire.events.clear();
    uploads.select_accepted(10);
    let after = uploads.wire.rt.snapshot(TOPIC, ROOT, &StoreId::root()).unwrap();
    assert!(!before.same(&after), "upload state invalidates the owning store's snapshot (§6.1)");
    let changed = uploads.wire.events.iter().filter(|event| matches!(event, RuntimeEvent::UploadChanged { .. })).count();
    assert!(changed >= 1);
    // One batch of ops: one notification of the store.
    uploads.wire.events.clear();
    uploads.upload_ops(json!([{"op": "progress", "upload": "avatar", "store_id": [], "ref": ENTRY, "progress": 10},
        {"op": "progress", "upload": "avatar", "store_id": [], "ref": ENTRY, "progress": 20}]));
    assert_eq!(uploads.wire.changed(), vec![(ROOT.to_owned(), vec!["[]".to_owned()])]);
    assert_eq!(uploads.wire.events.iter().filter(|event| matches!(event, RuntimeEvent::UploadChanged { .. })).count(), 1);
    assert_eq!(uploads.view().entries[0].progress, 20.0);
}

#[test]
fn unmounting_the_root_ends_its_uploads_and_releases_their_files() {
    let mut uploads = Uploads::new(Mode::Connection);
    uploads.select_accepted(300);
    let start = uploads.start();
    uploads.join_upload(ENTRY);
    let unmount = uploads.wire.rt.unmount(TOPIC, ROOT, uploads.wire.now);
    uploads.wire.drain();
    assert_eq!(uploads.wire.settled(start), Some(Err(SyncError::Unmounted)));
    assert_eq!(uploads.released(), vec![FileId(1)]);
    assert!(uploads.wire.sent.iter().any(|f| f.topic == upload_topic(ENTRY) && f.event == "phx_leave"));
    let push = uploads.wire.last("unmount");
    uploads.wire.reply(&push, "ok", json!({}));
    assert_eq!(uploads.wire.settled(unmount), Some(Ok(Value::Null)));
    assert_eq!(uploads.wire.rt.upload_view(&target()), None);
}

#[test]
fn hostile_preflight_replies_never_wedge_the_handle() {
    let replies = [
        json!(null),
        json!("text"),
        json!({"entries": [1, 2]}),
        json!({"entries": {"0": {"type": "channel", "entry_ref": ""}}}),
        json!({"entries": {"0": {"type": "channel", "entry_ref": "u", "token": 5}}}),
        json!({"entries": {"0": {"type": "channel", "entry_ref": "x".repeat(300), "token": "t"}}}),
        json!({"errors": "nope", "config": {"chunk_size": -1, "accept": {"deep": [1]}}}),
    ];
    for reply in replies {
        let mut uploads = Uploads::new(Mode::Connection);
        let select = uploads.select(vec![file(1, "a.png", 10)]);
        let preflight = uploads.pushed("allow_upload");
        uploads.wire.reply(&preflight, "ok", reply.clone());
        assert!(uploads.wire.settled(select).is_some(), "{reply}: select settles");
        let start = uploads.start();
        uploads.wire.advance(30_000);
        assert!(uploads.wire.settled(start).is_some(), "{reply}: start settles");
        assert!(matches!(uploads.view().status, UploadStatus::Error | UploadStatus::Success), "{reply}: {:?}", uploads.view().status);
        assert_eq!(uploads.wire.rt.pending_pushes(), 0, "{reply}");
    }
}

#[test]
fn a_store_that_leaves_takes_its_handles_along() {
    let mut uploads = Uploads::new(Mode::Connection);
    uploads.select_accepted(300);
    uploads.add_op(ENTRY, 300);
    let revision = uploads.wire.rt.upload_revision(&target());
    // The whole root is replaced by a tree without the uploads' store… (a remount of another page)
    uploads.envelope(json!([{"op": "replace", "path": "", "value": {"__musubi_store_id__": ["other"], "x": 1}}]), json!([]));
    assert!(uploads.wire.rt.upload_revision(&target()) > revision, "the view changed, so the revision did");
    assert!(uploads.view().entries.is_empty(), "the server's entries went with the store, and the local ones with them");
    assert_eq!(uploads.released(), vec![FileId(1)]);
}

#[test]
fn a_refused_or_unanswered_external_completion_ends_the_entry_with_an_error() {
    for (answer, code) in [("error", "external_failed"), ("silence", "timeout")] {
        let mut uploads = Uploads::new(Mode::Connection);
        let (start, job, _) = external(&mut uploads);
        uploads.wire.rt.external_finished(job, ExternalOutcome::Done, uploads.wire.now);
        uploads.wire.drain();
        let last = uploads.pushed("upload_progress");
        match answer {
            "error" => uploads.wire.reply(&last, "error", json!({"reason": "unknown entry"})),
            _ => uploads.wire.advance(10_001),
        }
        assert_eq!(uploads.wire.settled(start), Some(Ok(Value::Null)), "{answer}");
        let view = uploads.view();
        assert_eq!((view.status, view.entries[0].errors[0].code.as_str()), (UploadStatus::Error, code), "{answer}");
    }
}
