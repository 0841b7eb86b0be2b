//! Accept-and-notify cost per envelope for trees of 1k, 10k and 100k nodes, with 1-op and 10-op
//! envelopes, next to a baseline that does what the TypeScript reference does per envelope:
//! apply the ops, rebuild the store index by walking the whole tree, and clear every snapshot.
//!
//! Run: `cargo bench --bench accept`. Numbers are reported, never asserted.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use musubi_wasm::runtime::envelope::Envelope;
use musubi_wasm::runtime::index::build_index;
use musubi_wasm::runtime::patch::{self, Mode, Op};
use musubi_wasm::runtime::replica::Replica;
use musubi_wasm::runtime::tree::Node;
use musubi_wasm::runtime::{StoreId, StoreKey};
use serde_json::{Value, json};

const FANOUT: usize = 10;
/// Leaves per child store: every group of leaves lives in its own store node.
const LEAVES_PER_STORE: usize = 100;

/// A root store with `leaves` numbers spread over child stores, each nested `FANOUT`-ary.
fn tree(leaves: usize) -> Value {
    let stores = leaves.div_ceil(LEAVES_PER_STORE);
    let children: serde_json::Map<String, Value> = (0..stores)
        .map(|s| {
            let mut store = serde_json::Map::new();
            store.insert("__musubi_store_id__".into(), json!(["items", s.to_string()]));
            for group in 0..LEAVES_PER_STORE / FANOUT {
                let leaves: serde_json::Map<String, Value> = (0..FANOUT).map(|l| (format!("l{l}"), json!(0))).collect();
                store.insert(format!("g{group}"), Value::Object(leaves));
            }
            (format!("s{s}"), Value::Object(store))
        })
        .collect();
    json!({"__musubi_store_id__": [], "title": "big", "items": children})
}

fn envelope(base: u64, ops: Value) -> Envelope {
    let payload =
        json!({"type": "patch", "root_id": "r", "base_version": base, "version": base + 1, "ops": ops, "stream_ops": [], "upload_ops": []});
    Envelope::parse(&Node::from_json(&payload)).unwrap_or_else(|error| panic!("{error}"))
}

/// `count` replace ops on distinct leaves spread over the tree.
fn touch_ops(leaves: usize, count: usize, seed: usize) -> Value {
    let stores = leaves.div_ceil(LEAVES_PER_STORE);
    let ops: Vec<Value> = (0..count)
        .map(|i| {
            let n = (seed * 7919 + i * 104_729) % (stores * LEAVES_PER_STORE);
            let (store, rest) = (n / LEAVES_PER_STORE, n % LEAVES_PER_STORE);
            json!({"op": "replace", "path": format!("/items/s{store}/g{}/l{}", rest / FANOUT, rest % FANOUT), "value": seed})
        })
        .collect();
    Value::Array(ops)
}

/// Subscribed stores, as a UI would have them (ten of them).
fn listeners(leaves: usize) -> Vec<StoreKey> {
    let stores = leaves.div_ceil(LEAVES_PER_STORE);
    (0..10).map(|i| StoreId::from(["items".to_owned(), ((i * 37) % stores).to_string()].to_vec()).key()).collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("accept_and_notify");
    for leaves in [1_000usize, 10_000, 100_000] {
        let initial = envelope(0, json!([{"op": "replace", "path": "", "value": tree(leaves)}]));
        let mut replica = Replica::default();
        replica.accept(&initial).unwrap_or_else(|error| panic!("{error}"));
        let watched = listeners(leaves);
        for ops_per_envelope in [1usize, 10] {
            let next = envelope(1, touch_ops(leaves, ops_per_envelope, 3));
            group.bench_with_input(BenchmarkId::new(format!("incremental/{ops_per_envelope}op"), leaves), &leaves, |b, _| {
                b.iter_batched(
                    || replica.clone(),
                    |mut replica| {
                        let changes = replica.accept(&next).unwrap_or_default();
                        let notified = changes.notify.iter().filter(|key| watched.contains(key)).count();
                        black_box((replica, notified))
                    },
                    BatchSize::SmallInput,
                )
            });
            let ops: Vec<Op> = next.ops.iter().filter_map(|op| Op::parse(op, Mode::Musubi).ok()).collect();
            let (tree0, index0) = (replica.tree().clone(), replica.index().clone());
            group.bench_with_input(BenchmarkId::new(format!("reference_baseline/{ops_per_envelope}op"), leaves), &leaves, |b, _| {
                b.iter_batched(
                    || (tree0.clone(), index0.clone(), std::collections::HashMap::<StoreKey, Node>::new()),
                    |(tree, old_index, mut snapshots)| {
                        // Apply, walk the whole tree to rebuild the index, clear every snapshot,
                        // then compare each listened store's node identity.
                        let tree = patch::apply(&tree, &ops, Mode::Musubi).unwrap_or_default();
                        let index = build_index(&tree);
                        snapshots.clear();
                        let notified = watched
                            .iter()
                            .filter(|key| match (old_index.get(*key), index.get(*key)) {
                                (Some(a), Some(b)) => !a.node.same(&b.node),
                                (a, b) => a.is_some() != b.is_some(),
                            })
                            .count();
                        black_box((tree, index, snapshots, notified))
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
