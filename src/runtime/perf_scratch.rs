//! Scratch (not committed): the trace's case (a) through the whole runtime, for perf.
use serde_json::{Value, json};

use super::harness::{TOPIC, Wire};

#[test]
#[ignore]
fn trace_case_a() {
    let leaves = 1000usize;
    let per = leaves / 10;
    let groups: Vec<Value> = (0..10)
        .map(|g| json!({"__musubi_store_id__": [format!("g{g}")], "name": format!("group {g}"), "items": (0..per).map(|i| json!({"id": i, "v": 0, "label": format!("item {i}")})).collect::<Vec<_>>()}))
        .collect();
    let tree = json!({"__musubi_store_id__": [], "title": "trace", "groups": groups});
    let mut wire = Wire::connected();
    wire.mount("r", tree);
    let join = wire.join_ref();
    let n: u64 = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let frames: Vec<String> = (1..=n)
        .map(|k| {
            let envelope = json!({"type": "patch", "root_id": "r", "base_version": k, "version": k + 1, "ops": [{"op": "replace", "path": format!("/groups/{}/items/{}/v", k % 10, k as usize % per), "value": k}], "stream_ops": [], "upload_ops": []});
            json!([join, null, TOPIC, "patch", envelope]).to_string()
        })
        .collect();
    let connection = wire.connection.unwrap();
    let started = std::time::Instant::now();
    for frame in &frames {
        wire.rt.handle_text(connection, frame, wire.now);
        while let Some(output) = wire.rt.poll_output() {
            std::hint::black_box(output);
        }
    }
    eprintln!("per envelope: {:?}", started.elapsed() / n as u32);
}
