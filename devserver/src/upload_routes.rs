//! `/_uploads/<entry_ref>`: where external-mode uploads go and where completed uploads are served
//! (PROTOCOL.md §3.5; the demo's `Demo.ProfileStore` points its `document` entries here). Always
//! mounted; CORS is permissive because a demo or test page may be served from another origin.
//!
//! | Request | Effect → reply |
//! |---|---|
//! | `PUT /_uploads/<ref>` | stores the body for the external entry `<ref>` → 200 `{"ref", "size"}`; 404 for an unknown or channel-mode entry, 413 over its `max_file_size` |
//! | `GET /_uploads/<ref>` | the bytes of a completed entry (either mode), `Content-Type` = the client's type (`application/octet-stream` if empty); 404 otherwise |
//!
//! A `PUT` only stores bytes: the entry's progress changes when the client reports
//! `upload_progress` (at 100 with a stored file the store records the upload).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use serde_json::json;
use tower_http::cors::CorsLayer;

use crate::server::AppState;

/// The largest body a `PUT` reads (every declared upload's `max_file_size` is below it; the
/// entry's own limit is checked after reading).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// The `/_uploads/*` routes (to be nested under `/_uploads`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{entry_ref}", put(store_file).get(serve_file))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(CorsLayer::permissive())
}

/// `PUT /_uploads/<ref>`.
async fn store_file(State(state): State<AppState>, Path(entry_ref): Path<String>, body: Bytes) -> Response {
    let pages = state.hub.pages();
    let Some(page) = pages.page_with_entry(&entry_ref) else { return StatusCode::NOT_FOUND.into_response() };
    let Some(limit) = page.with_uploads(|uploads| uploads.external_limit(&entry_ref)).flatten() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let size = u64::try_from(body.len()).unwrap_or(u64::MAX);
    if size > limit {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let path = match pages.uploads().dir.path_for(&entry_ref) {
        Ok(path) => path,
        Err(error) => return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    };
    if let Err(error) = tokio::fs::write(&path, &body).await {
        return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response();
    }
    match page.with_uploads(|uploads| uploads.external_stored(&entry_ref, path, size)) {
        Some(true) => axum::Json(json!({"ref": entry_ref, "size": size})).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /_uploads/<ref>`.
async fn serve_file(State(state): State<AppState>, Path(entry_ref): Path<String>) -> Response {
    let found =
        state.hub.pages().page_with_entry(&entry_ref).and_then(|page| page.with_uploads(|uploads| uploads.completed_file(&entry_ref)));
    let Some((path, client_type)) = found.flatten() else { return StatusCode::NOT_FOUND.into_response() };
    let Ok(bytes) = tokio::fs::read(&path).await else { return StatusCode::NOT_FOUND.into_response() };
    let content_type = if client_type.is_empty() { "application/octet-stream".to_owned() } else { client_type };
    ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
}
