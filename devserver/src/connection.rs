//! One WebSocket connection: decodes client frames, answers heartbeats, keeps the joined
//! channels of this socket (topic → join_ref + channel state) and carries out their effects,
//! the way a Phoenix socket process does (PROTOCOL.md §1.5–§1.6).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use musubi_wasm::phoenix::frame::{
    Body, Frame, HEARTBEAT, PHOENIX_TOPIC, PHX_CLOSE, PHX_ERROR, PHX_JOIN, PHX_LEAVE, Payload, Reply, WireMessage, decode_client_binary,
    decode_client_text, encode_server,
};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::channels::{self, Channel, ChannelContext, ChannelHandle, Crash, Deferred, Effect, JoinError, JoinRequest, SocketInfo};
use crate::config::WireMode;
use crate::hub::{Control, Hub};

/// How long a closing connection waits for the client's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Close code sent when a client frame cannot be decoded (the Phoenix socket process crashes;
/// cowboy answers a handler crash with 1011).
const CLOSE_INVALID_FRAME: u16 = 1011;

/// Runs one upgraded WebSocket until it closes, is dropped by the idle timeout, or is closed by
/// the hub; `wire` decides how `musubi:*` topics are routed (see [`channels::route`]).
pub async fn run(ws: WebSocket, hub: Arc<Hub>, socket: SocketInfo, idle_timeout: Duration, wire: WireMode) {
    let (registration, mut control) = hub.register();
    let (deferred_tx, mut deferred) = mpsc::unbounded_channel();
    let mut connection = Connection { ws, hub, socket, wire, channels: HashMap::new(), next_join_id: 0, deferred_tx };
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    let exit = loop {
        let step = tokio::select! {
            // Effects queued by channels (replies, pushes from other tasks) go out before the
            // next client frame is read, like the sends of a Phoenix channel process.
            biased;
            Some(effect) = deferred.recv() => connection.on_deferred(effect).await,
            Some(request) = control.recv() => connection.on_control(request).await,
            incoming = connection.ws.recv() => match incoming {
                Some(Ok(message)) => {
                    idle.as_mut().reset(Instant::now() + idle_timeout);
                    connection.on_message(message).await
                }
                Some(Err(_)) | None => Err(Exit::Dropped),
            },
            () = &mut idle => Err(Exit::Dropped),
        };
        if let Err(exit) = step {
            break exit;
        }
    };
    drop(registration);
    connection.finish(exit).await;
}

/// Why a connection ends.
#[derive(Debug)]
enum Exit {
    /// Just drop the TCP connection (the client sees 1006).
    Dropped,
    /// Send a close frame first.
    Close { code: u16, reason: String },
}

/// `Err` ends the connection.
type Step = Result<(), Exit>;

/// A channel joined on this socket.
struct JoinedChannel {
    join_ref: Option<String>,
    /// Unique per connection, so effects of an earlier join of the same topic are recognised.
    join_id: u64,
    channel: Box<dyn Channel>,
}

struct Connection {
    ws: WebSocket,
    hub: Arc<Hub>,
    socket: SocketInfo,
    wire: WireMode,
    channels: HashMap<String, JoinedChannel>,
    next_join_id: u64,
    deferred_tx: mpsc::UnboundedSender<Deferred>,
}

impl Connection {
    async fn on_message(&mut self, message: Message) -> Step {
        let decoded = match message {
            Message::Text(text) => decode_client_text(text.as_str()),
            Message::Binary(bytes) => decode_client_binary(&bytes),
            // tungstenite answers pings and close frames itself; after a close the stream ends.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return Ok(()),
        };
        match decoded {
            Ok(frame) => self.on_frame(frame).await,
            Err(error) => {
                eprintln!("devserver: closing a socket after an invalid frame: {error}");
                Err(Exit::Close { code: CLOSE_INVALID_FRAME, reason: "invalid frame".into() })
            }
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> Step {
        let Frame { join_ref, msg_ref, topic, event, body } = frame;
        // The client decoders only produce messages; a client has no replies to send.
        let Body::Message(payload) = body else { return Ok(()) };
        if topic == PHOENIX_TOPIC && event == HEARTBEAT {
            self.hub.count_heartbeat();
            return self.send_frame(Frame::reply(None, msg_ref, PHOENIX_TOPIC, Reply::ok(empty()))).await;
        }
        if event == PHX_JOIN {
            return self.join(topic, join_ref, msg_ref, payload).await;
        }
        let Some(joined) = self.channels.get_mut(&topic) else {
            if event == PHX_LEAVE {
                return self.send_frame(Frame::reply(join_ref, msg_ref, topic, Reply::ok(empty()))).await;
            }
            return self.send_frame(Frame::reply(None, msg_ref, topic, unmatched_topic())).await;
        };
        if joined.join_ref != join_ref {
            // A message for an earlier join of this topic (or with no join_ref): Phoenix drops it.
            return Ok(());
        }
        if event == PHX_LEAVE {
            self.channels.remove(&topic);
            self.send_frame(Frame::reply(join_ref.clone(), msg_ref, topic.clone(), Reply::ok(empty()))).await?;
            return self.send_frame(control_frame(join_ref, topic, PHX_CLOSE)).await;
        }
        let handle = ChannelHandle::new(topic.clone(), joined.join_id, self.deferred_tx.clone());
        let mut ctx = ChannelContext::new(msg_ref.clone(), handle);
        match joined.channel.handle_in(&event, payload, &mut ctx) {
            Ok(()) => self.apply_all(&topic, msg_ref, ctx.into_effects()).await,
            Err(crash) => self.crash(&topic, &crash).await.map(|_| ()),
        }
    }

    async fn join(&mut self, topic: String, join_ref: Option<String>, msg_ref: Option<String>, payload: Payload) -> Step {
        if let Some(old) = self.channels.remove(&topic) {
            // Duplicate join: the old channel is terminated and closed with its own join_ref.
            self.send_frame(control_frame(old.join_ref, topic.clone(), PHX_CLOSE)).await?;
        }
        let Some(join) = channels::route(&topic, self.wire) else {
            return self.send_frame(Frame::reply(None, msg_ref, topic, unmatched_topic())).await;
        };
        let join_ref = join_ref.or_else(|| msg_ref.clone());
        let join_id = self.next_join_id;
        self.next_join_id += 1;
        let handle = ChannelHandle::new(topic.clone(), join_id, self.deferred_tx.clone());
        let reply = match join(JoinRequest { topic: &topic, payload, socket: &self.socket, handle, hub: &self.hub }) {
            Ok((channel, response)) => {
                self.channels.insert(topic.clone(), JoinedChannel { join_ref: join_ref.clone(), join_id, channel });
                Reply::ok(response)
            }
            Err(JoinError::Refused(response)) => Reply::error(response),
            Err(JoinError::Crashed(why)) => {
                eprintln!("devserver: join of {topic} crashed: {why}");
                Reply::error(json!({"reason": "join crashed"}))
            }
        };
        self.send_frame(Frame::reply(join_ref, msg_ref, topic, reply)).await
    }

    /// Carries out effects in order until one of them stops the channel.
    async fn apply_all(&mut self, topic: &str, msg_ref: Option<String>, effects: Vec<Effect>) -> Step {
        for effect in effects {
            if !self.apply(topic, msg_ref.clone(), effect).await? {
                break;
            }
        }
        Ok(())
    }

    /// Carries out one effect of the channel on `topic`; `Ok(false)` once the channel is gone.
    async fn apply(&mut self, topic: &str, msg_ref: Option<String>, effect: Effect) -> Result<bool, Exit> {
        let Some(join_ref) = self.channels.get(topic).map(|joined| joined.join_ref.clone()) else {
            return Ok(false);
        };
        match effect {
            Effect::Reply(reply) => self.send_frame(Frame::reply(join_ref, msg_ref, topic, reply)).await?,
            Effect::Push { event, payload } => self.send_frame(Frame::message(join_ref, None, topic, event, payload)).await?,
            Effect::Broadcast { event, payload } => self.hub.broadcast(topic, &event, &payload),
            Effect::Raw(message) => self.send(message).await?,
            Effect::Stop => {
                self.channels.remove(topic);
                self.send_frame(control_frame(join_ref, topic, PHX_CLOSE)).await?;
                return Ok(false);
            }
            Effect::Crash(why) => {
                self.crash(topic, &Crash(why)).await?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Removes the channel on `topic` and tells the client with `phx_error`; `Ok(false)` if
    /// there was no such channel.
    async fn crash(&mut self, topic: &str, crash: &Crash) -> Result<bool, Exit> {
        let Some(joined) = self.channels.remove(topic) else { return Ok(false) };
        eprintln!("devserver: channel {topic} crashed: {}", crash.0);
        self.send_frame(control_frame(joined.join_ref, topic, PHX_ERROR)).await?;
        Ok(true)
    }

    async fn on_deferred(&mut self, deferred: Deferred) -> Step {
        let Deferred { topic, join_id, msg_ref, effect } = deferred;
        if self.channels.get(&topic).is_some_and(|joined| joined.join_id == join_id) {
            self.apply(&topic, msg_ref, effect).await?;
        }
        Ok(())
    }

    async fn on_control(&mut self, control: Control) -> Step {
        match control {
            Control::Close { code, reason } => Err(Exit::Close { code, reason }),
            Control::Broadcast { topic, event, payload } => {
                if !self.channels.contains_key(&topic) {
                    return Ok(());
                }
                self.send_frame(Frame::message(None, None, topic, event, payload)).await
            }
            Control::Crash { topic, done } => {
                let crashed = self.crash(&topic, &Crash::new("crashed by /_test/crash")).await;
                // The test endpoint may have given up waiting; the crash happened regardless.
                let _ = done.send(matches!(crashed, Ok(true)));
                crashed.map(|_| ())
            }
        }
    }

    async fn send_frame(&mut self, frame: Frame) -> Step {
        match encode_server(&frame) {
            Ok(message) => self.send(message).await,
            Err(error) => {
                // Only binary frames can fail (a field over 255 bytes); the frame is skipped.
                eprintln!("devserver: cannot encode {} on {}: {error}", frame.event, frame.topic);
                Ok(())
            }
        }
    }

    async fn send(&mut self, message: WireMessage) -> Step {
        let message = match message {
            WireMessage::Text(text) => Message::text(text),
            WireMessage::Binary(bytes) => Message::binary(bytes),
        };
        self.ws.send(message).await.map_err(|_| Exit::Dropped)
    }

    async fn finish(mut self, exit: Exit) {
        // The channels end with the transport (their roots unsubscribe now, not after the close
        // handshake).
        self.channels.clear();
        let Exit::Close { code, reason } = exit else { return };
        let close = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
        if self.ws.send(close).await.is_err() {
            return;
        }
        // Wait (briefly) for the client's close frame so the close handshake completes.
        let _ = tokio::time::timeout(CLOSE_GRACE, async { while let Some(Ok(_)) = self.ws.recv().await {} }).await;
    }
}

/// `[join_ref, join_ref, topic, event, {}]`: how `phx_close` and `phx_error` are sent.
fn control_frame(join_ref: Option<String>, topic: impl Into<String>, event: &str) -> Frame {
    Frame::message(join_ref.clone(), join_ref, topic, event, Payload::empty_object())
}

fn unmatched_topic() -> Reply {
    Reply::error(json!({"reason": "unmatched topic"}))
}

fn empty() -> Value {
    Value::Object(Map::new())
}
