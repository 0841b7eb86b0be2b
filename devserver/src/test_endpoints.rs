//! Fault injection for tests, mounted under `/_test/` only with `--test-endpoints`. CORS is
//! permissive because browser tests call these from a page served on another port.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::cors::CorsLayer;

use crate::channels::musubi::page::Fault;
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

/// `GET /_test/stats` → `{"sockets", "connects", "refused", "heartbeats", "mounts", "roots"}`.
async fn stats(State(state): State<AppState>) -> Json<Value> {
    Json(state.hub.stats())
}
