//! Helpers for the devserver integration tests: an in-process server on an ephemeral port, a
//! small Phoenix-frame WebSocket client, and a minimal HTTP/1.1 client for the test endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, dead_code)]

pub mod musubi;
pub mod per_root;
pub mod uploads;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use musubi_devserver::ServerConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a frame it expects.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(3);

/// The subprotocols phoenix.js sends for the auth token `user-42`.
pub const TOKEN_PROTOCOLS: &str = "phoenix, base64url.bearer.phx.dXNlci00Mg";

/// Test endpoints on, a long idle timeout (tests of the idle timeout set their own).
pub fn config() -> ServerConfig {
    ServerConfig { idle_timeout: Duration::from_secs(30), test_endpoints: true, ..ServerConfig::default() }
}

/// Starts a server in this runtime on 127.0.0.1:0 and returns its address.
pub async fn start(config: ServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(musubi_devserver::serve(listener, config));
    address
}

/// How a connection ended, seen from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The server sent a close frame with this code and reason.
    Closed(u16, String),
    /// The TCP connection ended without a close frame (a browser reports 1006).
    Abrupt,
}

/// A WebSocket client speaking raw Phoenix frames.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The subprotocol the server answered, if any.
    pub protocol: Option<String>,
}

impl Client {
    /// Connects to `/socket/websocket?{query}` (no subprotocols); panics on failure.
    pub async fn connect(address: SocketAddr, query: &str) -> Client {
        Self::try_connect(address, query, None).await.unwrap()
    }

    /// Connects, optionally asking for subprotocols (`Sec-WebSocket-Protocol` value).
    pub async fn try_connect(address: SocketAddr, query: &str, protocols: Option<&'static str>) -> Result<Client, tungstenite::Error> {
        let mut request = format!("ws://{address}/socket/websocket?{query}").into_client_request()?;
        if let Some(protocols) = protocols {
            request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(protocols));
        }
        let (ws, response) = tokio_tungstenite::connect_async(request).await?;
        let protocol = response.headers().get("sec-websocket-protocol").map(|value| value.to_str().unwrap().to_owned());
        Ok(Client { ws, protocol })
    }

    /// The HTTP status of a refused upgrade.
    pub async fn refused_status(address: SocketAddr, query: &str) -> u16 {
        match Self::try_connect(address, query, None).await {
            Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
            Err(other) => panic!("expected an HTTP refusal, got {other}"),
            Ok(_) => panic!("expected an HTTP refusal, the upgrade succeeded"),
        }
    }

    /// Sends a JSON value as a text frame.
    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    /// Sends a text frame verbatim.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.unwrap();
    }

    /// The next text or binary message; panics on timeout or end of stream.
    pub async fn recv(&mut self) -> Message {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await.expect("timed out waiting for a frame");
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => return message,
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    }

    /// The next message, which must be a text frame holding JSON.
    pub async fn recv_json(&mut self) -> Value {
        match self.recv().await {
            Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next message, which must be a text frame; returns its text.
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Message::Text(text) => text.as_str().to_owned(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next message, which must be a binary frame.
    pub async fn recv_binary(&mut self) -> Vec<u8> {
        match self.recv().await {
            Message::Binary(bytes) => bytes.to_vec(),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Asserts that no frame arrives for `ms` milliseconds.
    pub async fn expect_silence(&mut self, ms: u64) {
        if let Ok(next) = tokio::time::timeout(Duration::from_millis(ms), self.ws.next()).await {
            panic!("expected silence, got {next:?}");
        }
    }

    /// Waits (up to `within`) for the connection to end and says how.
    pub async fn end(&mut self, within: Duration) -> End {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await.expect("the connection did not end in time");
            match next {
                Some(Ok(Message::Close(Some(frame)))) => return End::Closed(u16::from(frame.code), frame.reason.as_str().to_owned()),
                Some(Ok(Message::Close(None))) => return End::Closed(1005, String::new()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => panic!("expected the end of the connection, got {other:?}"),
                Some(Err(_)) | None => return End::Abrupt,
            }
        }
    }

    /// Sends `[join_ref, ref, topic, event, payload]` and returns the next frame.
    pub async fn request(&mut self, join_ref: Value, msg_ref: &str, topic: &str, event: &str, payload: Value) -> Value {
        self.send(json!([join_ref, msg_ref, topic, event, payload])).await;
        self.recv_json().await
    }

    /// Joins `topic` with `join_ref` as both join_ref and ref; returns the reply frame.
    pub async fn join(&mut self, topic: &str, join_ref: &str, payload: Value) -> Value {
        self.request(json!(join_ref), join_ref, topic, "phx_join", payload).await
    }

    /// Joins and asserts the join succeeded.
    pub async fn join_ok(&mut self, topic: &str, join_ref: &str) {
        let reply = self.join(topic, join_ref, json!({})).await;
        assert_eq!(reply[4]["status"], "ok", "join of {topic} failed: {reply}");
    }

    /// Sends a heartbeat with `msg_ref` and asserts its reply.
    pub async fn heartbeat(&mut self, msg_ref: &str) {
        let reply = self.request(Value::Null, msg_ref, "phoenix", "heartbeat", json!({})).await;
        assert_eq!(reply, reply_frame(Value::Null, msg_ref, "phoenix", "ok", json!({})));
    }
}

/// `[join_ref, ref, topic, "phx_reply", {"status", "response"}]`.
pub fn reply_frame(join_ref: Value, msg_ref: &str, topic: &str, status: &str, response: Value) -> Value {
    json!([join_ref, msg_ref, topic, "phx_reply", {"status": status, "response": response}])
}

/// An HTTP response: status, raw header block, body parsed as JSON (or a JSON string).
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header lines, lower-cased.
    pub headers: String,
    /// The body as JSON, or as a JSON string when it is not JSON.
    pub body: Value,
}

/// Sends one HTTP/1.1 request with an empty body and extra header lines (`"Name: value\r\n"`).
pub async fn http(address: SocketAddr, method: &str, path: &str, extra_headers: &str) -> HttpResponse {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n{extra_headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(RECV_TIMEOUT, stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    HttpResponse { status, headers: head.to_lowercase(), body }
}

/// `POST path` on the test endpoints; asserts 200 and returns the JSON body.
pub async fn post(address: SocketAddr, path: &str) -> Value {
    let response = http(address, "POST", path, "").await;
    assert_eq!(response.status, 200, "POST {path}: {response:?}");
    response.body
}

/// `GET /_test/stats`.
pub async fn stats(address: SocketAddr) -> Value {
    let response = http(address, "GET", "/_test/stats", "").await;
    assert_eq!(response.status, 200, "{response:?}");
    response.body
}
