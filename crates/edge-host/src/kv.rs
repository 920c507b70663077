//! The key-value data behind the Spin flavour's `spin:key-value` store "default",
//! and the counters of the guest's key-value calls in both flavours.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A key-value map shared by every instance of an [`EdgeHost`](crate::EdgeHost) (and by
/// every clone of it), so data written by one instance is seen by the next, as with a
/// Spin key-value store.
///
/// The counters count the guest's operations only, including ones that fail: `get`
/// (and `get-many`) in [`gets`](Self::gets), `set` (and `set-many`, `increment`) in
/// [`sets`](Self::sets), `delete` (and `delete-many`) in [`deletes`](Self::deletes);
/// `open`, `exists` and listing keys count nowhere. They count the Spin flavour's
/// `spin:key-value` calls and the wasmtime flavour's `wasi:keyvalue` calls (whose data
/// is not this map but a copy of the seed per `open`). The host-side accessors here do
/// not count.
#[derive(Clone, Default)]
pub struct SharedKv {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
    gets: AtomicU64,
    sets: AtomicU64,
    deletes: AtomicU64,
    failing: AtomicBool,
}

/// Which counter a guest operation counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
    Delete,
}

/// Why a guest key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvFailure {
    /// `set_failing(true)` is in force.
    Injected,
}

impl SharedKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `data`.
    pub fn with_data<I, K, V>(data: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Vec<u8>>,
    {
        let kv = Self::default();
        kv.map()
            .extend(data.into_iter().map(|(k, v)| (k.into(), v.into())));
        kv
    }

    fn map(&self) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.inner.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value stored under `k` (not counted in [`gets`](Self::gets)).
    pub fn get(&self, k: &str) -> Option<Vec<u8>> {
        self.map().get(k).cloned()
    }

    /// Stores `v` under `k` (not counted in [`sets`](Self::sets)).
    pub fn set(&self, k: &str, v: Vec<u8>) {
        self.map().insert(k.to_string(), v);
    }

    /// Removes `k`, returning its value.
    pub fn remove(&self, k: &str) -> Option<Vec<u8>> {
        self.map().remove(k)
    }

    /// Removes every key.
    pub fn clear(&self) {
        self.map().clear();
    }

    /// All keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.map().keys().cloned().collect()
    }

    /// A copy of the whole map.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.map().clone()
    }

    /// How many `get` calls the guest made.
    pub fn gets(&self) -> u64 {
        self.inner.gets.load(Ordering::SeqCst)
    }

    /// How many `set` calls the guest made.
    pub fn sets(&self) -> u64 {
        self.inner.sets.load(Ordering::SeqCst)
    }

    /// How many `delete` calls the guest made.
    pub fn deletes(&self) -> u64 {
        self.inner.deletes.load(Ordering::SeqCst)
    }

    /// Sets the counters back to zero.
    pub fn reset_counters(&self) {
        self.inner.gets.store(0, Ordering::SeqCst);
        self.inner.sets.store(0, Ordering::SeqCst);
        self.inner.deletes.store(0, Ordering::SeqCst);
    }

    /// While `fail` is true every guest key-value operation (`open` included) returns
    /// `error::other("injected")`.
    pub fn set_failing(&self, fail: bool) {
        self.inner.failing.store(fail, Ordering::SeqCst);
    }

    /// Whether [`set_failing`](Self::set_failing) is in force.
    pub fn is_failing(&self) -> bool {
        self.inner.failing.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), KvFailure> {
        if self.is_failing() {
            Err(KvFailure::Injected)
        } else {
            Ok(())
        }
    }

    pub(crate) fn guest_open(&self) -> Result<(), KvFailure> {
        self.check()
    }

    /// Counts one guest operation of kind `op`, then fails it if failing is set.
    pub(crate) fn count(&self, op: Op) -> Result<(), KvFailure> {
        let counter = match op {
            Op::Read => &self.inner.gets,
            Op::Write => &self.inner.sets,
            Op::Delete => &self.inner.deletes,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        self.check()
    }

    pub(crate) fn guest_get(&self, k: &str) -> Result<Option<Vec<u8>>, KvFailure> {
        self.count(Op::Read)?;
        Ok(self.get(k))
    }

    pub(crate) fn guest_set(&self, k: &str, v: Vec<u8>) -> Result<(), KvFailure> {
        self.count(Op::Write)?;
        self.set(k, v);
        Ok(())
    }

    pub(crate) fn guest_delete(&self, k: &str) -> Result<(), KvFailure> {
        self.count(Op::Delete)?;
        self.remove(k);
        Ok(())
    }

    /// Fails if failing is set; counts nothing (`open`, `exists`, listing keys).
    pub(crate) fn uncounted(&self) -> Result<(), KvFailure> {
        self.check()
    }

    pub(crate) fn guest_exists(&self, k: &str) -> Result<bool, KvFailure> {
        self.check()?;
        Ok(self.map().contains_key(k))
    }

    pub(crate) fn guest_keys(&self) -> Result<Vec<String>, KvFailure> {
        self.check()?;
        Ok(self.keys())
    }
}

impl fmt::Debug for SharedKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKv")
            .field("keys", &self.keys())
            .field("gets", &self.gets())
            .field("sets", &self.sets())
            .field("failing", &self.is_failing())
            .finish()
    }
}
