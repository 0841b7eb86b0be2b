//! The scripted server of the upload tests (PROTOCOL.md §3.2–§3.8), in both wire modes: a mounted
//! `Demo.PageStore` root with an `avatar` upload, and the steps of a preflight, a sub-channel
//! join, reads and chunk replies.

use serde_json::{Value, json};

pub(super) use super::harness::{TOPIC, Wire};
use super::*;
use crate::phoenix::frame::{Body, Frame};
use crate::runtime::upload_transfer::{FileId, ReadId, SelectedFile, UploadView};

pub(super) const ROOT: &str = "profile";
pub(super) const MODULE: &str = "Demo.PageStore";
pub(super) const ENTRY: &str = "u_Q2hVbmtzLTE";

pub(super) fn profile() -> Value {
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

pub(super) const MODES: [Mode; 2] = [Mode::Connection, Mode::PerRoot];

pub(super) fn root_topic() -> String {
    format!("{TOPIC}:{MODULE}:{ROOT}")
}

pub(super) fn upload_topic(entry_ref: &str) -> String {
    format!("{UPLOAD_TOPIC_PREFIX}{entry_ref}")
}

pub(super) struct Uploads {
    pub(super) wire: Wire,
    pub(super) mode: Mode,
    /// The join_ref of the channel envelopes and upload pushes travel on.
    pub(super) root_join: Option<String>,
    pub(super) version: u64,
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

    pub(super) fn envelope_topic(&self) -> String {
        match self.mode {
            Mode::Connection => TOPIC.to_owned(),
            Mode::PerRoot => root_topic(),
        }
    }

    pub(super) fn envelope(&mut self, ops: Value, upload_ops: Value) {
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

    pub(super) fn upload_ops(&mut self, ops: Value) {
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
    pub(super) fn select_accepted(&mut self, size: u64) -> RequestId {
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

    pub(super) fn add_op(&mut self, entry_ref: &str, size: u64) {
        self.upload_ops(json!([{"op": "add", "upload": "avatar", "store_id": [], "ref": entry_ref,
            "entry": {"ref": entry_ref, "client_name": "me.png", "client_size": size, "client_type": "image/png", "progress": 0, "status": "pending", "errors": []}}]));
    }

    pub(super) fn start(&mut self) -> RequestId {
        let request = self.wire.rt.upload_start(&target(), self.wire.now);
        self.wire.drain();
        request
    }

    /// Accepts the sub-channel join of `entry_ref`.
    pub(super) fn join_upload(&mut self, entry_ref: &str) -> Frame {
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
    pub(super) fn chunks(&self, entry_ref: &str) -> Vec<Frame> {
        self.wire.sent.iter().filter(|f| f.topic == upload_topic(entry_ref) && f.event == "chunk").cloned().collect()
    }

    pub(super) fn released(&self) -> Vec<FileId> {
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
    pub(super) fn upload_everything(&mut self, entry_ref: &str) -> Vec<u8> {
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

pub(super) fn expected_bytes(size: u64) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Selects one file that the server accepts for the external uploader `S3`, starts it and
/// returns the start request, the uploader call and its meta.
pub(super) fn external(uploads: &mut Uploads) -> (RequestId, JobId, Value) {
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
