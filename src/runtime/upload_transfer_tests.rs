//! The chunk window and the merged view.

use super::*;
use crate::phoenix::PushId;

fn counter() -> impl FnMut() -> u64 {
    let mut n = 0;
    move || {
        n += 1;
        n
    }
}

#[test]
fn a_window_reads_ahead_by_its_limit_and_sends_in_offset_order() {
    let mut window = ChunkWindow::new(250, 100, 3);
    let mut ids = counter();
    let reads = window.wanted(&mut ids);
    assert_eq!(reads.iter().map(|r| (r.offset, r.len)).collect::<Vec<_>>(), vec![(0, 100), (100, 100), (200, 50)]);
    // The second and third reads finish first: nothing may go out before the first chunk.
    assert_eq!(window.fill(reads[2].read, vec![3; 50]), Ok(true));
    assert_eq!(window.fill(reads[1].read, vec![2; 100]), Ok(true));
    let mut pushed: Vec<Vec<u8>> = Vec::new();
    let mut next_push = 10;
    let mut push = |bytes: Vec<u8>| -> Result<PushId, ()> {
        pushed.push(bytes);
        next_push += 1;
        Ok(PushId(next_push))
    };
    window.send_ready(&mut push).unwrap();
    assert_eq!(window.sent_offsets(), Vec::<u64>::new(), "chunks go out in offset order only");
    assert_eq!(window.fill(reads[0].read, vec![1; 100]), Ok(true));
    window.send_ready(&mut push).unwrap();
    assert_eq!(pushed.iter().map(|bytes| bytes[0]).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(window.sent_offsets(), vec![0, 100, 200]);
    assert!(window.wanted(&mut ids).is_empty(), "the whole file is in flight");
    assert!(window.acknowledge(PushId(11)) && window.acknowledge(PushId(12)));
    assert!(!window.is_done());
    assert!(window.acknowledge(PushId(13)));
    assert!(window.is_done());
    assert_eq!(window.acked(), 250);
    assert!(!window.acknowledge(PushId(13)), "a reply is counted once");
}

#[test]
fn a_window_of_one_is_stop_and_wait() {
    let mut window = ChunkWindow::new(300, 100, 1);
    let mut ids = counter();
    let mut offsets = Vec::new();
    let mut push_id = 0;
    while !window.is_done() {
        let reads = window.wanted(&mut ids);
        assert_eq!(reads.len(), 1, "one chunk between request and reply");
        offsets.push(reads[0].offset);
        window.fill(reads[0].read, vec![0; usize::try_from(reads[0].len).unwrap()]).unwrap();
        push_id += 1;
        window.send_ready(|_| Ok::<_, ()>(PushId(push_id))).unwrap();
        assert!(window.wanted(&mut ids).is_empty());
        assert!(window.acknowledge(PushId(push_id)));
    }
    assert_eq!(offsets, vec![0, 100, 200]);
}

#[test]
fn a_zero_byte_file_sends_one_empty_chunk() {
    let mut window = ChunkWindow::new(0, 100, 4);
    let reads = window.wanted(&mut counter());
    assert_eq!(reads.iter().map(|r| (r.offset, r.len)).collect::<Vec<_>>(), vec![(0, 0)]);
    assert!(!window.is_done());
    window.fill(reads[0].read, Vec::new()).unwrap();
    window.send_ready(|bytes| if bytes.is_empty() { Ok(PushId(1)) } else { Err(()) }).unwrap();
    assert!(window.acknowledge(PushId(1)) && window.is_done());
}

#[test]
fn a_read_of_the_wrong_length_or_an_unknown_read_is_refused() {
    let mut window = ChunkWindow::new(10, 4, 2);
    let reads = window.wanted(&mut counter());
    assert_eq!(window.fill(reads[0].read, vec![0; 3]), Err(ReadMismatch { expected: 4, received: 3 }));
    assert_eq!(window.fill(ReadId(99), vec![0; 4]), Ok(false));
}

#[test]
fn hostile_chunk_sizes_and_windows_are_clamped() {
    let mut window = ChunkWindow::new(u64::MAX, u64::MAX, usize::MAX);
    let reads = window.wanted(&mut counter());
    assert_eq!(reads.len(), MAX_WINDOW);
    assert!(reads.iter().all(|read| read.len == MAX_CHUNK_SIZE));
    let mut tiny = ChunkWindow::new(3, 0, 0);
    assert_eq!(tiny.wanted(&mut counter()).len(), 1, "chunk 0 is 1 byte, window 0 is 1");
}

fn local(client_ref: &str, entry_ref: &str, phase: Phase) -> LocalEntry {
    let file = SelectedFile { file: FileId(1), name: "me.png".into(), size: 10, mime: "image/png".into() };
    LocalEntry { phase, ..LocalEntry::accepted(client_ref.into(), entry_ref.into(), file, EntryMode::Channel { token: None }) }
}

fn server_entry(entry_ref: &str, progress: f64, status: &str) -> UploadEntry {
    UploadEntry {
        entry_ref: entry_ref.into(),
        client_name: "other.png".into(),
        client_size: 20,
        client_type: "image/png".into(),
        progress,
        status: status.into(),
        errors: Vec::new(),
    }
}

#[test]
fn the_view_merges_the_servers_entries_into_the_clients() {
    let mut transfer = Transfer::default();
    transfer.entries.push(local("0", "u1", Phase::Sending));
    transfer.entries.push(local("1", "u2", Phase::Ready));
    let mut failed = local("2", "u3", Phase::Ready);
    failed.fail("disconnected", "the connection dropped", true);
    transfer.entries.push(failed);
    transfer.retired.push("u_old".into());
    let server = UploadHandle {
        entries: vec![
            server_entry("u1", 40.0, "uploading"),
            server_entry("u3", 20.0, "uploading"),
            server_entry("u_other_tab", 100.0, "success"),
            server_entry("u_old", 10.0, "uploading"),
        ],
        ..UploadHandle::default()
    };
    let view = transfer.view(Some(&server));
    let rows: Vec<(&str, f64, &str)> = view.entries.iter().map(|e| (&*e.entry_ref, e.progress, e.status.as_str())).collect();
    assert_eq!(
        rows,
        vec![("u1", 40.0, "uploading"), ("u2", 0.0, "pending"), ("u3", 20.0, "error"), ("u_other_tab", 100.0, "success")],
        "local entries first with the server's progress, a local error wins, retired refs are hidden"
    );
    assert_eq!(view.entries[2].errors[0].code, "disconnected");
    assert_eq!(view.progress, 40, "(40 + 0 + 20 + 100) / 4");
    assert_eq!(view.config, default_config(), "no config yet: the reference defaults");
}

#[test]
fn finished_status_is_error_then_cancelled_then_success() {
    let mut transfer = Transfer::default();
    transfer.entries.push(local("0", "u1", Phase::Done));
    assert_eq!(transfer.finished_status(None), UploadStatus::Success);
    transfer.entries.push(local("1", "u2", Phase::Failed { retry: false }));
    assert_eq!(transfer.finished_status(None), UploadStatus::Error);
    let cancelled = Transfer { cancelled_in_run: true, ..Transfer::default() };
    assert_eq!(cancelled.finished_status(None), UploadStatus::Cancelled);
}
