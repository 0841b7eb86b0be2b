use super::*;
use serde_json::json;

#[test]
fn text_frame_round_trips_with_null_refs() {
    let frame = Frame::message(None, Some("7".into()), PHOENIX_TOPIC, HEARTBEAT, Payload::empty_object());
    let Ok(WireMessage::Text(text)) = encode_client(&frame) else { panic!("text expected") };
    assert_eq!(text, r#"[null,"7","phoenix","heartbeat",{}]"#);
    assert_eq!(decode_client_text(&text), Ok(frame));
}

#[test]
fn server_reply_is_parsed_into_status_and_response() {
    let frame = decode_server_text(r#"["3","4","musubi:connection","phx_reply",{"status":"ok","response":{"root_id":"c"}}]"#).unwrap();
    assert_eq!(frame.join_ref.as_deref(), Some("3"));
    assert_eq!(frame.msg_ref.as_deref(), Some("4"));
    assert_eq!(frame.body, Body::Reply(Reply::ok(json!({"root_id": "c"}))));
    let missing_response = decode_server_text(r#"[null,"1","t","phx_reply",{"status":"error"}]"#).unwrap();
    assert_eq!(missing_response.body, Body::Reply(Reply::error(json!(null))));
    let custom = decode_server_text(r#"[null,"1","t","phx_reply",{"status":"later","response":1}]"#).unwrap();
    assert!(matches!(custom.body, Body::Reply(Reply { status: ReplyStatus::Other(ref s), .. }) if s == "later"));
}

#[test]
fn server_encodes_replies_and_pushes_as_text() {
    let reply = Frame::reply(Some("3".into()), Some("3".into()), "room", Reply::ok(json!({})));
    assert_eq!(encode_server(&reply), Ok(WireMessage::Text(r#"["3","3","room","phx_reply",{"status":"ok","response":{}}]"#.into())));
    let push = Frame::message(Some("3".into()), None, "room", "patch", Payload::Json(json!({"a": 1})));
    assert_eq!(encode_server(&push), Ok(WireMessage::Text(r#"["3",null,"room","patch",{"a":1}]"#.into())));
}

#[test]
fn extra_elements_are_ignored_like_the_server_does() {
    let frame = decode_client_text(r#"[null,"1","t","e",{},"extra"]"#).unwrap();
    assert_eq!(frame.event, "e");
}

#[test]
fn garbage_text_frames_give_typed_errors() {
    assert!(matches!(decode_server_text("not json"), Err(FrameError::NotJson(_))));
    assert_eq!(decode_server_text(r#"{"a":1}"#), Err(FrameError::NotAnArray));
    assert_eq!(decode_server_text(r#"[null,"1","t"]"#), Err(FrameError::WrongArity(3)));
    assert!(decode_server_text(r#"[1.5e400]"#).is_err());
    assert_eq!(
        decode_server_text(r#"[{},"1","t","e",{}]"#),
        Err(FrameError::WrongType { field: "join_ref", expected: "a string or null" })
    );
    assert_eq!(decode_server_text(r#"[null,"1",5,"e",{}]"#), Err(FrameError::WrongType { field: "topic", expected: "a string" }));
    assert_eq!(decode_server_text(r#"[null,"1","t",null,{}]"#), Err(FrameError::WrongType { field: "event", expected: "a string" }));
    assert_eq!(
        decode_server_text(r#"[null,"1","t","phx_reply",[]]"#),
        Err(FrameError::WrongType { field: "payload", expected: "a reply object" })
    );
    assert_eq!(
        decode_server_text(r#"[null,"1","t","phx_reply",{"status":1}]"#),
        Err(FrameError::WrongType { field: "status", expected: "a string" })
    );
}

#[test]
fn numeric_refs_are_tolerated_as_text() {
    let frame = decode_server_text(r#"[1,2,"t","e",{}]"#).unwrap();
    assert_eq!((frame.join_ref.as_deref(), frame.msg_ref.as_deref()), (Some("1"), Some("2")));
}

/// PROTOCOL.md §1.4 worked example: an upload chunk.
#[test]
fn client_binary_push_matches_the_worked_example_bytes() {
    let frame = Frame::message(
        Some("11".into()),
        Some("12".into()),
        "musubi_upload:u_Q2hVbmtzLTE",
        "chunk",
        Payload::Binary(vec![0xDE, 0xAD, 0xBE, 0xEF]),
    );
    let Ok(WireMessage::Binary(bytes)) = encode_client(&frame) else { panic!("binary expected") };
    let mut expected = vec![0x00, 0x02, 0x02, 0x1B, 0x05];
    expected.extend_from_slice(b"1112musubi_upload:u_Q2hVbmtzLTEchunk");
    expected.extend_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]);
    assert_eq!(bytes, expected);
    assert_eq!(decode_client_binary(&bytes), Ok(frame));
}

#[test]
fn server_binary_kinds_round_trip() {
    let push = Frame::message(Some("3".into()), None, "room", "blob", Payload::Binary(vec![1, 2, 3]));
    let reply =
        Frame::reply(Some("3".into()), Some("9".into()), "room", Reply { status: ReplyStatus::Ok, response: Payload::Binary(vec![4]) });
    let broadcast = Frame::message(None, None, "room", "news", Payload::Binary(vec![]));
    for frame in [push, reply, broadcast] {
        let Ok(WireMessage::Binary(bytes)) = encode_server(&frame) else { panic!("binary expected") };
        assert_eq!(decode_server_binary(&bytes), Ok(frame));
    }
    let Ok(WireMessage::Binary(reply_bytes)) = encode_server(&Frame::reply(
        Some("1".into()),
        Some("2".into()),
        "t",
        Reply { status: ReplyStatus::Error, response: Payload::Binary(vec![9]) },
    )) else {
        panic!("binary expected")
    };
    assert_eq!(reply_bytes, vec![1, 1, 1, 1, 5, b'1', b'2', b't', b'e', b'r', b'r', b'o', b'r', 9]);
}

#[test]
fn binary_fields_longer_than_255_bytes_are_refused() {
    let long_topic = "t".repeat(256);
    let frame = Frame::message(Some("1".into()), Some("2".into()), long_topic, "e", Payload::Binary(vec![]));
    assert_eq!(encode_client(&frame), Err(FrameError::FieldTooLong { field: "topic", len: 256 }));
    let ok_topic = "t".repeat(255);
    assert!(encode_client(&Frame::message(None, Some("2".into()), ok_topic, "e", Payload::Binary(vec![]))).is_ok());
}

#[test]
fn garbage_binary_frames_give_typed_errors() {
    assert_eq!(decode_server_binary(&[]), Err(FrameError::Truncated));
    assert_eq!(decode_server_binary(&[7]), Err(FrameError::UnknownKind(7)));
    assert_eq!(decode_server_binary(&[0, 5, 1]), Err(FrameError::Truncated));
    assert_eq!(decode_server_binary(&[2, 200, 1, b'x']), Err(FrameError::Truncated), "length byte larger than the frame");
    assert_eq!(decode_server_binary(&[2, 1, 1, 0xFF, b'e']), Err(FrameError::NotUtf8("topic")));
    assert_eq!(decode_client_binary(&[1, 0, 0, 0, 0]), Err(FrameError::UnexpectedKind(1)));
    assert_eq!(
        encode_client(&Frame::reply(None, None, "t", Reply::ok(json!({})))),
        Err(FrameError::NotEncodable("a client does not send replies"))
    );
}

#[test]
fn decoding_never_panics_on_arbitrary_bytes() {
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..20_000 {
        let len = rng.usize(0..48);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        if let Some(first) = bytes.first_mut() {
            *first %= 4;
        }
        let _ = decode_server_binary(&bytes);
        let _ = decode_client_binary(&bytes);
        let _ = decode_server_text(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn payloads_of_kept_events_stay_text_and_everything_else_decodes_as_before() {
    let keep = ["patch"];
    let patch = decode_server_text_keeping(r#" [ "1" , null,"musubi:r","patch",{"ops": [ {"op":"replace"} ]} ] "#, &keep).unwrap();
    assert_eq!((patch.join_ref.as_deref(), patch.topic.as_str()), (Some("1"), "musubi:r"));
    assert_eq!(patch.body, Body::Message(Payload::Text(r#"{"ops": [ {"op":"replace"} ]}"#.into())), "the exact text, spacing included");
    // The payload is not read here: its receiver parses and validates it.
    let unread = decode_server_text_keeping(r#"[null,null,"t","patch",{"a": ]}]"#, &keep).unwrap();
    assert_eq!(unread.body, Body::Message(Payload::Text(r#"{"a": ]}"#.into())));
    // A sixth element after an object goes into that text too (and fails the receiver's parse);
    // after anything else the general decoder reads the frame and ignores it.
    let sixth = decode_server_text_keeping(r#"[null,null,"t","patch",{"a":1},"extra"]"#, &keep);
    assert_eq!(sixth, decode_server_text(r#"[null,null,"t","patch",{"a":1},"extra"]"#));
    // Other events, replies and phoenix control events are decoded as JSON values.
    for text in [
        r#"[null,null,"t","news",{"a":1}]"#,
        r#"[null,"2","t","phx_reply",{"status":"ok","response":{}}]"#,
        r#"[null,null,"t","phx_error",{}]"#,
        r#"["1",null,"t","patch","not an object"]"#,
    ] {
        assert_eq!(decode_server_text_keeping(text, &keep), decode_server_text(text), "{text}");
    }
    let escaped = decode_server_text_keeping(r#"[null,null,"t\u0031","p\u0061tch",{}]"#, &keep).unwrap();
    assert_eq!((escaped.topic.as_str(), escaped.event.as_str()), ("t1", "patch"));
    // Malformed frames give exactly the errors of the general decoder.
    for bad in ["", "{}", "[1,2,3,4,5]", r#"[null,null,"t","patch"]"#, r#"[null,null,5,"patch",{}]"#, r#"[null,null,"t","patch",[]"#] {
        assert_eq!(decode_server_text_keeping(bad, &keep), decode_server_text(bad), "{bad}");
    }
}
