//! Where the dead letters live: the key-value store where it is shared by
//! the deployment's instances (Spin), else files in `token_cache_dir`
//! (`wasmtime serve`), else nowhere (the routes answer 503), as the ledger.

use crate::config::Settings;
use crate::ports::{Ports, Swap};
use crate::webhook::ledger::Where;

/// Why the store could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub &'static str, pub String);

impl StoreError {
    /// For a log line: the operation and the host's reason, cut short, and
    /// withheld when it names a URL (a store's address may carry a password).
    pub fn describe(&self) -> String {
        let reason: String = if self.1.contains("://") {
            "(a reason naming a URL, withheld)".into()
        } else {
            self.1.chars().take(160).collect()
        };
        format!("{}: {reason}", self.0)
    }
}

pub struct Store {
    place: Where,
}

impl Store {
    pub fn new(settings: &Settings, kv_shared: bool) -> Store {
        let place = match (&settings.token_cache_dir, kv_shared) {
            (_, true) => Where::Kv,
            (Some(dir), false) => Where::Dir(format!("{}/", dir.trim_end_matches('/'))),
            (None, false) => Where::Missing,
        };
        Store { place }
    }

    pub fn place(&self) -> &Where {
        &self.place
    }

    fn path(dir: &str, name: &str) -> String {
        format!("{dir}{}", name.replace('/', "-"))
    }

    pub async fn get<P: Ports>(
        &self,
        ports: &P,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.place {
            Where::Kv => ports
                .kv_get(name)
                .await
                .map_err(|e| StoreError("read", e.0)),
            Where::Dir(dir) => ports
                .file_read(&Self::path(dir, name))
                .await
                .map_err(|e| StoreError("read", e.0)),
            Where::Missing => Err(StoreError("read", "no store".into())),
        }
    }

    pub async fn put<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        match &self.place {
            Where::Kv => ports
                .kv_set(name, value)
                .await
                .map_err(|e| StoreError("write", e.0)),
            Where::Dir(dir) => {
                // Replaced atomically: a reader never sees half a value.
                let mut b = [0u8; 8];
                ports.fill_random(&mut b);
                let tmp = format!("{dir}.accs-edge-dead-{:016x}.tmp", u64::from_le_bytes(b));
                let written = match ports.file_write(&tmp, &value).await {
                    Ok(()) => ports.file_rename(&tmp, &Self::path(dir, name)).await,
                    Err(e) => Err(e),
                };
                if written.is_err() {
                    let _ = ports.file_remove(&tmp).await;
                }
                written.map_err(|e| StoreError("write", e.0))
            }
            Where::Missing => Err(StoreError("write", "no store".into())),
        }
    }

    /// Writes `value` only if `name` still holds `expected`, where the host
    /// can tell (`kv-cas`); elsewhere [`Swap::Unsupported`] and nothing written.
    pub async fn swap<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        expected: Option<&[u8]>,
        value: Vec<u8>,
    ) -> Result<Swap, StoreError> {
        match &self.place {
            Where::Kv => ports
                .kv_swap(name, expected, value)
                .await
                .map_err(|e| StoreError("write", e.0)),
            _ => Ok(Swap::Unsupported),
        }
    }

    pub async fn delete<P: Ports>(&self, ports: &P, name: &str) -> Result<(), StoreError> {
        match &self.place {
            Where::Kv => ports
                .kv_delete(name)
                .await
                .map_err(|e| StoreError("delete", e.0)),
            Where::Dir(dir) => ports
                .file_remove(&Self::path(dir, name))
                .await
                .map_err(|e| StoreError("delete", e.0)),
            Where::Missing => Err(StoreError("delete", "no store".into())),
        }
    }
}
