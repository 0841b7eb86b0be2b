//! Host integration tests of uploads (PROTOCOL.md §3) on `Demo.ProfileStore`, over real
//! WebSockets in both wire modes: `config` ops, preflight replies and errors, signed tokens,
//! external mode with `PUT /_uploads/<ref>`, and the store's own reaction (`files`,
//! `avatar_url`, `clear`). The sub-channel transfer is in `upload_chunks.rs`; progress
//! coalescing and throttling are unit-tested in `upload::emission`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use serde_json::{Value, json};
use support::uploads::*;
use support::{config, post, start};

// ---- config ops ------------------------------------------------------------------------------

both_modes!(initial_envelopes_carry_a_config_op_per_upload);
async fn initial_envelopes_carry_a_config_op_per_upload(mode: Mode) {
    let address = start(config()).await;
    let (_first, initial) = Session::open(address, mode, "cfg").await;
    let tree = json!({
        "__musubi_store_id__": [], "name": "Profile",
        "avatar": {"__musubi_upload__": "avatar"}, "document": {"__musubi_upload__": "document"},
        "archive": {"__musubi_upload__": "archive"}, "avatar_url": null, "files": [],
    });
    assert_eq!(initial["ops"], json!([{"op": "replace", "path": "", "value": tree}]));
    let configs = json!([
        config_op("avatar", json!([".png", ".jpg"]), 2, 5_000_000),
        config_op("document", json!("any"), 3, 10_000_000),
        config_op("archive", json!("any"), 1, 64_000_000),
    ]);
    assert_eq!(initial["upload_ops"], configs);
    // A second subscriber of the same page, in the other wire mode, gets them too.
    let other = if mode == Mode::Connection { Mode::PerRoot } else { Mode::Connection };
    let (_second, again) = Session::open(address, other, "cfg").await;
    assert_eq!(again["upload_ops"], configs);
}

// ---- preflight ---------------------------------------------------------------------------------

both_modes!(preflight_replies_then_the_add_op_follows);
async fn preflight_replies_then_the_add_op_follows(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "pre").await;
    let response = s.allow("avatar", json!([{"client_ref": "0", "name": "me.png", "size": 100_000, "type": "image/png"}])).await;
    assert_eq!(response["ref"], "avatar");
    assert_eq!(response["config"], json!({"accept": [".png", ".jpg"], "max_entries": 2, "max_file_size": 5_000_000, "chunk_size": 64_000}));
    assert_eq!(response["errors"], json!([]));
    let entries_map = response["entries"].as_object().unwrap();
    assert_eq!(entries_map.keys().collect::<Vec<_>>(), ["0"]);
    let entry = &response["entries"]["0"];
    assert_eq!(entry.as_object().unwrap().len(), 3, "{entry}");
    assert_eq!(entry["type"], "channel");
    let entry_ref = entry["entry_ref"].as_str().unwrap();
    assert!(entry_ref.starts_with("u_") && entry_ref.len() == 13, "{entry_ref}");
    assert!(entry_ref[2..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{entry_ref}");
    let token = entry["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 2, "{token}");
    // The envelope of the preflight's cycle is the very next frame.
    let envelope = s.envelope().await;
    assert_eq!((&envelope["ops"], &envelope["stream_ops"], &envelope["events"]), (&json!([]), &json!([]), &json!([])));
    let add = entry_op(
        "add",
        entry_ref,
        json!({"entry": {"ref": entry_ref, "client_name": "me.png", "client_size": 100_000,
        "client_type": "image/png", "progress": 0, "status": "pending", "errors": []}}),
    );
    assert_eq!(envelope["upload_ops"], json!([add]));

    // A single entry object is a one-element list; `type` defaults to "".
    let response = s.allow("avatar", json!({"client_ref": "7", "name": "two.jpg", "size": 5})).await;
    let second = response["entries"]["7"]["entry_ref"].as_str().unwrap().to_owned();
    assert_ne!(second, entry_ref);
    let envelope = s.envelope().await;
    assert_eq!(envelope["upload_ops"][0]["entry"]["client_type"], "");
    let listed: Vec<Value> = entries(address, "pre").await.iter().map(|entry| entry["status"].clone()).collect();
    assert_eq!(listed, [json!("pending"), json!("pending")]);
    s.expect_silence(100).await;
}

both_modes!(preflight_routing_errors_are_refusals);
async fn preflight_routing_errors_are_refusals(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "route").await;
    let one = json!([{"client_ref": "0", "name": "a.png", "size": 1}]);
    let mut cases = vec![
        ("allow_upload", json!({"store_id": [], "entries": one}), "missing required field"),
        ("allow_upload", json!({"store_id": [], "name": "", "entries": one}), "missing required field"),
        ("allow_upload", json!({"store_id": [], "name": 3, "entries": one}), "missing required field"),
        ("allow_upload", json!({"store_id": ["x"], "name": "avatar", "entries": one}), "unknown store"),
        ("allow_upload", json!({"store_id": [], "name": "nope", "entries": one}), "unknown upload"),
        ("allow_upload", json!({"store_id": [], "name": "avatar", "entries": [1]}), "invalid entries"),
        ("allow_upload", json!({"store_id": [], "name": "avatar", "entries": [{"client_ref": "0"}, "x"]}), "invalid entries"),
        ("allow_upload", json!({"store_id": [], "name": "avatar", "entries": "x"}), "invalid entries"),
        ("allow_upload", json!({"store_id": [], "name": "avatar", "entries": null}), "invalid entries"),
        ("cancel_upload", json!({"store_id": [], "name": "avatar"}), "missing required field"),
        ("cancel_upload", json!({"store_id": [], "name": "avatar", "ref": ""}), "missing required field"),
        ("cancel_upload", json!({"store_id": [], "name": "nope", "ref": "u_x"}), "unknown upload"),
        ("upload_progress", json!({"store_id": [], "name": "document", "progress": 5}), "missing required field"),
        ("upload_progress", json!({"store_id": ["x"], "name": "document", "ref": "u_x"}), "unknown store"),
        ("upload_error", json!({"store_id": [], "ref": "u_x"}), "missing required field"),
        ("upload_error", json!({"store_id": [], "name": "nope", "ref": "u_x"}), "unknown upload"),
    ];
    if mode == Mode::Connection {
        cases.push(("allow_upload", json!({"root_id": "", "store_id": [], "name": "avatar", "entries": one}), "missing required field"));
        cases.push(("allow_upload", json!({"root_id": 5, "store_id": [], "name": "avatar", "entries": one}), "missing required field"));
        cases.push(("allow_upload", json!({"root_id": "nope", "store_id": [], "name": "avatar", "entries": one}), "unknown root"));
        cases.push(("upload_error", json!({"root_id": "nope", "name": "avatar", "ref": "r"}), "unknown root"));
        // root_id is checked before name.
        cases.push(("allow_upload", json!({"root_id": "nope", "entries": one}), "missing required field"));
    }
    for (event, payload, reason) in cases {
        s.refused(event, payload, reason).await;
    }
    // A non-array store_id counts as []; no entries → nothing accepted, no envelope.
    let response = s.allow("avatar", json!([])).await;
    assert_eq!(response["entries"], json!({}));
    let (status, response) = s.request("allow_upload", json!({"store_id": "x", "name": "avatar"})).await;
    assert_eq!((status.as_str(), &response["errors"]), ("ok", &json!([])));
    s.expect_silence(100).await;
    assert!(entries(address, "route").await.is_empty());
}

both_modes!(per_entry_checks_report_their_codes_in_order);
async fn per_entry_checks_report_their_codes_in_order(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "codes").await;
    let response = s
        .allow(
            "avatar",
            json!([
                {"name": "a.png", "size": 1},
                {"client_ref": "", "name": "a.png", "size": 1},
                {"client_ref": 4, "name": "a.png", "size": 1},
                {"client_ref": "n1", "size": 1},
                {"client_ref": "n2", "name": "", "size": 1},
                {"client_ref": "s1", "name": "a.png", "size": -1},
                {"client_ref": "s2", "name": "a.png", "size": 1.5},
                {"client_ref": "s3", "name": "a.png"},
                {"client_ref": "big", "name": "a.png", "size": 5_000_001},
                {"client_ref": "big_gif", "name": "a.gif", "size": 5_000_001},
                {"client_ref": "gif", "name": "a.gif", "size": 1},
                {"client_ref": "dot", "name": ".png", "size": 1},
                {"client_ref": "ok1", "name": "A.PNG", "size": 1, "type": "image/png"},
                {"client_ref": "ok2", "name": "b.jpg", "size": 0},
                {"client_ref": "more", "name": "c.gif", "size": 9_999_999},
                {"size": 1},
            ]),
        )
        .await;
    let error =
        |client_ref: &str, code: &str, message: &str| json!({"client_ref": client_ref, "error": {"code": code, "message": message}});
    let rejected = "upload was rejected";
    assert_eq!(
        response["errors"],
        json!([
            error("", "preflight_rejected", rejected),
            error("", "preflight_rejected", rejected),
            error("", "preflight_rejected", rejected),
            error("n1", "preflight_rejected", rejected),
            error("n2", "preflight_rejected", rejected),
            error("s1", "preflight_rejected", rejected),
            error("s2", "preflight_rejected", rejected),
            error("s3", "preflight_rejected", rejected),
            error("big", "too_large", "file exceeds the maximum size"),
            error("big_gif", "too_large", "file exceeds the maximum size"),
            error("gif", "not_accepted", "file type is not accepted"),
            error("dot", "not_accepted", "file type is not accepted"),
            error("more", "too_many_files", "too many files selected"),
            error("", "preflight_rejected", rejected),
        ])
    );
    let accepted: Vec<&String> = response["entries"].as_object().unwrap().keys().collect();
    assert_eq!(accepted, ["ok1", "ok2"]);
    let envelope = s.envelope().await;
    let names: Vec<Value> = envelope["upload_ops"].as_array().unwrap().iter().map(|op| op["entry"]["client_name"].clone()).collect();
    assert_eq!(names, [json!("A.PNG"), json!("b.jpg")]);

    // Existing entries count: the upload is full.
    let response = s.allow("avatar", json!([{"client_ref": "0", "name": "d.png", "size": 1}])).await;
    assert_eq!(response["errors"], json!([error("0", "too_many_files", "too many files selected")]));
    assert_eq!(response["entries"], json!({}));
    // Other uploads have their own counts; archive takes one.
    let response =
        s.allow("archive", json!([{"client_ref": "0", "name": "x", "size": 1}, {"client_ref": "1", "name": "y", "size": 1}])).await;
    assert_eq!(response["errors"], json!([error("1", "too_many_files", "too many files selected")]));
    s.envelope().await;
    s.expect_silence(100).await;
}

// ---- tokens ------------------------------------------------------------------------------------

both_modes!(sub_channel_joins_need_a_genuine_fresh_token_for_the_topic);
async fn sub_channel_joins_need_a_genuine_fresh_token_for_the_topic(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "tok").await;
    let (a_ref, a_token) = s.allow_one("avatar", "a.png", 10).await;
    let (b_ref, b_token) = s.allow_one("avatar", "b.png", 10).await;
    let (a_payload, _) = a_token.split_once('.').unwrap();
    let (_, b_mac) = b_token.split_once('.').unwrap();
    let unauthorized = ("error".to_owned(), json!({"reason": "unauthorized"}));
    let cases = [
        (a_ref.as_str(), json!({})),
        (a_ref.as_str(), json!({"token": 5})),
        (a_ref.as_str(), json!({"token": null})),
        (a_ref.as_str(), json!({"token": "garbage"})),
        (a_ref.as_str(), json!({"token": format!("{a_payload}.{b_mac}")})),
        (a_ref.as_str(), json!({"token": format!("{a_payload}x.{b_mac}")})),
        (a_ref.as_str(), json!("not an object")),
        // Another entry's genuine token.
        (a_ref.as_str(), json!({"token": b_token})),
        ("u_AAAAAAAAAAA", json!({"token": a_token})),
        // No ref after the prefix.
        ("", json!({"token": a_token})),
    ];
    for (entry_ref, payload) in cases {
        let (_, reply) = s.join_upload(entry_ref, payload.clone()).await;
        assert_eq!(reply, unauthorized, "{entry_ref} {payload}");
    }
    // An entry that is gone: cancelled.
    assert_eq!(s.request("cancel_upload", json!({"store_id": [], "name": "avatar", "ref": a_ref})).await, ("ok".to_owned(), json!({})));
    assert!(has_op(&json!([null, null, null, "patch", s.envelope().await]), "cancel", &a_ref));
    let (_, reply) = s.join_upload(&a_ref, json!({"token": a_token})).await;
    assert_eq!(reply, unauthorized);

    // Expired: the token clock moves past 600 s. Tokens issued after that are fresh again.
    assert_eq!(post(address, "/_test/upload_clock?advance_ms=600001").await, json!({"offset_ms": 600_001}));
    let (_, reply) = s.join_upload(&b_ref, json!({"token": b_token})).await;
    assert_eq!(reply, unauthorized);
    let (c_ref, c_token) = s.allow_one("archive", "c.bin", 10).await;
    s.join_upload_ok(&c_ref, &c_token).await;
    s.expect_silence(100).await;
}

// ---- external mode -----------------------------------------------------------------------------

both_modes!(external_uploads_put_then_report_progress_and_errors);
async fn external_uploads_put_then_report_progress_and_errors(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "ext").await;
    let response = s
        .allow(
            "document",
            json!([
                {"client_ref": "0", "name": "doc.txt", "size": 11, "type": "text/plain"},
                {"client_ref": "1", "name": "fail.txt", "size": 3},
                {"client_ref": "2", "name": "big.bin", "size": 10},
            ]),
        )
        .await;
    let refs: Vec<String> = (0..3).map(|i| response["entries"][i.to_string()]["entry_ref"].as_str().unwrap().to_owned()).collect();
    let url = format!("/_uploads/{}", refs[0]);
    assert_eq!(
        response["entries"]["0"],
        json!({"type": "external", "entry_ref": refs[0], "uploader": "demo-http", "meta": {"url": url, "method": "PUT"}})
    );
    let envelope = s.envelope().await;
    assert_eq!(envelope["upload_ops"].as_array().unwrap().len(), 3);
    assert_eq!(envelope["upload_ops"][0]["upload"], "document");

    let put = http_raw(address, "PUT", &url, "Origin: http://example.test\r\n", b"hello world").await;
    assert_eq!((put.status, put.json()), (200, json!({"ref": refs[0], "size": 11})));
    assert!(put.headers.contains("access-control-allow-origin"), "{}", put.headers);
    let progress = |entry_ref: &str, progress: Value| json!({"store_id": [], "name": "document", "ref": entry_ref, "progress": progress});
    let document_op = |op: &str, entry_ref: &str, extra: Value| {
        let mut value = entry_op(op, entry_ref, extra);
        value["upload"] = json!("document");
        value
    };
    assert_eq!(s.request("upload_progress", progress(&refs[0], json!(33))).await, ("ok".to_owned(), json!({})));
    let envelope = s.envelope().await;
    assert_eq!(
        (&envelope["ops"], &envelope["upload_ops"]),
        (&json!([]), &json!([document_op("progress", &refs[0], json!({"progress": 33}))]))
    );
    assert_eq!(s.request("upload_progress", progress(&refs[0], json!(100))).await, ("ok".to_owned(), json!({})));
    let envelope = s.envelope().await;
    assert_eq!(envelope["upload_ops"].as_array().unwrap().last().unwrap(), &document_op("complete", &refs[0], json!({})));
    let file = json!({"upload": "document", "ref": refs[0], "name": "doc.txt", "size": 11, "url": url});
    assert_eq!(envelope["ops"], json!([{"op": "add", "path": "/files/0", "value": file}]));
    let served = http_raw(address, "GET", &url, "", b"").await;
    assert_eq!((served.status, served.body.as_slice()), (200, b"hello world".as_slice()));
    assert!(served.headers.contains("content-type: text/plain"), "{}", served.headers);
    assert_eq!(stored(address, &refs[0]).await, Some((11, sha256_hex(b"hello world"))));
    // 100 again (the TS client may send it twice): another complete op, the file is recorded once.
    s.request("upload_progress", progress(&refs[0], json!(100))).await;
    let envelope = s.envelope().await;
    assert_eq!(
        (&envelope["ops"], envelope["upload_ops"].as_array().unwrap().last().unwrap()),
        (&json!([]), &document_op("complete", &refs[0], json!({})))
    );

    // upload_error: the code is always external_failed; an empty message gets the default.
    let error = |message: Value| json!({"store_id": [], "name": "document", "ref": refs[1], "code": "http_500", "message": message});
    assert_eq!(s.request("upload_error", error(json!("PUT 500"))).await, ("ok".to_owned(), json!({})));
    let failed = json!({"code": "external_failed", "message": "PUT 500"});
    assert_eq!(s.envelope().await["upload_ops"], json!([document_op("error", &refs[1], json!({"error": failed}))]));
    s.request("upload_error", error(json!(""))).await;
    let failed = json!({"code": "external_failed", "message": "external upload failed"});
    assert_eq!(s.envelope().await["upload_ops"], json!([document_op("error", &refs[1], json!({"error": failed}))]));
    assert_eq!(http_raw(address, "GET", &format!("/_uploads/{}", refs[1]), "", b"").await.status, 404);

    // Progress that is not an integer counts as 0; over 100 is 100 (complete, nothing stored).
    s.request("upload_progress", progress(&refs[2], json!(33.5))).await;
    assert_eq!(s.envelope().await["upload_ops"], json!([document_op("progress", &refs[2], json!({"progress": 0}))]));
    s.request("upload_progress", progress(&refs[2], json!(250))).await;
    let envelope = s.envelope().await;
    assert_eq!(
        (&envelope["ops"], envelope["upload_ops"].as_array().unwrap().last().unwrap()),
        (&json!([]), &document_op("complete", &refs[2], json!({})))
    );

    // PUT: over the entry's max_file_size → 413; unknown or channel-mode refs → 404.
    let too_big = vec![0u8; 10_000_001];
    assert_eq!(http_raw(address, "PUT", &format!("/_uploads/{}", refs[2]), "", &too_big).await.status, 413);
    let (avatar_ref, _) = s.allow_one("avatar", "a.png", 5).await;
    assert_eq!(http_raw(address, "PUT", &format!("/_uploads/{avatar_ref}"), "", b"12345").await.status, 404);
    assert_eq!(http_raw(address, "PUT", "/_uploads/u_nope", "", b"x").await.status, 404);
    assert_eq!(http_raw(address, "GET", "/_uploads/u_nope", "", b"").await.status, 404);

    // Wrong mode and unknown entries are refused, not crashes.
    let avatar = json!({"store_id": [], "name": "avatar", "ref": avatar_ref, "progress": 5, "code": "x", "message": "m"});
    s.refused("upload_progress", avatar.clone(), "wrong mode").await;
    s.refused("upload_error", avatar, "wrong mode").await;
    s.refused("upload_progress", progress("u_nope", json!(5)), "unknown entry").await;
    s.refused("upload_error", json!({"store_id": [], "name": "document", "ref": "u_nope"}), "unknown entry").await;
    // The ref of a document entry under another upload's name is unknown there.
    s.refused("upload_progress", json!({"store_id": [], "name": "archive", "ref": refs[0], "progress": 5}), "unknown entry").await;
    s.expect_silence(100).await;
}

// ---- the store ---------------------------------------------------------------------------------

both_modes!(clear_resets_the_upload_and_the_files);
async fn clear_resets_the_upload_and_the_files(mode: Mode) {
    let address = start(config()).await;
    let (mut s, _) = Session::open(address, mode, "clear").await;
    let (entry_ref, token) = s.allow_one("avatar", "a.png", 10).await;
    let join_ref = s.join_upload_ok(&entry_ref, &token).await;
    let frames = {
        s.chunk(&entry_ref, &join_ref, &bytes(10, 10)).await;
        s.collect_until("the complete op", |frame| has_op(frame, "complete", &entry_ref)).await
    };
    assert_eq!(frames.last().unwrap()[4]["ops"].as_array().unwrap().len(), 2);
    let (pending, _) = s.allow_one("avatar", "b.png", 10).await;

    let clear = |payload: Value| json!({"store_id": [], "name": "clear", "payload": payload});
    s.refused("command", clear(json!({})), "invalid payload: upload is required").await;
    s.refused("command", clear(json!({"upload": "nope"})), "invalid payload: upload must be one of avatar, document, archive").await;
    assert_eq!(s.request("command", clear(json!({"upload": "avatar"}))).await, ("ok".to_owned(), json!({})));
    let envelope = s.envelope().await;
    let mut ops = envelope["ops"].as_array().unwrap().clone();
    ops.sort_by_key(|op| op["path"].as_str().unwrap().to_owned());
    assert_eq!(ops, [json!({"op": "replace", "path": "/avatar_url", "value": null}), json!({"op": "remove", "path": "/files/0"})]);
    assert_eq!(envelope["upload_ops"], json!([{"op": "reset", "upload": "avatar", "store_id": []}]));
    assert!(entries(address, "clear").await.is_empty());
    assert_eq!(stored(address, &entry_ref).await, None);
    assert_eq!(stored(address, &pending).await, None);
    assert_eq!(http_raw(address, "GET", &format!("/_uploads/{entry_ref}"), "", b"").await.status, 404);
    // The slots are free again.
    s.allow_one("avatar", "c.png", 1).await;
    s.allow_one("avatar", "d.png", 1).await;
    s.expect_silence(100).await;
}

#[tokio::test]
async fn the_profile_store_is_declared() {
    assert!(musubi_devserver::channels::musubi::stores::declared_root(PROFILE).is_some());
}
