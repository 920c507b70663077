//! Where other instances find the token: the key-value store and, when
//! `token_cache_dir` is set, a file there. Both hold the same sealed bytes
//! under the same key derivation; the file exists because `wasmtime serve`'s
//! key-value store keeps nothing between instances while a preopened
//! directory does.
//!
//! Nothing here fails a request: a read error is a miss, a write error a
//! skipped write, and each kind of store is warned about once per instance.

use super::lease::Lease;
use crate::ports::{Ports, Swap};
use std::cell::Cell;

pub struct Shared {
    kv_key: String,
    kv_lease_key: String,
    file: Option<Files>,
    kv_warned: Cell<bool>,
    file_warned: Cell<bool>,
}

/// Paths inside `token_cache_dir`, named from the fingerprint like the KV keys.
struct Files {
    dir: String,
    token: String,
    lease: String,
}

/// What came of asking for the lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours until it expires or is released.
    Taken,
    /// Another instance is refreshing until then.
    HeldBy(u64),
    /// No lease here (a cold start with only the key-value store) or the
    /// store failed: go ahead, a duplicate refresh is harmless.
    None,
}

/// Whether a token is held: `Early` refreshes one that is still valid, `Cold`
/// has none to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Early,
    Cold,
}

impl Shared {
    pub fn new(fingerprint: &str, token_cache_dir: Option<&str>) -> Self {
        let file = token_cache_dir.map(|dir| {
            let dir = format!("{}/", dir.trim_end_matches('/'));
            Files {
                token: format!("{dir}accs-edge-ims-token-v2-{fingerprint}"),
                lease: format!("{dir}accs-edge-ims-lease-v1-{fingerprint}"),
                dir,
            }
        });
        Shared {
            kv_key: format!("accs-edge/ims-token/v2/{fingerprint}"),
            kv_lease_key: format!("accs-edge/ims-lease/v1/{fingerprint}"),
            file,
            kv_warned: Cell::new(false),
            file_warned: Cell::new(false),
        }
    }

    /// The KV key, and the associated data every sealed copy is bound to.
    pub fn kv_key(&self) -> &str {
        &self.kv_key
    }

    pub fn kv_lease_key(&self) -> &str {
        &self.kv_lease_key
    }

    pub fn file_path(&self) -> Option<&str> {
        self.file.as_ref().map(|f| f.token.as_str())
    }

    pub fn lease_path(&self) -> Option<&str> {
        self.file.as_ref().map(|f| f.lease.as_str())
    }

    pub async fn read_kv<P: Ports>(&self, ports: &P) -> Option<Vec<u8>> {
        match ports.kv_get(&self.kv_key).await {
            Ok(v) => v,
            Err(e) => {
                self.warn_kv(ports, &e.0);
                None
            }
        }
    }

    pub async fn read_file<P: Ports>(&self, ports: &P) -> Option<Vec<u8>> {
        let files = self.file.as_ref()?;
        match ports.file_read(&files.token).await {
            Ok(v) => v,
            Err(e) => {
                self.warn_file(ports, "read the token file", &e.0);
                None
            }
        }
    }

    /// Stores a newly sealed token everywhere it is shared; the file is
    /// replaced atomically (temp file + rename), so a reader never sees half.
    pub async fn write<P: Ports>(&self, ports: &P, sealed: Vec<u8>) {
        if let Some(files) = &self.file {
            let tmp = temp_path(ports, &files.dir, "token");
            let written = match ports.file_write(&tmp, &sealed).await {
                Ok(()) => ports.file_rename(&tmp, &files.token).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                let _ = ports.file_remove(&tmp).await;
                self.warn_file(ports, "write the token file", &e.0);
            }
        }
        if let Err(e) = ports.kv_set(&self.kv_key, sealed).await {
            self.warn_kv(ports, &e.0);
        }
    }

    /// Asks for the lease before a refresh. With a token directory the lease
    /// is a file created exclusively (a hard link of a fully written temp
    /// file), a real lock among the instances sharing the directory, cold
    /// ones included. Without one it is a KV entry, taken only for an early
    /// refresh: the store has no exclusive create, and a cold start with an
    /// empty store then costs one read and one write, as before.
    pub async fn claim<P: Ports>(&self, ports: &P, now: u64, owner: u64, need: Need) -> Claim {
        let lease = Lease::new(now, owner);
        match (&self.file, need) {
            // A directory that cannot be used (Spin has no token files, or
            // it is missing) must not cost the early refresh its KV lease.
            (Some(files), _) => match self.claim_file(ports, files, now, lease).await {
                Claim::None if need == Need::Early && self.file_warned.get() => {
                    self.claim_kv(ports, now, lease).await
                }
                claim => claim,
            },
            (None, Need::Early) => self.claim_kv(ports, now, lease).await,
            (None, Need::Cold) => Claim::None,
        }
    }

    async fn claim_kv<P: Ports>(&self, ports: &P, now: u64, lease: Lease) -> Claim {
        let current = match ports.kv_get(&self.kv_lease_key).await {
            Ok(current) => current,
            Err(e) => {
                self.warn_kv(ports, &e.0);
                return Claim::None;
            }
        };
        if let Some(until) = current
            .as_deref()
            .and_then(Lease::parse)
            .and_then(|l| l.holds_back(lease.owner, now))
        {
            return Claim::HeldBy(until);
        }
        // Exact where the host can: replace only the lease that was read.
        match ports
            .kv_swap(&self.kv_lease_key, current.as_deref(), lease.encode())
            .await
        {
            Ok(Swap::Done) => return Claim::Taken,
            Ok(Swap::Changed) => return Claim::HeldBy(lease.expires_ms),
            Ok(Swap::Unsupported) => {}
            Err(e) => {
                self.warn_kv(ports, &e.0);
                return Claim::None;
            }
        }
        match ports.kv_set(&self.kv_lease_key, lease.encode()).await {
            Ok(()) => Claim::Taken,
            Err(e) => {
                self.warn_kv(ports, &e.0);
                Claim::None
            }
        }
    }

    async fn claim_file<P: Ports>(
        &self,
        ports: &P,
        files: &Files,
        now: u64,
        lease: Lease,
    ) -> Claim {
        let tmp = temp_path(ports, &files.dir, "lease");
        if let Err(e) = ports.file_write(&tmp, &lease.encode()).await {
            let _ = ports.file_remove(&tmp).await;
            self.warn_file(ports, "write the lease", &e.0);
            return Claim::None;
        }
        let mut claim = Claim::None;
        // Twice at most: a stale lease is removed once and the link retried.
        for _ in 0..2 {
            match ports.file_link(&tmp, &files.lease).await {
                Ok(true) => {
                    claim = Claim::Taken;
                    break;
                }
                Ok(false) => {}
                Err(e) => {
                    self.warn_file(ports, "link the lease", &e.0);
                    break;
                }
            }
            let current = match ports.file_read(&files.lease).await {
                Ok(v) => v,
                Err(e) => {
                    self.warn_file(ports, "read the lease", &e.0);
                    break;
                }
            };
            if let Some(until) = current
                .as_deref()
                .and_then(Lease::parse)
                .and_then(|l| l.holds_back(lease.owner, now))
            {
                claim = Claim::HeldBy(until);
                break;
            }
            // Expired, ours from before, or not a lease: clear it and retry.
            if let Err(e) = ports.file_remove(&files.lease).await {
                self.warn_file(ports, "remove a stale lease", &e.0);
                break;
            }
        }
        let _ = ports.file_remove(&tmp).await;
        claim
    }

    /// Gives the lease back once the refresh is over, so that a cold
    /// instance does not wait for it to expire. Only a lease file is removed,
    /// and only if it is still ours; a KV lease simply expires (the next
    /// refresher looks for a newer token before it looks at the lease).
    pub async fn release<P: Ports>(&self, ports: &P, owner: u64) {
        let Some(files) = &self.file else { return };
        if let Ok(Some(current)) = ports.file_read(&files.lease).await
            && Lease::parse(&current).is_some_and(|l| l.owner == owner)
        {
            let _ = ports.file_remove(&files.lease).await;
        }
    }

    fn warn_kv<P: Ports>(&self, ports: &P, reason: &str) {
        if !self.kv_warned.replace(true) {
            warn(
                ports,
                "key-value store unavailable; the token is not shared through it",
                reason,
            );
        }
    }

    /// Names the operation: without hard links, say, the token file still
    /// works and only the lease is skipped.
    fn warn_file<P: Ports>(&self, ports: &P, operation: &str, reason: &str) {
        if !self.file_warned.replace(true) {
            warn(
                ports,
                "token_cache_dir unavailable; going on without what failed",
                &format!("{operation}: {reason}"),
            );
        }
    }
}

fn warn<P: Ports>(ports: &P, message: &str, reason: &str) {
    let line = serde_json::json!({
        "level": "warn",
        "message": message,
        "reason": reason,
    });
    ports.log(&line.to_string());
}

/// A name no other instance picks: the dot keeps it out of the way.
fn temp_path<P: Ports>(ports: &P, dir: &str, what: &str) -> String {
    let mut b = [0u8; 8];
    ports.fill_random(&mut b);
    format!("{dir}.accs-edge-{what}-{:016x}.tmp", u64::from_le_bytes(b))
}
