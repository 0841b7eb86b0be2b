//! The HTTP router and the state shared by all requests: the socket endpoint's handshake
//! (`vsn` check, pause, auth-token subprotocol), the upload routes (`/_uploads/`, always), the
//! optional test endpoints and static files.

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use musubi_wasm::phoenix::endpoint::{VSN, token_from_protocols};
use serde_json::{Map, Value};
use tower_http::services::ServeDir;

use crate::channels::SocketInfo;
use crate::config::ServerConfig;
use crate::connection;
use crate::hub::Hub;
use crate::test_endpoints;
use crate::upload_routes;

/// The Phoenix socket endpoint path (endpoint `/socket` + transport suffix `/websocket`).
pub const SOCKET_PATH: &str = "/socket/websocket";

/// The subprotocol the server answers when the client asked for subprotocols.
const PHOENIX_SUBPROTOCOL: &str = "phoenix";

/// State shared by every request of one server.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The configuration the server was started with.
    pub config: Arc<ServerConfig>,
    /// Live sockets and counters.
    pub hub: Arc<Hub>,
}

/// Builds the whole application for `config`.
pub fn app(config: ServerConfig) -> Router {
    let static_dir = config.static_dir.clone();
    let test_endpoints = config.test_endpoints;
    let hub = Arc::new(Hub::new(config.upload_chunk_timeout));
    let state = AppState { config: Arc::new(config), hub };
    let mut router = Router::new().route(SOCKET_PATH, get(socket_endpoint)).nest("/_uploads", upload_routes::router());
    if test_endpoints {
        router = router.nest("/_test", test_endpoints::router());
    }
    if let Some(dir) = static_dir {
        router = router.fallback_service(ServeDir::new(dir));
    }
    router.with_state(state)
}

/// `GET /socket/websocket?…&vsn=2.0.0`: checks the serializer version and the pause, then
/// upgrades; every other query param becomes a connect param.
async fn socket_endpoint(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let mut vsn = None;
    let mut params = Map::new();
    for (key, value) in query {
        if key == "vsn" {
            vsn = Some(value);
        } else {
            params.insert(key, Value::String(value));
        }
    }
    if vsn.as_deref() != Some(VSN) {
        return (StatusCode::BAD_REQUEST, format!("unsupported serializer: vsn must be {VSN}")).into_response();
    }
    if state.hub.is_paused() {
        state.hub.count_refused();
        return (StatusCode::SERVICE_UNAVAILABLE, "paused by /_test/pause").into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let auth_token = token_from_protocols(upgrade.requested_protocols().filter_map(|protocol| protocol.to_str().ok()));
    let asked_for_protocols = upgrade.requested_protocols().next().is_some();
    let upgrade = if asked_for_protocols { upgrade.protocols([PHOENIX_SUBPROTOCOL]) } else { upgrade };
    let socket = SocketInfo { auth_token, params };
    let hub = Arc::clone(&state.hub);
    let (idle_timeout, wire) = (state.config.idle_timeout, state.config.wire);
    upgrade.on_upgrade(move |ws| connection::run(ws, hub, socket, idle_timeout, wire))
}
