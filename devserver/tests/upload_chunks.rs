//! Host integration tests of the upload sub-channel (PROTOCOL.md §3.3–§3.4, §3.6) on
//! `Demo.ProfileStore`, over real WebSockets in both wire modes: binary chunk frames (replies,
//! `phx_close`, progress/complete ops, stored bytes), pipelined chunks, error paths, every kind of
//! termination, and `cancel_upload`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::{Duration, Instant};

use musubi_devserver::ServerConfig;
use serde_json::{Value, json};
use support::uploads::*;
use support::{config, start};

// ---- channel mode ------------------------------------------------------------------------------

both_modes!(a_channel_upload_replies_closes_and_completes);
async fn a_channel_upload_replies_closes_and_completes(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "full").await;
    let data = bytes(150_000, 1);
    let response = s.allow("avatar", json!([{"client_ref": "0", "name": "me.png", "size": 150_000, "type": "image/png"}])).await;
    let entry_ref = response["entries"]["0"]["entry_ref"].as_str().unwrap().to_owned();
    let token = response["entries"]["0"]["token"].as_str().unwrap().to_owned();
    s.envelope().await;
    let join_ref = s.join_upload_ok(&entry_ref, &token).await;

    // First chunk: the reply, then (the first progress op is never throttled) its envelope.
    assert_eq!(s.chunk_reply(&entry_ref, &join_ref, &data[..CHUNK]).await, ("ok".to_owned(), json!({"progress": 42})));
    let envelope = s.envelope().await;
    assert_eq!(
        (&envelope["ops"], &envelope["upload_ops"]),
        (&json!([]), &json!([entry_op("progress", &entry_ref, json!({"progress": 42}))]))
    );
    assert_eq!(stored(address, &entry_ref).await, Some((64_000, sha256_hex(&data[..CHUNK]))));

    let second = s.chunk(&entry_ref, &join_ref, &data[CHUNK..2 * CHUNK]).await;
    let third = s.chunk(&entry_ref, &join_ref, &data[2 * CHUNK..]).await;
    let frames = s.collect_until("the complete op", |frame| has_op(frame, "complete", &entry_ref)).await;
    let reply2 = position(&frames, "reply 2", |frame| is_reply(frame, &entry_ref, &second));
    let reply3 = position(&frames, "reply 3", |frame| is_reply(frame, &entry_ref, &third));
    assert_eq!(frames[reply2][4], json!({"status": "ok", "response": {"progress": 85}}));
    assert_eq!(frames[reply3][4], json!({"status": "ok", "response": {"progress": 100}}));
    assert!(reply2 < reply3);
    // phx_close follows the last reply, then the envelope of that chunk's cycle.
    assert_eq!(frames[reply3 + 1], json!([join_ref, join_ref, upload_topic(&entry_ref), "phx_close", {}]));
    assert_eq!(frames.len(), reply3 + 3, "{frames:?}");
    let complete = &frames[reply3 + 2][4];
    let url = format!("/_uploads/{entry_ref}");
    let file = json!({"upload": "avatar", "ref": entry_ref, "name": "me.png", "size": 150_000, "url": url});
    let mut ops = complete["ops"].as_array().unwrap().clone();
    ops.sort_by_key(|op| op["path"].as_str().unwrap().to_owned());
    assert_eq!(
        ops,
        [json!({"op": "replace", "path": "/avatar_url", "value": url}), json!({"op": "add", "path": "/files/0", "value": file})]
    );
    let upload_ops = complete["upload_ops"].as_array().unwrap();
    assert_eq!(upload_ops.last().unwrap(), &entry_op("complete", &entry_ref, json!({})));
    assert!(upload_ops[..upload_ops.len() - 1].iter().all(|op| op["op"] == "progress"), "{complete}");

    assert_eq!(stored(address, &entry_ref).await, Some((150_000, sha256_hex(&data))));
    let listed = entries(address, "full").await;
    assert_eq!(
        listed,
        [
            json!({"upload": "avatar", "store_id": [], "ref": entry_ref, "mode": "channel", "status": "success", "progress": 100, "bytes": 150_000})
        ]
    );
    let served = http_raw(address, "GET", &url, "", b"").await;
    assert_eq!(served.status, 200);
    assert!(served.headers.contains("content-type: image/png"), "{}", served.headers);
    assert_eq!(served.body, data);
    // The sub-channel is gone and no cancel follows its normal end.
    s.expect_silence(150).await;
    let (_, reply) = s.join_upload(&entry_ref, json!({"token": token})).await;
    assert_eq!(reply, ("error".to_owned(), json!({"reason": "unauthorized"})));
}

both_modes!(pipelined_chunks_are_accepted_in_order);
async fn pipelined_chunks_are_accepted_in_order(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "pipe").await;
    let data = bytes(4 * CHUNK, 7);
    let (entry_ref, token) = s.allow_one("archive", "big.bin", data.len() as u64).await;
    let join_ref = s.join_upload_ok(&entry_ref, &token).await;
    let mut refs = Vec::new();
    for chunk in data.chunks(CHUNK) {
        refs.push(s.chunk(&entry_ref, &join_ref, chunk).await);
    }
    let frames = s.collect_until("the complete op", |frame| has_op(frame, "complete", &entry_ref)).await;
    let replies: Vec<Value> =
        refs.iter().map(|msg_ref| frames[position(&frames, "a reply", |frame| is_reply(frame, &entry_ref, msg_ref))][4].clone()).collect();
    let expected: Vec<Value> =
        [25, 50, 75, 100].iter().map(|progress| json!({"status": "ok", "response": {"progress": progress}})).collect();
    assert_eq!(replies, expected);
    let positions: Vec<usize> =
        refs.iter().map(|msg_ref| position(&frames, "a reply", |frame| is_reply(frame, &entry_ref, msg_ref))).collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{positions:?}");
    assert!(is_control(&frames[positions[3] + 1], &entry_ref, "phx_close"));
    // Progress ops only grow.
    let progress: Vec<u64> = frames
        .iter()
        .filter(|frame| frame[3] == "patch")
        .flat_map(|frame| frame[4]["upload_ops"].as_array().unwrap().clone())
        .filter(|op| op["op"] == "progress")
        .map(|op| op["progress"].as_u64().unwrap())
        .collect();
    assert!(progress.windows(2).all(|pair| pair[0] < pair[1]) && progress[0] == 25, "{progress:?}");
    assert_eq!(stored(address, &entry_ref).await, Some((data.len() as u64, sha256_hex(&data))));
    s.expect_silence(100).await;
}

both_modes!(a_chunk_over_chunk_size_fails_the_entry);
async fn a_chunk_over_chunk_size_fails_the_entry(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "chunky").await;
    let (entry_ref, token) = s.allow_one("avatar", "a.png", 100_000).await;
    let join_ref = s.join_upload_ok(&entry_ref, &token).await;
    let reply = s.chunk_reply(&entry_ref, &join_ref, &bytes(CHUNK + 1, 2)).await;
    assert_eq!(reply, ("error".to_owned(), json!({"reason": "chunk too large"})));
    s.expect_control(&entry_ref, &join_ref, "phx_close").await;
    let envelope = s.envelope().await;
    let error = json!({"code": "chunk_too_large", "message": "chunk size exceeded the configured limit"});
    assert_eq!(envelope["upload_ops"], json!([entry_op("error", &entry_ref, json!({"error": error}))]));
    s.expect_silence(150).await;
    assert_eq!(entries(address, "chunky").await[0]["status"], "error");
    assert_eq!(stored(address, &entry_ref).await, Some((0, sha256_hex(b""))));
}

#[tokio::test]
async fn bytes_beyond_max_file_size_fail_the_entry() {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, Mode::Connection, "huge").await;
    let (entry_ref, token) = s.allow_one("avatar", "a.png", 5_000_000).await;
    let join_ref = s.join_upload_ok(&entry_ref, &token).await;
    let chunk = bytes(CHUNK, 3);
    let mut refs = Vec::new();
    // 78 chunks (4 992 000 bytes) fit; the 79th would make 5 056 000 > 5 000 000.
    for _ in 0..79 {
        refs.push(s.chunk(&entry_ref, &join_ref, &chunk).await);
    }
    let frames = s.collect_until("the error op", |frame| has_op(frame, "error", &entry_ref)).await;
    let last = position(&frames, "the last reply", |frame| is_reply(frame, &entry_ref, &refs[78]));
    assert_eq!(frames[last][4], json!({"status": "error", "response": {"reason": "upload too large"}}));
    let before = position(&frames, "reply 78", |frame| is_reply(frame, &entry_ref, &refs[77]));
    assert_eq!(frames[before][4], json!({"status": "ok", "response": {"progress": 99}}));
    assert!(is_control(&frames[last + 1], &entry_ref, "phx_close"));
    let error_op = frames.last().unwrap()[4]["upload_ops"].as_array().unwrap().iter().find(|op| op["op"] == "error").unwrap().clone();
    assert_eq!(error_op["error"], json!({"code": "too_large", "message": "file exceeds the maximum size"}));
    assert_eq!(stored(address, &entry_ref).await.unwrap().0, 78 * CHUNK as u64);
    s.expect_silence(100).await;
}

both_modes!(a_non_binary_chunk_or_another_event_crashes_and_cancels);
async fn a_non_binary_chunk_or_another_event_crashes_and_cancels(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "crash").await;
    let (entry_ref, token) = s.allow_one("avatar", "a.png", 100_000).await;
    let join_ref = s.join_upload_ok(&entry_ref, &token).await;
    assert_eq!(s.chunk_reply(&entry_ref, &join_ref, &bytes(CHUNK, 4)).await.0, "ok");
    s.envelope().await;
    let msg_ref = s.next_ref();
    s.client.send(json!([join_ref, msg_ref, upload_topic(&entry_ref), "chunk", {"bytes": "AAAA"}])).await;
    s.expect_control(&entry_ref, &join_ref, "phx_error").await;
    let envelope = s.envelope().await;
    assert_eq!(envelope["upload_ops"], json!([entry_op("cancel", &entry_ref, json!({}))]));
    assert_eq!(stored(address, &entry_ref).await, None);
    assert!(entries(address, "crash").await.is_empty());

    // Any other event, even binary.
    let (entry_ref, token) = s.allow_one("avatar", "b.png", 100_000).await;
    let join_ref = s.join_upload_ok(&entry_ref, &token).await;
    let msg_ref = s.next_ref();
    s.client.send(json!([join_ref, msg_ref, upload_topic(&entry_ref), "done", {}])).await;
    s.expect_control(&entry_ref, &join_ref, "phx_error").await;
    assert_eq!(s.envelope().await["upload_ops"][0]["op"], "cancel");
    s.expect_silence(100).await;
}

#[tokio::test]
async fn a_silent_sub_channel_times_out_and_each_chunk_rearms_the_watchdog() {
    let timeout = Duration::from_millis(500);
    let address = start(ServerConfig { upload_chunk_timeout: timeout, ..config() }).await;
    let (mut s, _) = Session::open(address, Mode::PerRoot, "slow").await;
    let (entry_ref, token) = s.allow_one("avatar", "a.png", 200_000).await;
    let join_ref = s.join_upload_ok(&entry_ref, &token).await;
    // Two chunks 300 ms apart: the second comes 600 ms after the join, past the first deadline.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(s.chunk_reply(&entry_ref, &join_ref, &bytes(CHUNK, 5)).await.0, "ok");
        s.find_envelope().await;
    }
    let last_chunk = Instant::now();
    // No reply: phx_close, then the error op.
    s.expect_control(&entry_ref, &join_ref, "phx_close").await;
    assert!(last_chunk.elapsed() >= Duration::from_millis(400), "timed out after {:?}", last_chunk.elapsed());
    let envelope = s.envelope().await;
    let error = json!({"code": "chunk_timeout", "message": "upload timed out between chunks"});
    assert_eq!(envelope["upload_ops"], json!([entry_op("error", &entry_ref, json!({"error": error}))]));
    assert_eq!(entries(address, "slow").await[0]["status"], "error");
    s.expect_silence(100).await;

    // A zero-byte file sends no chunk at all: it times out too.
    let (entry_ref, token) = s.allow_one("avatar", "empty.png", 0).await;
    let join_ref = s.join_upload_ok(&entry_ref, &token).await;
    s.expect_control(&entry_ref, &join_ref, "phx_close").await;
    assert_eq!(s.envelope().await["upload_ops"][0]["error"]["code"], "chunk_timeout");
}

both_modes!(leaving_mid_way_deletes_the_file_and_cancels);
async fn leaving_mid_way_deletes_the_file_and_cancels(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "leave").await;
    let (entry_ref, token) = s.allow_one("avatar", "a.png", 100_000).await;
    let join_ref = s.join_upload_ok(&entry_ref, &token).await;
    assert_eq!(s.chunk_reply(&entry_ref, &join_ref, &bytes(CHUNK, 6)).await.0, "ok");
    s.envelope().await;
    assert!(stored(address, &entry_ref).await.is_some());
    let msg_ref = s.next_ref();
    s.client.send(json!([join_ref, msg_ref, upload_topic(&entry_ref), "phx_leave", {}])).await;
    assert_eq!(s.reply_on(&upload_topic(&entry_ref), &msg_ref).await, ("ok".to_owned(), json!({})));
    s.expect_control(&entry_ref, &join_ref, "phx_close").await;
    assert_eq!(s.envelope().await["upload_ops"], json!([entry_op("cancel", &entry_ref, json!({}))]));
    assert_eq!(stored(address, &entry_ref).await, None);
    assert!(entries(address, "leave").await.is_empty());
    s.expect_silence(100).await;
}

#[tokio::test]
async fn a_transport_loss_mid_way_cancels_for_every_subscriber() {
    let address = start(config()).await;
    let (mut a, _) = Session::open(address, Mode::Connection, "shared").await;
    let (mut b, initial) = Session::open(address, Mode::PerRoot, "shared").await;
    assert_eq!(initial["upload_ops"].as_array().unwrap().len(), 3);
    let (entry_ref, token) = a.allow_one("avatar", "a.png", 100_000).await;
    assert_eq!(b.envelope().await["upload_ops"][0]["op"], "add");
    let join_ref = a.join_upload_ok(&entry_ref, &token).await;
    assert_eq!(a.chunk_reply(&entry_ref, &join_ref, &bytes(CHUNK, 8)).await.0, "ok");
    assert_eq!(b.envelope().await["upload_ops"], json!([entry_op("progress", &entry_ref, json!({"progress": 64}))]));
    drop(a);
    assert_eq!(b.envelope().await["upload_ops"], json!([entry_op("cancel", &entry_ref, json!({}))]));
    assert_eq!(stored(address, &entry_ref).await, None);
    assert!(entries(address, "shared").await.is_empty());
    b.expect_silence(100).await;
}

both_modes!(cancel_upload_crashes_the_sub_channel_and_removes_the_entry);
async fn cancel_upload_crashes_the_sub_channel_and_removes_the_entry(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "cancel").await;
    let (entry_ref, token) = s.allow_one("avatar", "a.png", 100_000).await;
    let join_ref = s.join_upload_ok(&entry_ref, &token).await;
    assert_eq!(s.chunk_reply(&entry_ref, &join_ref, &bytes(CHUNK, 9)).await.0, "ok");
    s.envelope().await;
    let msg_ref = s.push("cancel_upload", json!({"store_id": [], "name": "avatar", "ref": entry_ref})).await;
    let topic = s.topic.clone();
    let frames = s.collect_until("the cancel op", |frame| has_op(frame, "cancel", &entry_ref)).await;
    assert_eq!(frames.len(), 3, "{frames:?}");
    let reply = position(&frames, "the reply", |frame| frame[2] == json!(topic) && frame[1] == json!(msg_ref));
    assert_eq!(frames[reply][4], json!({"status": "ok", "response": {}}));
    let crashed = position(&frames, "phx_error", |frame| is_control(frame, &entry_ref, "phx_error"));
    assert_eq!(frames[crashed], json!([join_ref, join_ref, upload_topic(&entry_ref), "phx_error", {}]));
    assert_eq!(frames[2][4]["upload_ops"], json!([entry_op("cancel", &entry_ref, json!({}))]));
    assert_eq!(stored(address, &entry_ref).await, None);
    assert!(entries(address, "cancel").await.is_empty());
    // Nothing more: the crashed sub-channel does not cancel again; cancelling again is a no-op.
    s.expect_silence(100).await;
    assert_eq!(s.request("cancel_upload", json!({"store_id": [], "name": "avatar", "ref": entry_ref})).await, ("ok".to_owned(), json!({})));
    s.expect_silence(100).await;

    // A pending entry (no sub-channel yet) is cancelled the same way and frees its slot.
    let (first, _) = s.allow_one("avatar", "b.png", 1).await;
    s.allow_one("avatar", "c.png", 1).await;
    assert_eq!(s.request("cancel_upload", json!({"store_id": [], "name": "avatar", "ref": first})).await.0, "ok");
    assert_eq!(s.envelope().await["upload_ops"][0]["op"], "cancel");
    s.allow_one("avatar", "d.png", 1).await;
}
