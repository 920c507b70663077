//! Where what must outlive an instance is kept, and the store calls over
//! it: the key-value store where the deployment's instances share it
//! (Spin), else files in `token_cache_dir` (`wasmtime serve`, whose
//! `wasi:keyvalue` keeps nothing beyond one instance), else nowhere. The
//! webhook and I/O Events ledger, the echo notes, the dead letters and the
//! jobs' state all keep their values through this one piece, each under
//! names and MACs of its own.

use crate::config::Settings;
use crate::ports::Ports;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Where {
    /// The key-value store, shared by the deployment's instances.
    Kv,
    /// Files in this directory (`token_cache_dir`, with a trailing `/`).
    Dir(String),
    /// No store outlives an instance here (`wasmtime serve` without
    /// `token_cache_dir`).
    Missing,
}

/// Why a store call failed: what was being done, and the host's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceError(pub &'static str, pub String);

impl PlaceError {
    /// For a log line or an answer: the operation and the host's reason,
    /// cut short, withheld when it names a URL (a store's address may carry
    /// its password).
    pub fn describe(&self) -> String {
        let reason: String = if self.1.contains("://") {
            "(a reason naming a URL, withheld)".into()
        } else {
            self.1.chars().take(160).collect()
        };
        format!("{}: {reason}", self.0)
    }
}

impl Where {
    /// The place on a host whose key-value store is shared (`kv_shared`) or not.
    pub fn of(settings: &Settings, kv_shared: bool) -> Where {
        match (&settings.token_cache_dir, kv_shared) {
            (_, true) => Where::Kv,
            (Some(dir), false) => Where::Dir(format!("{}/", dir.trim_end_matches('/'))),
            (None, false) => Where::Missing,
        }
    }

    /// The file of `name` under `dir`: one flat directory.
    pub fn path(dir: &str, name: &str) -> String {
        format!("{dir}{}", name.replace('/', "-"))
    }

    /// A temp file no other instance picks (`tag` names its owner); the dot
    /// keeps it out of the way.
    pub fn temp_path<P: Ports>(ports: &P, dir: &str, tag: &str) -> String {
        let mut b = [0u8; 8];
        ports.fill_random(&mut b);
        format!("{dir}.accs-edge-{tag}-{:016x}.tmp", u64::from_le_bytes(b))
    }

    pub async fn get<P: Ports>(
        &self,
        ports: &P,
        name: &str,
    ) -> Result<Option<Vec<u8>>, PlaceError> {
        match self {
            Where::Kv => ports
                .kv_get(name)
                .await
                .map_err(|e| PlaceError("read", e.0)),
            Where::Dir(dir) => ports
                .file_read(&Self::path(dir, name))
                .await
                .map_err(|e| PlaceError("read", e.0)),
            Where::Missing => Err(PlaceError("read", "no store".into())),
        }
    }

    /// Writes `value` under `name`; a file is replaced atomically (a temp
    /// file tagged `tag`, renamed over), so no reader sees half a value.
    pub async fn put<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        value: Vec<u8>,
        tag: &str,
    ) -> Result<(), PlaceError> {
        match self {
            Where::Kv => ports
                .kv_set(name, value)
                .await
                .map_err(|e| PlaceError("write", e.0)),
            Where::Dir(dir) => {
                let tmp = Self::temp_path(ports, dir, tag);
                let written = match ports.file_write(&tmp, &value).await {
                    Ok(()) => ports.file_rename(&tmp, &Self::path(dir, name)).await,
                    Err(e) => Err(e),
                };
                if written.is_err() {
                    let _ = ports.file_remove(&tmp).await;
                }
                written.map_err(|e| PlaceError("write", e.0))
            }
            Where::Missing => Err(PlaceError("write", "no store".into())),
        }
    }

    pub async fn delete<P: Ports>(&self, ports: &P, name: &str) -> Result<(), PlaceError> {
        match self {
            Where::Kv => ports
                .kv_delete(name)
                .await
                .map_err(|e| PlaceError("delete", e.0)),
            Where::Dir(dir) => ports
                .file_remove(&Self::path(dir, name))
                .await
                .map_err(|e| PlaceError("delete", e.0)),
            Where::Missing => Err(PlaceError("delete", "no store".into())),
        }
    }
}
