//! Uploads through the runtime against a scripted server (PROTOCOL.md §3.2–§3.8, checklist items
//! 46 and 50–52), in both wire modes: preflight, channel-mode chunks with a window, external
//! uploaders, cancel, reset, and every failure an entry can meet.

use serde_json::{Value, json};

use super::harness::{TOPIC, Wire};
use super::*;
use crate::phoenix::frame::{Body, Frame};
use crate::runtime::upload_transfer::{ExternalOutcome, FileId, ReadId, SelectedFile, UploadStatus, UploadView};

const ROOT: &str = "profile";
const MODULE: &str = "Demo.PageStore";
const ENTRY: &str = "u_Q2hVbmtzLTE";

fn profile() -> Value {
    json!({"__musubi_store_id__": [], "name": "P", "avatar": {"__musubi_upload__": "avatar"}})
}

pub(super) fn target() -> UploadTarget {
    UploadTarget::new(TOPIC, ROOT, StoreId::root(), "avatar")
}

pub(super) fn file(id: u64, name: &str, size: u64) -> SelectedFile {
    SelectedFile { file: FileId(id), name: name.into(), size, mime: "image/png".into() }
}

/// How a test talks to the scripted server in either wire mode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Mode {
    Connection,
    PerRoot,
}

const MODES: [Mode; 2] = [Mode::Connection, Mode::PerRoot];

fn root_topic() -> String {
    format!("{TOPIC}:{MODULE}:{ROOT}")
}

pub(super) fn upload_topic(entry_ref: &str) -> String {
    format!("{UPLOAD_TOPIC_PREFIX}{entry_ref}")
}

pub(super) struct Uploads {
    pub(super) wire: Wire,
    mode: Mode,
    /// The join_ref of the channel envelopes and upload pushes travel on.
    root_join: Option<String>,
    version: u64,
}

impl Uploads {
    pub(super) fn new(mode: Mode) -> Self {
        let mut wire = Wire::new();
        let spec = MountSpec { module: MODULE.into(), id: ROOT.into(), params: json!({}) };
        let root_join = match mode {
            Mode::Connection => {
                wire = Wire::connected();
                let _mount = wire.rt.mount(TOPIC, spec, wire.now);
                wire.drain();
                let mount = wire.last("mount");
                wire.reply(&mount, "ok", json!({"root_id": ROOT}));
                wire.join_ref()
            }
            Mode::PerRoot => {
                wire.rt = Runtime::with_wire(SocketConfig::new("ws://h/socket"), WireMode::PerRoot);
                let _ = wire.rt.mount(TOPIC, spec, 0);
                wire.drain();
                wire.open();
                let join = wire.sent.iter().rev().find(|f| f.event == "phx_join" && f.topic == root_topic()).cloned().unwrap();
                wire.reply(&join, "ok", json!({"root_id": format!("{MODULE}:{ROOT}")}));
                join.join_ref
            }
        };
        let mut uploads = Uploads { wire, mode, root_join, version: 0 };
        uploads.envelope(json!([{"op": "replace", "path": "", "value": profile()}]), json!([
            {"op": "config", "upload": "avatar", "store_id": [], "config": {"accept": [".png"], "max_entries": 2, "max_file_size": 5_000_000, "chunk_size": 100}}
        ]));
        assert_eq!(uploads.wire.rt.root_status(TOPIC, ROOT), Some(RootStatus::Live));
        uploads
    }

    fn envelope_topic(&self) -> String {
        match self.mode {
            Mode::Connection => TOPIC.to_owned(),
            Mode::PerRoot => root_topic(),
        }
    }

    fn envelope(&mut self, ops: Value, upload_ops: Value) {
        let root_id = match self.mode {
            Mode::Connection => ROOT.to_owned(),
            Mode::PerRoot => format!("{MODULE}:{ROOT}"),
        };
        let envelope = json!({"type": "patch", "root_id": root_id, "base_version": self.version, "version": self.version + 1,
            "ops": ops, "stream_ops": [], "upload_ops": upload_ops, "events": []});
        self.version += 1;
        let topic = self.envelope_topic();
        self.wire.server(json!([self.root_join, null, topic, "patch", envelope]));
    }

    fn upload_ops(&mut self, ops: Value) {
        self.envelope(json!([]), ops);
    }

    /// The last `event` pushed on the root's upload channel, checked for the wire's addressing.
    pub(super) fn pushed(&self, event: &str) -> Frame {
        let frame = self.wire.sent.iter().rev().find(|f| f.event == event).cloned().unwrap_or_else(|| panic!("no {event}"));
        assert_eq!(frame.topic, self.envelope_topic(), "{event} rides the root's channel");
        let payload = Wire::payload(&frame);
        match self.mode {
            Mode::Connection => assert_eq!(payload["root_id"], ROOT),
            Mode::PerRoot => assert!(payload.get("root_id").is_none(), "no root_id per root (§6.1)"),
        }
        assert_eq!((payload["store_id"].clone(), payload["name"].clone()), (json!([]), json!("avatar")));
        frame
    }

    pub(super) fn view(&self) -> UploadView {
        self.wire.rt.upload_view(&target()).unwrap()
    }

    pub(super) fn select(&mut self, files: Vec<SelectedFile>) -> RequestId {
        let request = self.wire.rt.upload_select(&target(), files, self.wire.now);
        self.wire.drain();
        request
    }

    /// Selects one file and accepts it in channel mode as `ENTRY`.
    fn select_accepted(&mut self, size: u64) -> RequestId {
        let request = self.select(vec![file(1, "me.png", size)]);
        let preflight = self.pushed("allow_upload");
        self.wire.reply(
            &preflight,
            "ok",
            json!({"ref": "avatar",
            "config": {"accept": [".png"], "max_entries": 2, "max_file_size": 5_000_000, "chunk_size": 100},
            "entries": {"0": {"type": "channel", "entry_ref": ENTRY, "token": "tok"}}, "errors": []}),
        );
        self.add_op(ENTRY, size);
        request
    }

    fn add_op(&mut self, entry_ref: &str, size: u64) {
        self.upload_ops(json!([{"op": "add", "upload": "avatar", "store_id": [], "ref": entry_ref,
            "entry": {"ref": entry_ref, "client_name": "me.png", "client_size": size, "client_type": "image/png", "progress": 0, "status": "pending", "errors": []}}]));
    }

    pub(super) fn start(&mut self) -> RequestId {
        let request = self.wire.rt.upload_start(&target(), self.wire.now);
        self.wire.drain();
        request
    }

    /// Accepts the sub-channel join of `entry_ref`.
    fn join_upload(&mut self, entry_ref: &str) -> Frame {
        let join = self.wire.sent.iter().rev().find(|f| f.event == "phx_join" && f.topic == upload_topic(entry_ref)).cloned().unwrap();
        self.wire.reply(&join, "ok", json!({}));
        join
    }

    /// The reads asked for since the last call, answered in order (or not).
    pub(super) fn reads(&mut self) -> Vec<(ReadId, u64, u64)> {
        let reads = self
            .wire
            .events
            .iter()
            .filter_map(|event| match event {
                RuntimeEvent::ReadChunk { read, offset, len, .. } => Some((*read, *offset, *len)),
                _ => None,
            })
            .collect();
        self.wire.events.retain(|event| !matches!(event, RuntimeEvent::ReadChunk { .. }));
        reads
    }

    pub(super) fn answer_read(&mut self, read: ReadId, offset: u64, len: u64) {
        let bytes: Vec<u8> = (offset..offset + len).map(|i| (i % 251) as u8).collect();
        self.wire.rt.upload_read(read, Ok(bytes), self.wire.now);
        self.wire.drain();
    }

    /// The chunks sent on `entry_ref`'s sub-channel, unanswered ones last.
    fn chunks(&self, entry_ref: &str) -> Vec<Frame> {
        self.wire.sent.iter().filter(|f| f.topic == upload_topic(entry_ref) && f.event == "chunk").cloned().collect()
    }

    fn released(&self) -> Vec<FileId> {
        self.wire
            .events
            .iter()
            .filter_map(|event| match event {
                RuntimeEvent::ReleaseFile { file } => Some(*file),
                _ => None,
            })
            .collect()
    }

    /// Runs a whole channel upload of `size` bytes, answering reads at once and every chunk ok.
    fn upload_everything(&mut self, entry_ref: &str) -> Vec<u8> {
        let mut received = Vec::new();
        let mut answered = 0;
        loop {
            for (read, offset, len) in self.reads() {
                self.answer_read(read, offset, len);
            }
            let chunks = self.chunks(entry_ref);
            let Some(chunk) = chunks.get(answered).cloned() else { break };
            let Body::Message(Payload::Binary(bytes)) = &chunk.body else { panic!("chunks are binary pushes") };
            received.extend_from_slice(bytes);
            answered += 1;
            self.wire.reply(&chunk, "ok", json!({"progress": 50}));
        }
        received
    }
}

fn expected_bytes(size: u64) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

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

fn external(uploads: &mut Uploads) -> (RequestId, JobId, Value) {
    let select = uploads.select(vec![file(1, "doc.pdf", 1000)]);
    let preflight = uploads.pushed("allow_upload");
    uploads.wire.reply(&preflight, "ok", json!({"ref": "avatar", "entries": {"0": {"type": "external", "entry_ref": "u_ext", "uploader": "S3", "meta": {"url": "https://s3/x"}}}, "errors": []}));
    assert!(uploads.wire.settled(select).unwrap().is_ok());
    let start = uploads.start();
    let call = uploads.wire.events.iter().find_map(|event| match event {
        RuntimeEvent::StartExternal { job, file, uploader, meta, entry } => {
            Some((*job, *file, uploader.clone(), meta.clone(), entry.clone()))
        }
        _ => None,
    });
    let (job, file_id, uploader, meta, entry) = call.expect("the uploader is called");
    assert_eq!((file_id, uploader.as_str(), &*entry.entry_ref), (FileId(1), "S3", "u_ext"));
    (start, job, meta)
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
