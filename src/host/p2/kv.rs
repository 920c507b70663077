//! The default key-value store: `fermyon:spin/key-value@2.0.0` for get and
//! set, and `wasi:keyvalue/atomics@0.2.0-draft2` (the same stores, in every
//! Spin since 3.0) for an exact compare-and-swap.

use crate::ports::{KvError, Swap};
use spin_sdk::key_value::Store;
#[cfg(feature = "kv-cas")]
use spin_sdk::wit::wasi::keyvalue::{atomics, store as wasi_kv};
use std::cell::OnceCell;

fn err(e: impl std::fmt::Debug) -> KvError {
    KvError(format!("{e:?}"))
}

/// Opened on first use; one instance serves one request, so a request that
/// needs no store opens none.
#[derive(Default)]
pub struct Kv {
    store: OnceCell<Store>,
    #[cfg(feature = "kv-cas")]
    bucket: OnceCell<wasi_kv::Bucket>,
}

impl Kv {
    fn store(&self) -> Result<&Store, KvError> {
        if let Some(s) = self.store.get() {
            return Ok(s);
        }
        let s = Store::open_default().map_err(err)?;
        Ok(self.store.get_or_init(|| s))
    }

    #[cfg(feature = "kv-cas")]
    fn bucket(&self) -> Result<&wasi_kv::Bucket, KvError> {
        if let Some(b) = self.bucket.get() {
            return Ok(b);
        }
        let b = wasi_kv::open("default").map_err(err)?;
        Ok(self.bucket.get_or_init(|| b))
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.store()?.get(key).map_err(err)
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.store()?.set(key, value).map_err(err)
    }

    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        self.store()?.delete(key).map_err(err)
    }

    /// The host's CAS handle remembers the version it saw; `swap` fails if
    /// any writer changed the key since, so of two racing claimants exactly
    /// one wins.
    #[cfg(feature = "kv-cas")]
    pub fn swap(&self, key: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<Swap, KvError> {
        let cas = atomics::Cas::new(self.bucket()?, key).map_err(err)?;
        if cas.current().map_err(err)?.as_deref() != expected {
            return Ok(Swap::Changed);
        }
        match atomics::swap(cas, value) {
            Ok(()) => Ok(Swap::Done),
            // A failed swap is not always a lost one: Spin's Redis store
            // (spinframework/spin crates/key-value-redis/src/store.rs) sends
            // `UNWATCH <key>`, which Redis refuses (UNWATCH takes no
            // argument), so every swap reports `cas-failed`, whether its
            // MULTI/EXEC wrote or was aborted by the WATCH. What the key holds
            // now tells which: our bytes, or the winner's.
            Err(atomics::CasError::CasFailed(_)) => match self.get(key)? {
                Some(now) if now == value => Ok(Swap::Done),
                _ => Ok(Swap::Changed),
            },
            Err(atomics::CasError::StoreError(e)) => Err(err(e)),
        }
    }
}

/// Built without `kv-cas`: the interface is not imported at all.
#[cfg(not(feature = "kv-cas"))]
impl Kv {
    pub fn swap(&self, _: &str, _: Option<&[u8]>, _: &[u8]) -> Result<Swap, KvError> {
        Ok(Swap::Unsupported)
    }
}
