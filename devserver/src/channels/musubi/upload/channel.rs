//! `musubi_upload:<entry_ref>` — the upload sub-channel of one channel-mode entry (PROTOCOL.md
//! §3.3–§3.4), on the same socket as the root's channel, in every wire mode.
//!
//! **Join** `{"token": …}`: refused with `error {"reason": "unauthorized"}` when the topic has no
//! ref after the prefix, the token is missing or not a string, forged, older than 600 s, issued
//! for another entry ref, when the page or the entry is gone, or when the entry cannot take a
//! sub-channel (external, already complete or failed, or uploading on another sub-channel).
//! Otherwise `ok {}`: the entry's temp file is created empty, bytes written = 0, and the
//! chunk-timeout watchdog is armed (the server's `upload_chunk_timeout`, 10 s by default).
//!
//! **Chunks** (`chunk`, binary payload), checks in order:
//!
//! | Condition | Reply | Then |
//! |---|---|---|
//! | chunk longer than `chunk_size` | `error {"reason": "chunk too large"}` | entry error `chunk_too_large`; stop (`phx_close`) |
//! | bytes so far + chunk > `max_file_size` | `error {"reason": "upload too large"}` | entry error `too_large`; stop |
//! | the write fails | `error {"reason": "write failed"}` | entry error `internal`; stop |
//! | total < client size | `ok {"progress": floor(total·100 / client_size)}` | watchdog re-armed |
//! | total ≥ client size | `ok {"progress": 100}` | entry complete; stop (`phx_close` after the reply) |
//!
//! Each accepted chunk updates the page's entry (`progress`, and `complete` at 100, see
//! [`super::entries`]) and runs a render cycle; the reply is carried out before that cycle's
//! envelope on this socket. No chunk within the timeout (after the join or the last chunk): entry
//! error `chunk_timeout`, stop without a reply.
//!
//! Any other event, or a `chunk` that is not binary, crashes the sub-channel (`phx_error`).
//! **Termination:** after success or an error path nothing more happens; any other end (client
//! `phx_leave`, transport loss, crash, a duplicate join of the topic) deletes the temp file and
//! cancels the entry (a `cancel` op) if it still exists — implemented by the channel's `Drop`
//! and its `finished` flag. A sub-channel crashed by `cancel_upload` skips that (the cancel did
//! it).

use std::fs::File;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use musubi_wasm::phoenix::frame::{Payload, Reply};
use serde_json::{Value, json};
use tokio::task::AbortHandle;

use super::entries::{LiveChannel, Watch};
use super::ops::ErrorCode;
use crate::channels::musubi::page::PageLink;
use crate::channels::{Channel, ChannelContext, Crash, JoinError, JoinFn, JoinRequest, Joined};
use crate::config::WireMode;

/// The topic prefix; the rest of the topic is the entry ref.
pub const TOPIC_PREFIX: &str = "musubi_upload:";

/// Tells sub-channels apart (also across sockets).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// `musubi_upload:*` is the upload sub-channel in every wire mode.
pub fn route(_topic: &str, _wire: WireMode) -> Option<JoinFn> {
    Some(join)
}

/// Joins an upload sub-channel (see the module docs).
pub fn join(request: JoinRequest<'_>) -> Result<Joined, JoinError> {
    let entry_ref = request.topic.strip_prefix(TOPIC_PREFIX).filter(|entry_ref| !entry_ref.is_empty()).ok_or_else(unauthorized)?;
    let token = match &request.payload {
        Payload::Json(Value::Object(payload)) => payload.get("token").and_then(Value::as_str),
        _ => None,
    };
    let token = token.ok_or_else(unauthorized)?;
    let registry = request.hub.pages();
    let context = registry.uploads();
    let claims = context.signer.verify(token, context.now_ms()).map_err(|_| unauthorized())?;
    if claims.entry_ref != entry_ref {
        return Err(unauthorized());
    }
    let page = registry.page(&claims.page).ok_or_else(unauthorized)?;
    let path = context.dir.path_for(entry_ref).map_err(|error| JoinError::Crashed(format!("no upload directory: {error}")))?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let finished = Arc::new(AtomicBool::new(false));
    let chunk_timeout = Duration::from_millis(claims.chunk_timeout_ms);
    let deadline = Instant::now() + chunk_timeout;
    let live = LiveChannel { id, handle: request.handle.clone(), deadline, finished: Arc::clone(&finished) };
    let opened = page.with_uploads(|uploads| {
        if !uploads.attach(&claims.store_id, &claims.upload, entry_ref, path.clone(), live) {
            return Err(unauthorized());
        }
        File::create(&path).map_err(|error| {
            uploads.detach(entry_ref, id);
            JoinError::Crashed(format!("cannot create {}: {error}", path.display()))
        })
    });
    let file = opened.unwrap_or_else(|| Err(unauthorized()))?;
    let watchdog = watch(page.clone(), entry_ref.to_owned(), id, deadline);
    let channel = UploadChannel {
        page,
        entry_ref: entry_ref.to_owned(),
        id,
        file,
        written: 0,
        client_size: claims.client_size,
        max_file_size: claims.max_file_size,
        chunk_size: claims.chunk_size,
        chunk_timeout,
        finished,
        watchdog,
    };
    Ok((Box::new(channel), json!({})))
}

/// A joined upload sub-channel.
struct UploadChannel {
    page: PageLink,
    entry_ref: String,
    id: u64,
    file: File,
    written: u64,
    client_size: u64,
    max_file_size: u64,
    chunk_size: u64,
    chunk_timeout: Duration,
    /// Set once the end is accounted for (success, an error path, the timeout, `cancel_upload`).
    finished: Arc<AtomicBool>,
    watchdog: Option<AbortHandle>,
}

impl Channel for UploadChannel {
    fn handle_in(&mut self, event: &str, payload: Payload, ctx: &mut ChannelContext) -> Result<(), Crash> {
        if event != "chunk" {
            return Err(Crash::new(format!("the upload channel has no `{event}` handler")));
        }
        let Payload::Binary(bytes) = payload else { return Err(Crash::new("a chunk must be a binary frame")) };
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if len > self.chunk_size {
            return self.fail(ctx, "chunk too large", ErrorCode::ChunkTooLarge);
        }
        let total = self.written.saturating_add(len);
        if total > self.max_file_size {
            return self.fail(ctx, "upload too large", ErrorCode::TooLarge);
        }
        if let Err(error) = self.file.write_all(&bytes) {
            eprintln!("devserver: writing upload {} failed: {error}", self.entry_ref);
            return self.fail(ctx, "write failed", ErrorCode::Internal);
        }
        self.written = total;
        let complete = total >= self.client_size;
        if complete {
            self.finished.store(true, Ordering::SeqCst);
        }
        let deadline = Instant::now() + self.chunk_timeout;
        let (entry_ref, id) = (&self.entry_ref, self.id);
        let known = self.page.update(|uploads, store| uploads.chunk_written(store, entry_ref, id, total, deadline));
        if known != Some(true) {
            return Err(Crash::new(format!("upload {entry_ref} is gone")));
        }
        if complete {
            ctx.reply(Reply::ok(json!({"progress": 100})));
            ctx.stop();
        } else {
            // total < client_size here, so this is below 100.
            ctx.reply(Reply::ok(json!({"progress": total.saturating_mul(100) / self.client_size.max(1)})));
        }
        Ok(())
    }
}

impl UploadChannel {
    /// An error path: the entry gets `code`, the client the reply, then the channel stops.
    fn fail(&mut self, ctx: &mut ChannelContext, reason: &str, code: ErrorCode) -> Result<(), Crash> {
        self.finished.store(true, Ordering::SeqCst);
        let (entry_ref, id) = (&self.entry_ref, self.id);
        self.page.update(|uploads, _| uploads.channel_failed(entry_ref, id, code));
        ctx.reply(Reply::error(json!({"reason": reason})));
        ctx.stop();
        Ok(())
    }
}

impl Drop for UploadChannel {
    fn drop(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.abort();
        }
        if self.finished.load(Ordering::SeqCst) {
            return;
        }
        let (entry_ref, id) = (&self.entry_ref, self.id);
        self.page.update(|uploads, store| uploads.channel_ended(store, entry_ref, id));
    }
}

/// Arms the chunk-timeout watchdog of sub-channel `id`: it sleeps until the entry's deadline
/// (which each chunk moves) and, once a deadline passes unmoved, times the entry out.
fn watch(page: PageLink, entry_ref: String, id: u64, deadline: Instant) -> Option<AbortHandle> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let task = runtime.spawn(async move {
        let mut deadline = deadline;
        loop {
            tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
            match page.update(|uploads, _| uploads.check_timeout(&entry_ref, id, Instant::now())) {
                Some(Watch::Rearmed(next)) => deadline = next,
                Some(Watch::Done) | None => return,
            }
        }
    });
    Some(task.abort_handle())
}

/// `error {"reason": "unauthorized"}`.
fn unauthorized() -> JoinError {
    JoinError::Refused(json!({"reason": "unauthorized"}))
}
