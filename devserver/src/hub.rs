//! The registry of live sockets: how broadcasts and the test endpoints reach every connection,
//! the Musubi page servers shared by all sockets (with their upload state: the token secret and
//! the temp directory of uploaded bytes, removed when the hub is dropped), and the server-wide
//! counters reported by `/_test/stats`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use musubi_wasm::phoenix::frame::Payload;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::channels::musubi::page::PageRegistry;

/// How long the hub waits for the sockets to answer a crash request.
const CRASH_ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// A request from outside a connection to that connection's task.
#[derive(Debug)]
pub enum Control {
    /// Close the WebSocket with this close frame.
    Close {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Send `[null, null, topic, event, payload]` if `topic` is joined on this socket.
    Broadcast {
        /// Topic.
        topic: String,
        /// Event name.
        event: String,
        /// Payload (JSON, or bytes for a binary broadcast).
        payload: Payload,
    },
    /// Crash the channel joined on `topic`, if any; answer whether there was one.
    Crash {
        /// Topic.
        topic: String,
        /// Receives `true` when a channel was crashed.
        done: oneshot::Sender<bool>,
    },
}

/// Shared state of all connections of one server.
#[derive(Debug, Default)]
pub struct Hub {
    sockets: Mutex<HashMap<u64, mpsc::UnboundedSender<Control>>>,
    next_id: AtomicU64,
    connects: AtomicU64,
    refused: AtomicU64,
    heartbeats: AtomicU64,
    paused_until: Mutex<Option<Instant>>,
    pages: Arc<PageRegistry>,
}

/// A connection's membership in the hub; leaving the hub happens when this is dropped.
#[derive(Debug)]
pub struct Registration {
    hub: Arc<Hub>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.sockets().remove(&self.id);
    }
}

impl Hub {
    /// A hub whose upload sub-channels allow `upload_chunk_timeout` between chunks.
    pub fn new(upload_chunk_timeout: Duration) -> Self {
        Hub { pages: Arc::new(PageRegistry::new(upload_chunk_timeout)), ..Hub::default() }
    }

    /// Adds a live socket (counted as an accepted connect); it receives [`Control`]s on the
    /// returned receiver until the [`Registration`] is dropped.
    pub fn register(self: &Arc<Self>) -> (Registration, mpsc::UnboundedReceiver<Control>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.sockets().insert(id, tx);
        self.connects.fetch_add(1, Ordering::Relaxed);
        (Registration { hub: Arc::clone(self), id }, rx)
    }

    /// Sends `[null, null, topic, event, payload]` to every socket that has `topic` joined.
    pub fn broadcast(&self, topic: &str, event: &str, payload: &Payload) {
        for tx in self.sockets().values() {
            let control = Control::Broadcast { topic: topic.to_owned(), event: event.to_owned(), payload: payload.clone() };
            // A socket that is going away has nobody left to receive the broadcast.
            let _ = tx.send(control);
        }
    }

    /// Asks every socket to close with `code`; returns how many sockets were asked.
    pub fn close_all(&self, code: u16, reason: &str) -> usize {
        self.sockets().values().filter(|tx| tx.send(Control::Close { code, reason: reason.to_owned() }).is_ok()).count()
    }

    /// Crashes the channel joined on `topic` on every socket; returns how many were crashed.
    pub async fn crash_topic(&self, topic: &str) -> usize {
        let answers: Vec<_> = self
            .sockets()
            .values()
            .filter_map(|tx| {
                let (done, answer) = oneshot::channel();
                tx.send(Control::Crash { topic: topic.to_owned(), done }).ok().map(|()| answer)
            })
            .collect();
        let mut crashed = 0;
        for answer in answers {
            if let Ok(Ok(true)) = tokio::time::timeout(CRASH_ANSWER_TIMEOUT, answer).await {
                crashed += 1;
            }
        }
        crashed
    }

    /// Refuses new WebSocket upgrades for `duration` from now.
    pub fn pause(&self, duration: Duration) {
        *lock(&self.paused_until) = Some(Instant::now() + duration);
    }

    /// True while a pause is in effect.
    pub fn is_paused(&self) -> bool {
        lock(&self.paused_until).is_some_and(|until| Instant::now() < until)
    }

    /// Counts an upgrade refused because of a pause.
    pub fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an answered heartbeat.
    pub fn count_heartbeat(&self) {
        self.heartbeats.fetch_add(1, Ordering::Relaxed);
    }

    /// The Musubi page servers of this server.
    pub fn pages(&self) -> &Arc<PageRegistry> {
        &self.pages
    }

    /// `{"sockets", "connects", "refused", "heartbeats", "mounts", "roots"}` as reported by
    /// `/_test/stats` (`mounts`: Musubi mounts accepted so far; `roots`: roots mounted now).
    pub fn stats(&self) -> Value {
        json!({
            "sockets": self.sockets().len(),
            "connects": self.connects.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
            "heartbeats": self.heartbeats.load(Ordering::Relaxed),
            "mounts": self.pages.mounts(),
            "roots": self.pages.roots(),
        })
    }

    fn sockets(&self) -> MutexGuard<'_, HashMap<u64, mpsc::UnboundedSender<Control>>> {
        lock(&self.sockets)
    }
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
