//! A job's lease: "run X of job J goes on until T", so that two runs of one
//! job (overlapping schedules, two replicas, a cron and a person) never
//! work at once. The value is `<expires_ms>:<owner as 16 hex digits>`,
//! sealed by the store ([`super::store`]); it is released at the end of the
//! run and expires on its own after the run's budget and a margin, so a
//! run that died holds the job back for at most that long.
//!
//! How exact it is depends on the store:
//! - key-value store with compare-and-swap (`kv-cas`, `spin.cas.toml`): the
//!   lease replaces exactly the bytes that were read; of two runs racing,
//!   one wins. Exact.
//! - files (`wasmtime serve` with `token_cache_dir`): an absent lease is
//!   created exclusively (a hard link of a fully written temp file); an
//!   expired one is taken over by whoever first creates, exclusively, the
//!   marker file named after that expired value, and checks it is still
//!   there. Exact.
//! - key-value store without compare-and-swap (the default `spin` build,
//!   Akamai Functions, SpinKube): write, wait [`SETTLE`], read back; the
//!   last writer wins, and both racers see it unless the store is slower
//!   than the wait. Best effort: two runs may overlap; each event is
//!   still applied once (the I/O Events ledger's claim), at worst a page is
//!   read twice.

use super::store::{Store, StoreError};
use crate::place::Where;
use crate::ports::Ports;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// What a lease holds beyond the run's budget: the last store writes and
/// the answer.
pub const MARGIN_MS: u64 = 10_000;
/// Between writing a lease and reading it back where the store has no
/// compare-and-swap (the ledger's claims wait as long).
pub const SETTLE: Duration = Duration::from_millis(50);
/// A lease further ahead than this is not believed (a wrong clock, a stray
/// writer): the longest budget and the margin, and a little more.
const MAX_AHEAD_MS: u64 = crate::config::jobs::JOBS_TIMEOUT_MS.max + MARGIN_MS + 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    pub expires_ms: u64,
    pub owner: u64,
}

impl Lease {
    pub fn encode(&self) -> Vec<u8> {
        format!("{}:{:016x}", self.expires_ms, self.owner).into_bytes()
    }

    /// `None` for anything that is not a lease.
    pub fn parse(value: &[u8]) -> Option<Lease> {
        let text = std::str::from_utf8(value).ok()?;
        let (expires, owner) = text.split_once(':')?;
        if expires.is_empty()
            || expires.len() > 20
            || !expires.bytes().all(|b| b.is_ascii_digit())
            || owner.len() != 16
            || !owner.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        Some(Lease {
            expires_ms: expires.parse().ok()?,
            owner: u64::from_str_radix(owner, 16).ok()?,
        })
    }

    /// Until when this lease holds `me` back; `None` when it is ours,
    /// expired or not believable.
    pub fn holds_back(&self, me: u64, now_ms: u64) -> Option<u64> {
        (self.owner != me
            && self.expires_ms > now_ms
            && self.expires_ms <= now_ms.saturating_add(MAX_AHEAD_MS))
        .then_some(self.expires_ms)
    }
}

/// A lease this run holds.
pub struct Held {
    name: String,
    owner: u64,
    /// The takeover marker to remove with the lease (files).
    marker: Option<String>,
    /// Whether the store could make it exact.
    pub exact: bool,
}

/// Takes `job`'s lease for `hold_ms`. `Ok(Err(seconds))`: another run holds
/// it; come back after that.
pub async fn take<P: Ports>(
    store: &Store,
    ports: &P,
    job: &str,
    hold_ms: u64,
) -> Result<Result<Held, u64>, StoreError> {
    let name = store.name(job, "lease");
    let mut b = [0u8; 8];
    ports.fill_random(&mut b);
    let owner = u64::from_le_bytes(b);
    let now = ports.now_ms();
    let current = store.get(ports, &name).await?;
    let busy = |until: u64, now: u64| until.saturating_sub(now).div_ceil(1000).clamp(1, 60);
    if let Some(l) = current.as_deref().and_then(|c| read(store, &name, c))
        && let Some(until) = l.holds_back(owner, now)
    {
        return Ok(Err(busy(until, now)));
    }
    let lease = Lease {
        expires_ms: now.saturating_add(hold_ms),
        owner,
    };
    let sealed = store.seal(&name, &lease.encode());
    let held = |exact, marker| Held {
        name: name.clone(),
        owner,
        marker,
        exact,
    };
    match store
        .swap(ports, &name, current.as_deref(), sealed.clone())
        .await?
    {
        Some(true) => return Ok(Ok(held(true, None))),
        Some(false) => return Ok(Err(1)),
        None => {}
    }
    if let (Where::Dir(_), Some(stale)) = (store.place(), &current) {
        // An expired lease file: the first to create this value's marker
        // takes it over; the value must still be there when it does.
        let marker = store.name(job, &format!("lease.{}", hex16(stale)));
        if store.swap(ports, &marker, None, sealed.clone()).await? != Some(true) {
            return Ok(Err(1));
        }
        if store.get(ports, &name).await?.as_deref() != Some(stale.as_slice()) {
            let _ = store.delete(ports, &marker).await;
            return Ok(Err(1));
        }
        store.put(ports, &name, sealed).await?;
        return Ok(Ok(held(true, Some(marker))));
    }
    // No compare-and-swap: write, wait, read back; the last writer wins.
    store.put(ports, &name, sealed).await?;
    ports.sleep(SETTLE).await;
    let seen = store.get(ports, &name).await?;
    let ours = seen
        .as_deref()
        .and_then(|s| read(store, &name, s))
        .is_some_and(|l| l.owner == owner);
    Ok(if ours { Ok(held(false, None)) } else { Err(1) })
}

/// Gives the lease back, if it is still ours (a failure is left to expire).
pub async fn release<P: Ports>(store: &Store, ports: &P, held: &Held) {
    if let Ok(Some(bytes)) = store.get(ports, &held.name).await
        && read(store, &held.name, &bytes).is_some_and(|l| l.owner == held.owner)
    {
        let _ = store.delete(ports, &held.name).await;
    }
    if let Some(marker) = &held.marker {
        let _ = store.delete(ports, marker).await;
    }
}

fn read(store: &Store, name: &str, bytes: &[u8]) -> Option<Lease> {
    store.open(name, bytes).and_then(Lease::parse)
}

fn hex16(bytes: &[u8]) -> String {
    crate::config::hex(&Sha256::digest(bytes)[..8])
}
