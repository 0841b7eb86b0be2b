//! Fault injection for tests, mounted under `/_test/` only with `--test-endpoints`. CORS is
//! permissive because browser tests call these from a page served on another port.
//!
//! | Endpoint | Effect → reply |
//! |---|---|
//! | `POST /_test/drop?code=N` | closes every socket with close code N → `{"dropped"}` |
//! | `POST /_test/pause?ms=N` | refuses upgrades with 503 for N ms → `{}` |
//! | `POST /_test/crash?topic=T` | crashes T's channel on every socket → `{"crashed"}` |
//! | `POST /_test/gap?root_id=R` | an envelope of R that skips versions → `{"sent"}` |
//! | `POST /_test/corrupt?root_id=R` | a sequenced envelope of R whose op cannot apply → `{"sent"}` |
//! | `POST /_test/deepen?root_id=R&levels=N&step=S` | sequenced envelopes growing a chain of N levels under R's `deep` → `{"sent", "envelopes"}` |
//! | `POST /_test/deep_initial?root_id=R&levels=N` | R's next initial envelope carries a chain of N levels under `deep` → `{"armed": true}` |
//! | `GET /_test/stats` | counters → `{"sockets", "connects", "refused", "heartbeats", "mounts", "roots"}` |
//! | `GET /_test/upload_sha256?ref=E` | the bytes stored for upload entry E so far (complete or partial) → `{"ref", "size", "sha256"}` (lower-case hex); 404 if there is no file (never stored, or deleted by a cancel) |
//! | `GET /_test/uploads?root_id=R` | the upload entries of R's page(s) → `[{"upload", "store_id", "ref", "mode", "status", "progress", "bytes"}]` |
//! | `POST /_test/upload_clock?advance_ms=N` | moves the upload-token clock forward by N ms (tokens issued before look N ms older; `advance_ms=600001` expires them) → `{"offset_ms"}` (the total) |
//!
//! All of them work in both Musubi wire modes. `T` names one channel: the connection channel's
//! topic (all of that socket's roots) or a root channel's `musubi:connection:<module>:<id>` (that
//! root only). `R` is always the client's plain root id (`demo-counter`, also for a per-root
//! subscriber of `musubi:connection:Demo.CounterStore:demo-counter`); every subscriber of R, in
//! either mode, gets the envelopes with its own `root_id` string and version sequence.
//!
//! The deep endpoints let browser tests deliver trees far deeper than the client accepts
//! (`MAX_DEPTH` levels) through *valid* envelopes. The devserver never holds those trees as
//! `serde_json::Value`s (which recurse on serialize and drop): they are built as text with loops
//! and sent verbatim (see [`crate::channels::musubi::deep`]), and the page's own state never
//! contains them — only the client replicas do.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::cors::CorsLayer;

use crate::channels::musubi::deep::{self, DEFAULT_STEP, MAX_ENVELOPES, MAX_LEVELS};
use crate::channels::musubi::page::Fault;
use crate::channels::musubi::upload::storage;
use crate::server::AppState;

/// The close reason sent by `/_test/drop`.
pub const DROP_REASON: &str = "test drop";

/// The `/_test/*` routes (to be nested under `/_test`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/drop", post(drop_sockets))
        .route("/pause", post(pause))
        .route("/crash", post(crash))
        .route("/stats", get(stats))
        .route("/gap", post(gap))
        .route("/corrupt", post(corrupt))
        .route("/deepen", post(deepen))
        .route("/deep_initial", post(deep_initial))
        .route("/upload_sha256", get(upload_sha256))
        .route("/uploads", get(uploads))
        .route("/upload_clock", post(upload_clock))
        .layer(CorsLayer::permissive())
}

/// Query of `/_test/drop`.
#[derive(Debug, Deserialize)]
struct DropQuery {
    code: u16,
}

/// `POST /_test/drop?code=N`: closes every socket with close code N → `{"dropped": count}`.
async fn drop_sockets(State(state): State<AppState>, Query(query): Query<DropQuery>) -> Json<Value> {
    let dropped = state.hub.close_all(query.code, DROP_REASON);
    Json(json!({"dropped": dropped}))
}

/// Query of `/_test/pause`.
#[derive(Debug, Deserialize)]
struct PauseQuery {
    ms: u64,
}

/// `POST /_test/pause?ms=N`: refuses new upgrades with 503 for N ms → `{}`.
async fn pause(State(state): State<AppState>, Query(query): Query<PauseQuery>) -> Json<Value> {
    state.hub.pause(Duration::from_millis(query.ms));
    Json(json!({}))
}

/// Query of `/_test/crash`.
#[derive(Debug, Deserialize)]
struct CrashQuery {
    topic: String,
}

/// `POST /_test/crash?topic=T`: crashes T's channel on every socket → `{"crashed": count}`.
async fn crash(State(state): State<AppState>, Query(query): Query<CrashQuery>) -> Json<Value> {
    let crashed = state.hub.crash_topic(&query.topic).await;
    Json(json!({"crashed": crashed}))
}

/// Query of `/_test/gap` and `/_test/corrupt`.
#[derive(Debug, Deserialize)]
struct RootQuery {
    root_id: String,
}

/// `POST /_test/gap?root_id=R`: on every socket where root R is mounted, sends an empty envelope
/// whose versions skip ahead (`base_version` = current + 5), leaving the root's version as it
/// was → `{"sent": count}`.
async fn gap(State(state): State<AppState>, Query(query): Query<RootQuery>) -> Json<Value> {
    let sent = state.hub.pages().inject(&query.root_id, Fault::Gap);
    Json(json!({"sent": sent}))
}

/// `POST /_test/corrupt?root_id=R`: on every socket where root R is mounted, sends a correctly
/// sequenced envelope whose op cannot apply (`remove /no/such/deep/path`) and counts it as sent
/// (the next real envelope follows it) → `{"sent": count}`.
async fn corrupt(State(state): State<AppState>, Query(query): Query<RootQuery>) -> Json<Value> {
    let sent = state.hub.pages().inject(&query.root_id, Fault::Corrupt);
    Json(json!({"sent": sent}))
}

/// Query of `/_test/deepen`.
#[derive(Debug, Deserialize)]
struct DeepenQuery {
    root_id: String,
    levels: usize,
    step: Option<usize>,
}

/// A refused query: 400 with a plain-text reason (like axum's own query rejections).
type Refused = (StatusCode, String);

/// Checks `levels` (1 ..= [`MAX_LEVELS`]).
fn check_levels(levels: usize) -> Result<(), Refused> {
    if levels == 0 || levels > MAX_LEVELS {
        return Err((StatusCode::BAD_REQUEST, format!("levels must be 1 to {MAX_LEVELS}")));
    }
    Ok(())
}

/// `POST /_test/deepen?root_id=R&levels=N&step=S` (`step` defaults to 100): on every socket where
/// root R is mounted, sends `ceil(N / S)` valid, correctly sequenced envelopes, each counted as
/// sent (like `/_test/corrupt`, so the next real envelope follows them), that build a chain of N
/// objects under the root store's top-level field `deep`. Each level is `{"next": …}`, the
/// innermost `{"leaf": true}`:
///
/// * the first envelope's single op is `{"op":"add","path":"/deep","value":<chain of S>}`;
/// * each next one is `{"op":"add","path":"/deep/next/…/next","value":<chain of S + 1>}` at the
///   current leaf (`/next` × levels so far − 1), replacing it, so the chain grows by S levels
///   (the last envelope by what is left).
///
/// Afterwards the client's tree is N + 1 levels deep (root object + N); each frame itself nests
/// only about S + 5 levels. The page's own state does not get the chain: a fresh mount has no
/// `deep`, and real patches (commands, timers) keep coming in sequence without touching it. A
/// `deep` the client already had is replaced. → `{"sent": subscribers, "envelopes": ceil(N / S)}`
/// (`envelopes` is the count each of them got). 400 unless 1 ≤ N ≤ 100 000, S ≥ 1 and
/// `ceil(N / S)` ≤ 1 000.
async fn deepen(State(state): State<AppState>, Query(query): Query<DeepenQuery>) -> Result<Json<Value>, Refused> {
    check_levels(query.levels)?;
    let step = query.step.unwrap_or(DEFAULT_STEP);
    if step == 0 {
        return Err((StatusCode::BAD_REQUEST, "step must be at least 1".into()));
    }
    let envelopes = deep::envelope_count(query.levels, step);
    if envelopes > MAX_ENVELOPES {
        return Err((StatusCode::BAD_REQUEST, format!("levels / step must be at most {MAX_ENVELOPES} envelopes")));
    }
    let sent = state.hub.pages().inject(&query.root_id, Fault::Deepen { levels: query.levels, step });
    Ok(Json(json!({"sent": sent, "envelopes": envelopes})))
}

/// Query of `/_test/deep_initial`.
#[derive(Debug, Deserialize)]
struct DeepInitialQuery {
    root_id: String,
    levels: usize,
}

/// `POST /_test/deep_initial?root_id=R&levels=N`: arms root R so that the next initial envelope
/// (0 → 1) sent for R, on any socket (the next mount or remount of R), is replaced by one whose
/// single op is `{"op":"replace","path":"","value":<the real root tree plus a field "deep" holding
/// a chain of N objects, as for /_test/deepen>}` (a `deep` of the real tree is replaced); its
/// `stream_ops` are the real stream seeds. One-shot: it disarms on use, and arming again before
/// then just changes N. Mounts already open are not touched; the page's own state never gets the
/// chain, so later patches follow in sequence without touching it. → `{"armed": true}`. 400
/// unless 1 ≤ N ≤ 100 000.
async fn deep_initial(State(state): State<AppState>, Query(query): Query<DeepInitialQuery>) -> Result<Json<Value>, Refused> {
    check_levels(query.levels)?;
    state.hub.pages().arm_deep_initial(&query.root_id, query.levels);
    Ok(Json(json!({"armed": true})))
}

/// `GET /_test/stats` → `{"sockets", "connects", "refused", "heartbeats", "mounts", "roots"}`.
async fn stats(State(state): State<AppState>) -> Json<Value> {
    Json(state.hub.stats())
}

/// Query of `/_test/upload_sha256`.
#[derive(Debug, Deserialize)]
struct UploadRefQuery {
    #[serde(rename = "ref")]
    entry_ref: String,
}

/// `GET /_test/upload_sha256?ref=E` → `{"ref", "size", "sha256"}` of the bytes stored for E
/// (complete or partial); 404 without a file.
async fn upload_sha256(State(state): State<AppState>, Query(query): Query<UploadRefQuery>) -> Result<Json<Value>, Refused> {
    let not_found = || (StatusCode::NOT_FOUND, format!("no stored bytes for {}", query.entry_ref));
    let path = state.hub.pages().uploads().dir.existing(&query.entry_ref).ok_or_else(not_found)?;
    let hashed = tokio::task::spawn_blocking(move || storage::sha256(&path)).await;
    let Ok(Ok((size, sha256))) = hashed else { return Err(not_found()) };
    Ok(Json(json!({"ref": query.entry_ref, "size": size, "sha256": sha256})))
}

/// `GET /_test/uploads?root_id=R` → `[{"upload", "store_id", "ref", "mode", "status",
/// "progress", "bytes"}]`: the upload entries of every page of R (a client's plain id).
async fn uploads(State(state): State<AppState>, Query(query): Query<RootQuery>) -> Json<Value> {
    Json(Value::Array(state.hub.pages().upload_entries(&query.root_id)))
}

/// Query of `/_test/upload_clock`.
#[derive(Debug, Deserialize)]
struct ClockQuery {
    advance_ms: u64,
}

/// `POST /_test/upload_clock?advance_ms=N`: the upload-token clock runs N ms ahead from now on
/// (cumulative) → `{"offset_ms": total}`.
async fn upload_clock(State(state): State<AppState>, Query(query): Query<ClockQuery>) -> Json<Value> {
    let offset = state.hub.pages().uploads().advance_clock(query.advance_ms);
    Json(json!({"offset_ms": offset}))
}
