//! [`StashCore`]: one view's stash over a [`StashStorage`], for one writer (a tab).

use std::rc::Rc;

use super::slice::{Slice, Stamp, entry_value, object_text};
use super::{StashError, StashStorage, storage_key};
use crate::runtime::depth::depth_of;
use crate::runtime::tree::{MAX_PARSE_NESTING, Node};

/// The deepest value a stash holds, in levels of containers: the stored slice nests each value
/// three levels down, and the slice is parsed with `serde_json`'s nesting limit.
pub const MAX_VALUE_DEPTH: usize = MAX_PARSE_NESTING - 3;

/// A change to a slice under a stamp (given whether the stored text is corrupt); false when there
/// was nothing to change. Boxed, so the write path is one function.
type Apply<'a> = Box<dyn FnOnce(&mut Slice, &Stamp, bool) -> bool + 'a>;

/// One view's stash for one writer, sans-IO: reads and writes go to `storage`, the time comes in
/// as wall-clock milliseconds, and changes other writers made are fed in with
/// [`StashCore::observe`] (the browser does so for `storage` events). See the [module
/// docs](super) for the semantics.
///
/// ```
/// use musubi_wasm::stash::{MemoryStorage, StashCore, StashError};
/// let storage = MemoryStorage::new();
/// let mut v1 = StashCore::new(storage.clone(), "My.View", 1, "a")?;
/// v1.merge_json(r#"{"q":"old shape"}"#, 1_000)?;
/// // New code with a new shape: a merge under vsn 2 replaces the slice wholesale.
/// let mut v2 = StashCore::new(storage, "My.View", 2, "b")?;
/// assert_eq!(v2.data_text(), "{}");
/// assert_eq!(v2.fetch_view(), Some((1, r#"{"q":"old shape"}"#.to_owned())));
/// v2.merge_json(r#"{"query":{"text":"new shape"}}"#, 2_000)?;
/// assert_eq!(v2.data_text(), r#"{"query":{"text":"new shape"}}"#);
/// assert_eq!(v2.last_seen_at(), Some(2_000));
/// # Ok::<(), StashError>(())
/// ```
#[derive(Debug)]
pub struct StashCore<S> {
    storage: S,
    key: String,
    vsn: u32,
    writer: Rc<str>,
    /// The join of every copy of the slice this instance read, was told about or wrote.
    known: Slice,
    /// The stored text `known` equals (`Some(None)`: absent), while it is known to: a write that
    /// finds the same text stored skips parsing it.
    mirror: Option<Option<String>>,
    /// The stored text is not a slice; `known` is then empty.
    corrupt: bool,
    /// The highest clock seen or written (the next stamp goes above it).
    clock: u64,
    revision: u64,
    /// The text of the last write (a change or a repair), until taken.
    written: Option<String>,
}

impl<S: StashStorage> StashCore<S> {
    /// Opens `view`'s stash under `vsn` for `writer` (an id unique among the tabs, e.g. random)
    /// and reads what is stored. Corrupt data is no error here: the stash reads as never stashed
    /// and [`StashCore::is_corrupt`] says so.
    pub fn new(storage: S, view: &str, vsn: u32, writer: impl Into<String>) -> Result<Self, StashError> {
        let mut core = StashCore::unread(storage, view, vsn, writer);
        core.refresh()?;
        Ok(core)
    }

    /// [`StashCore::new`] without reading the storage yet: it reads as never stashed until
    /// [`StashCore::refresh`] or its first write (which reads first).
    pub fn unread(storage: S, view: &str, vsn: u32, writer: impl Into<String>) -> Self {
        StashCore {
            storage,
            key: storage_key(view),
            vsn,
            writer: Rc::from(writer.into()),
            known: Slice::default(),
            mirror: Some(None),
            corrupt: false,
            clock: 0,
            revision: 0,
            written: None,
        }
    }

    /// The vsn this stash reads and writes.
    pub fn vsn(&self) -> u32 {
        self.vsn
    }

    /// The storage key of the slice.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Goes up whenever what the stash shows may have changed (data, vsn, `last_seen_at`,
    /// corruption).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// True while the stored text is not a stash slice: reads show the view as never stashed and
    /// writes fail with [`StashError::Corrupt`] until [`StashCore::reset`].
    pub fn is_corrupt(&self) -> bool {
        self.corrupt
    }

    /// Wall-clock milliseconds of the last write (merge, drop or reset) to the view's slice from
    /// any writer; `None` when never stashed.
    pub fn last_seen_at(&self) -> Option<u64> {
        (self.known.seen > 0).then_some(self.known.seen)
    }

    /// The value of `key` under this stash's vsn.
    pub fn get(&self, key: &str) -> Option<&Node> {
        if self.known.vsn != Some(self.vsn) {
            return None;
        }
        self.known.entries.get(key).and_then(entry_value)
    }

    /// The view's keys and values under this stash's vsn, in key order (none when never
    /// stashed, or stashed under another vsn).
    pub fn entries(&self) -> impl Iterator<Item = (&Rc<str>, &Node)> {
        let mine = self.known.vsn == Some(self.vsn);
        self.known.values().filter(move |_| mine)
    }

    /// [`StashCore::entries`] as one JSON object (`{}` when there are none).
    pub fn data_text(&self) -> String {
        object_text(self.entries())
    }

    /// What is stored, whatever its vsn: `(vsn, data as a JSON object)`, `None` when never
    /// stashed (or reset, or corrupt).
    pub fn fetch_view(&self) -> Option<(u32, String)> {
        self.known.vsn.map(|vsn| (vsn, object_text(self.known.values())))
    }

    /// Merges `changes`, a JSON object of keys to values: each key is set (last write wins per
    /// key); under another vsn than stored, the slice is replaced by `changes` wholesale. Stored
    /// before it returns.
    pub fn merge_json(&mut self, changes: &str, now: u64) -> Result<(), StashError> {
        let invalid = |message: String| StashError::InvalidValue { message };
        let parsed = Node::parse_json_text(changes).map_err(|error| invalid(error.to_string()))?;
        let Some(changes) = parsed.as_object() else { return Err(invalid("the changes are not an object".to_owned())) };
        self.merge(changes.iter().map(|(key, value)| (key.clone(), value.clone())).collect(), now)
    }

    /// [`StashCore::merge_json`] with the values as [`Node`]s. A value nested deeper than
    /// [`MAX_VALUE_DEPTH`] is refused ([`StashError::InvalidValue`]).
    pub fn merge(&mut self, changes: Vec<(Rc<str>, Node)>, now: u64) -> Result<(), StashError> {
        if let Some((key, _)) = changes.iter().find(|(_, value)| depth_of(value) > MAX_VALUE_DEPTH) {
            return Err(StashError::InvalidValue { message: format!("{key} nests deeper than {MAX_VALUE_DEPTH} levels") });
        }
        let vsn = self.vsn;
        self.write(
            now,
            false,
            Box::new(move |slice, stamp, _| {
                slice.merge(vsn, changes, stamp, now);
                true
            }),
        )
    }

    /// Drops `keys`; keys that are not stored (under this vsn) are ignored.
    pub fn drop_keys(&mut self, keys: &[String], now: u64) -> Result<(), StashError> {
        let vsn = self.vsn;
        self.write(now, false, Box::new(move |slice, stamp, _| slice.drop_keys(vsn, keys, stamp, now)))
    }

    /// Empties the view's slice (afterwards it reads as never stashed). Also the way out of
    /// corrupt data, which it replaces.
    pub fn reset(&mut self, now: u64) -> Result<(), StashError> {
        self.write(now, true, Box::new(move |slice, stamp, corrupt| slice.reset(stamp, now, corrupt)))
    }

    /// Feeds in a change another writer made: the slice's new stored text, or `None` when it was
    /// removed (storage cleared). When that writer's copy missed keys this one knows (two tabs
    /// racing), the joined slice is written back at once; [`StashCore::take_written`] has it.
    pub fn observe(&mut self, new_value: Option<&str>) {
        self.mirror = None;
        let Some(text) = new_value else {
            // Removed by something else (cleared storage): forget it, do not write it back.
            if !self.known.is_empty() || self.corrupt {
                self.known = Slice::default();
                self.corrupt = false;
                self.bump();
            }
            return;
        };
        match Slice::parse(text) {
            None => self.set_corrupt(),
            Some(slice) => {
                self.clock = self.clock.max(slice.max_clock());
                let was_corrupt = std::mem::replace(&mut self.corrupt, false);
                if self.known.join(slice) || was_corrupt {
                    self.bump();
                }
                self.repair();
            }
        }
    }

    /// Reads the stored slice again (e.g. after a change no event reported).
    pub fn refresh(&mut self) -> Result<(), StashError> {
        let text = self.storage.get(&self.key)?;
        self.absorb(text);
        Ok(())
    }

    /// The stored text of the last write since the last call (a change or a repair), for the
    /// driver to tell the other stashes of its own tab (storage events only reach other tabs).
    pub fn take_written(&mut self) -> Option<String> {
        self.written.take()
    }

    /// Read-modify-write: joins the stored slice into `known`, applies the change with a new
    /// stamp (`apply` says whether there was one), stores it, and takes it back if the storage
    /// refused it (a clone of the slice is O(1)).
    fn write(&mut self, now: u64, over_corrupt: bool, apply: Apply<'_>) -> Result<(), StashError> {
        let text = self.storage.get(&self.key)?;
        self.absorb(text);
        if self.corrupt && !over_corrupt {
            return Err(StashError::Corrupt);
        }
        let stamp = Stamp { clock: now.saturating_mul(1000).max(self.clock.saturating_add(1)), writer: self.writer.clone() };
        let before = self.known.clone();
        if !apply(&mut self.known, &stamp, self.corrupt) {
            return Ok(());
        }
        let text = self.known.to_text();
        match self.storage.set(&self.key, &text) {
            Ok(()) => {
                self.clock = stamp.clock;
                self.corrupt = false;
                self.mirror = Some(Some(text.clone()));
                self.written = Some(text);
                self.bump();
                Ok(())
            }
            Err(error) => {
                self.known = before;
                Err(error)
            }
        }
    }

    /// Joins the stored text into `known` (nothing to do when it is the text `known` mirrors).
    fn absorb(&mut self, text: Option<String>) {
        if self.mirror.as_ref() == Some(&text) {
            return;
        }
        let Some(text) = text else {
            // Absent: nothing to join (a removal is forgotten through `observe`).
            if std::mem::replace(&mut self.corrupt, false) {
                self.bump();
            }
            self.mirror = self.known.is_empty().then_some(None);
            return;
        };
        let Some(slice) = Slice::parse(&text) else {
            self.set_corrupt();
            return;
        };
        self.clock = self.clock.max(slice.max_clock());
        let same = slice.covers(&self.known);
        let was_corrupt = std::mem::replace(&mut self.corrupt, false);
        if self.known.join(slice) || was_corrupt {
            self.bump();
        }
        self.mirror = same.then_some(Some(text));
    }

    /// Writes back what the stored slice lacks of `known` (another writer's copy missed it).
    fn repair(&mut self) {
        if self.known.is_empty() {
            return;
        }
        // Absent: a removal is on its way, leave it; corrupt: never overwritten silently.
        let Ok(Some(text)) = self.storage.get(&self.key) else { return };
        let Some(mut current) = Slice::parse(&text) else { return };
        if current.covers(&self.known) {
            if self.known.covers(&current) {
                self.mirror = Some(Some(text));
            }
            return;
        }
        current.join(self.known.clone());
        let text = current.to_text();
        if self.storage.set(&self.key, &text).is_ok() {
            self.known = current;
            self.mirror = Some(Some(text.clone()));
            self.written = Some(text);
            self.bump();
        }
    }

    fn set_corrupt(&mut self) {
        if !self.corrupt || !self.known.is_empty() {
            self.corrupt = true;
            self.known = Slice::default();
            self.bump();
        }
        self.mirror = None;
    }

    fn bump(&mut self) {
        self.revision = self.revision.wrapping_add(1);
    }
}
