//! The demo root stores and the interface a page server drives them through.
//!
//! A store owns its state; the page server (see `page.rs`) calls [`RootStore::command`],
//! [`RootStore::on_timer`] or an upload callback ([`RootStore::on_upload_complete`],
//! [`RootStore::on_upload_removed`]) and then runs one render cycle: [`RootStore::update_tree`]
//! brings the previous wire tree up to date and returns the JSON ops,
//! [`RootStore::take_stream_ops`] the stream ops, [`RootStore::take_upload_resets`] the uploads
//! whose entries the page drops. Every state change is followed by a cycle under the same lock,
//! so the state and the last rendered tree never disagree about which stores exist.
//!
//! Uploads are declared per store ([`RootStore::declared_uploads`]); the page keeps their entries
//! (see `upload/`), the store only hears of completed and cancelled ones.
//!
//! Every command checks its payload (field types, required fields, ranges) before it changes
//! anything and refuses a bad one with [`InvalidArgs`]: the client gets
//! `error {"reason": "invalid payload: <field> …"}`, the state and every root on the channel are
//! untouched. Only mount params that do not validate still make the mount raise (Musubi's
//! behaviour for a raising `mount`), which crashes the connection channel.

pub mod big;
pub mod board;
pub mod counter;
pub mod profile;

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::render::{self, PatchOp};
use super::upload::{UploadSpec, UploadedFile};

/// A command's result, as the handler returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    /// `{:noreply}`: reply `ok {}`.
    NoReply,
    /// `{:reply, map}`: reply `ok` with the map.
    Reply(Map<String, Value>),
    /// Reply `error` with this response (an application-level failure, e.g. `{"reason": …}`).
    Error(Value),
    /// Reply `ok` with the map after a delay, without holding up the channel. The handler must
    /// not have changed any state (the reply has to precede any patch it causes).
    ReplyAfter(Duration, Map<String, Value>),
}

/// A delayed callback a store asks for: after `delay`, [`RootStore::on_timer`] runs with `tag`
/// and a render cycle follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// How long from now.
    pub delay: Duration,
    /// Passed back to [`RootStore::on_timer`].
    pub tag: u32,
}

/// A command payload (or mount params) the store does not accept: a field of the wrong type,
/// missing or out of range. The text names the field, e.g. `by must be an integer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidArgs(pub String);

impl InvalidArgs {
    /// The response of the `error` reply to a command with this payload:
    /// `{"reason": "invalid payload: <text>"}`.
    pub fn response(&self) -> Value {
        json!({"reason": format!("invalid payload: {}", self.0)})
    }
}

impl fmt::Display for InvalidArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Mount params that do not validate make the store's mount raise (see [`CreateFn`]).
impl From<InvalidArgs> for String {
    fn from(invalid: InvalidArgs) -> String {
        invalid.0
    }
}

/// A root store: its state, its wire rendering and its commands.
pub trait RootStore: Send {
    /// The whole wire tree: the root store node (`"__musubi_store_id__": []`) with every child
    /// store, stream marker and async value in place.
    fn render(&self) -> Value;

    /// The commands declared on the store `store_id` in the current tree; `None` when the tree
    /// has no such store.
    fn commands(&self, store_id: &[String]) -> Option<&'static [&'static str]>;

    /// Runs `name` (declared on `store_id`, see [`RootStore::commands`]). A command validates its
    /// whole payload before it changes anything: `Err` means the payload was refused and the
    /// state is untouched (the client gets an `error` reply, the channel lives on). Commands never
    /// crash the channel; only the test endpoints do that.
    fn command(&mut self, store_id: &[String], name: &str, payload: &Map<String, Value>) -> Result<CommandOutcome, InvalidArgs>;

    /// Brings `tree` (the previous render) up to date and returns the ops that did it. The
    /// default re-renders and diffs; a large store overrides it to patch only what changed.
    fn update_tree(&mut self, tree: &mut Value) -> Vec<PatchOp> {
        let new = self.render();
        let ops = render::diff(tree, &new);
        *tree = new;
        ops
    }

    /// The stream ops queued since the last cycle, in wire order.
    fn take_stream_ops(&mut self) -> Vec<Value> {
        Vec::new()
    }

    /// The push events (Musubi 0.13) queued since the last cycle: `{store_id, name, payload}`.
    fn take_events(&mut self) -> Vec<Value> {
        Vec::new()
    }

    /// Inserts that give a fresh subscriber the current contents of every stream.
    fn stream_seed(&self) -> Vec<Value> {
        Vec::new()
    }

    /// The timers requested since the last call (at start or by a command or timer).
    fn take_timers(&mut self) -> Vec<Timer> {
        Vec::new()
    }

    /// A requested timer fired.
    fn on_timer(&mut self, _tag: u32) {}

    /// The uploads declared on the stores of the current tree, as (store id, declaration). The
    /// store renders their markers itself ([`render::upload_marker`]).
    fn declared_uploads(&self) -> Vec<(Vec<String>, &'static UploadSpec)> {
        Vec::new()
    }

    /// External mode (PROTOCOL.md §3.5): the meta of a newly accepted entry of `upload` on
    /// `store_id` (an `uploader` key names the client's uploader, default `"external"`); `None`
    /// keeps the entry in channel mode.
    fn external_upload(&self, _store_id: &[String], _upload: &str, _entry_ref: &str) -> Option<Map<String, Value>> {
        None
    }

    /// An entry of an upload declared on `store_id` completed (once per entry); the page's
    /// render cycle follows in the same lock, so the store's change rides the same envelope.
    fn on_upload_complete(&mut self, _store_id: &[String], _file: &UploadedFile) {}

    /// An entry was cancelled (by the client or by its sub-channel ending); its file is gone.
    fn on_upload_removed(&mut self, _store_id: &[String], _upload: &str, _entry_ref: &str) {}

    /// The uploads whose entries the store consumed since the last cycle: the page removes every
    /// entry of each (a `reset` op).
    fn take_upload_resets(&mut self) -> Vec<UploadReset> {
        Vec::new()
    }
}

/// A store's request to drop every entry of one of its uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReset {
    /// The declaring store.
    pub store_id: Vec<String>,
    /// The upload.
    pub upload: &'static str,
}

/// The upload `name` declared on `store_id` in `store`'s current tree.
pub fn declared_upload(store: &dyn RootStore, store_id: &[String], name: &str) -> Option<&'static UploadSpec> {
    store.declared_uploads().into_iter().find(|(id, spec)| id.as_slice() == store_id && spec.name == name).map(|(_, spec)| spec)
}

/// A module the connection channel may mount (a "declared root").
#[derive(Debug)]
pub struct RootKind {
    /// The module name clients send in `mount`.
    pub module: &'static str,
    /// The part of the page key derived from the mount params: roots with equal module, id and
    /// params key share one page server. Empty when params only seed the initial state.
    pub params_key: fn(&Map<String, Value>) -> Result<String, String>,
    /// Starts a store from the mount params (the store's `mount`).
    pub create: CreateFn,
}

/// Starts a root store from its mount params; `Err` means the store's mount raised.
pub type CreateFn = fn(&Map<String, Value>) -> Result<Box<dyn RootStore>, String>;

/// The declared roots.
pub const DECLARED_ROOTS: &[RootKind] = &[counter::KIND, board::KIND, big::KIND, profile::KIND];

/// The declared root with this module name.
pub fn declared_root(module: &str) -> Option<&'static RootKind> {
    DECLARED_ROOTS.iter().find(|kind| kind.module == module)
}

/// A params key for stores whose params only seed the state.
fn shared_by_id(_params: &Map<String, Value>) -> Result<String, String> {
    Ok(String::new())
}

/// An optional integer argument.
fn int_arg(args: &Map<String, Value>, name: &str, default: i64) -> Result<i64, InvalidArgs> {
    match args.get(name) {
        None => Ok(default),
        Some(value) => value.as_i64().ok_or_else(|| InvalidArgs(format!("{name} must be an integer"))),
    }
}

/// An optional integer argument within `0..=max`.
fn uint_arg(args: &Map<String, Value>, name: &str, default: u64, max: u64) -> Result<u64, InvalidArgs> {
    match args.get(name) {
        None => Ok(default),
        Some(value) if value.is_i64() || value.is_u64() => {
            value.as_u64().filter(|n| *n <= max).ok_or_else(|| InvalidArgs(format!("{name} must be between 0 and {max}")))
        }
        Some(_) => Err(InvalidArgs(format!("{name} must be an integer"))),
    }
}

/// A required string argument.
fn string_arg(args: &Map<String, Value>, name: &str) -> Result<String, InvalidArgs> {
    match args.get(name) {
        None => Err(InvalidArgs(format!("{name} is required"))),
        Some(Value::String(value)) => Ok(value.clone()),
        Some(_) => Err(InvalidArgs(format!("{name} must be a string"))),
    }
}

/// An empty reply map.
fn empty() -> Map<String, Value> {
    Map::new()
}
