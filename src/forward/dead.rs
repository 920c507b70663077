//! The dead letters: forwarded events a target did not take (refused with a
//! 4xx, or failed `forward_max_attempts` times), kept to be listed,
//! replayed or deleted (`/v1/dead-letters`, docs/FORWARDING.md).
//!
//! - **Sealed.** The event's body (customer data) is sealed with
//!   ChaCha20-Poly1305 under a key derived from the last `ims_client_secret`
//!   (HKDF-SHA256, its own label, apart from the token's), bound to the
//!   letter's name, event id and target (the AAD), so a body cannot be moved
//!   to another letter. The index (the letters' metadata: ids, types,
//!   targets, attempts, times, statuses, reasons) is sealed the same way
//!   under its own name: a forged or altered store entry does not open, and
//!   is a store failure, never a letter.
//! - **Bounded.** At most [`MAX_LETTERS`] letters; a body over [`MAX_BODY`]
//!   is not kept (the letter is listed, not replayable). When full, the
//!   oldest letter is dropped with a warn log line. The index stays under
//!   about 70 KB, a body value under 257 KiB: both within Akamai Functions'
//!   1 MB per value.
//! - **Writes.** A new letter: 2 (its body, the index), 3 when it drops the
//!   oldest (that body's delete). A replay that delivers: 2 (the index, the
//!   body's delete); one that fails: 1 (the index). A delete: 2.
//! - **One index.** The list is one value, so a listing is one read. It is
//!   replaced by compare-and-swap where the host has it (`kv-cas`: exact);
//!   elsewhere it is rewritten (the default Spin build and files: two
//!   instances dead-lettering at the same instant may lose one entry; its
//!   body stays unlisted until the same pair is dead-lettered again).
//! - **Ids.** A letter's id is a MAC of its event id and target: the same
//!   pair dead-lettered again (a redelivery after a store failure) replaces
//!   its letter instead of adding one.

use super::store::{Store, StoreError};
use crate::config::Settings;
use crate::ports::{Ports, Swap};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Letters kept at most; the oldest is dropped beyond.
pub const MAX_LETTERS: usize = 100;
/// The largest event body a letter keeps (bytes): larger ones are listed
/// without it and cannot be replayed.
pub const MAX_BODY: usize = 256 * 1024;
/// A page of the list, at most (and by default).
pub const MAX_PAGE: usize = 100;
/// A letter's reason, at most (characters).
const MAX_REASON: usize = 200;
/// Index rewrites tried when another instance changed it first (`kv-cas`).
const SWAP_TRIES: usize = 4;
const VERSION: &[u8; 2] = b"d1";
const NONCE_LEN: usize = 12;

/// Why the dead letters could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeadError {
    /// No store outlives an instance here (`wasmtime serve` without
    /// `token_cache_dir`).
    #[error(
        "no store for dead letters on this host: set `token_cache_dir` (wasmtime serve), or run where the key-value store is shared (Spin)"
    )]
    Missing,
    #[error("the dead-letter store failed ({})", .0.describe())]
    Store(StoreError),
    /// A value that does not open under this deployment's key.
    #[error("a dead-letter entry in the store does not authenticate under this deployment's key")]
    Unauthentic,
    /// Other instances kept changing the index.
    #[error("the dead-letter index kept changing under other instances' writes")]
    Contended,
}

impl From<StoreError> for DeadError {
    fn from(e: StoreError) -> Self {
        DeadError::Store(e)
    }
}

/// One letter's metadata, as the index holds it and the list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letter {
    pub id: String,
    /// Its place in the list: ascending, oldest first; the page cursor.
    pub seq: u64,
    pub event_id: String,
    pub event_type: String,
    pub target: String,
    pub attempts: u32,
    pub first_attempt_ms: u64,
    pub last_attempt_ms: u64,
    /// The last answer's status; `None` for none (a timeout, no connection).
    pub last_status: Option<u16>,
    pub reason: String,
    pub dead_lettered_ms: u64,
    /// Whether the body was kept (under [`MAX_BODY`]): replayable.
    pub kept: bool,
}

impl Letter {
    /// The list's JSON for it (times as RFC 3339 and ms).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "target": self.target,
            "attempts": self.attempts,
            "first_attempt": rfc3339(self.first_attempt_ms),
            "last_attempt": rfc3339(self.last_attempt_ms),
            "first_attempt_ms": self.first_attempt_ms,
            "last_attempt_ms": self.last_attempt_ms,
            "last_status": self.last_status,
            "reason": self.reason,
            "dead_lettered_at": rfc3339(self.dead_lettered_ms),
            "replayable": self.kept,
        })
    }
}

/// `ms` as an RFC 3339 UTC time with milliseconds.
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // H. Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// A letter to add: its pair, what happened, and the event's body.
pub struct NewLetter<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub target: &'a str,
    pub attempts: u32,
    pub first_attempt_ms: u64,
    pub last_attempt_ms: u64,
    pub last_status: Option<u16>,
    pub reason: &'a str,
    pub body: &'a [u8],
}

#[derive(Default, Serialize, Deserialize)]
struct Index {
    /// The next letter's `seq`.
    #[serde(rename = "n")]
    next: u64,
    #[serde(rename = "l")]
    letters: Vec<Letter>,
}

/// One page of the list.
pub struct Page {
    pub letters: Vec<Letter>,
    /// The cursor of the next page, when there is one.
    pub next: Option<u64>,
    pub total: usize,
}

/// The dead letters of one deployment.
pub struct DeadLetters {
    key: [u8; 32],
    mac_key: [u8; 32],
    prefix: String,
    store: Store,
}

type HmacSha256 = Hmac<Sha256>;

impl DeadLetters {
    /// The dead letters of the deployment `settings` describe, on a host
    /// whose key-value store is shared (`kv_shared`) or not. Keyed from the
    /// **last** `ims_client_secret`, as the events ledger (rotation adds
    /// the new secret in front); separated from other deployments sharing
    /// a store by the ACCS base URL and the IMS client id.
    pub fn new(settings: &Settings, kv_shared: bool) -> DeadLetters {
        let secret = settings
            .ims_client_secrets
            .last()
            .map(|s| s.expose().as_bytes())
            .unwrap_or_default();
        let mut info = settings.accs_base_url.as_str().as_bytes().to_vec();
        info.push(0);
        info.extend_from_slice(settings.ims_client_id.as_bytes());
        let hk = Hkdf::<Sha256>::new(Some(b"accs-edge/dead-letters/v1"), secret);
        let mut okm = [0u8; 64];
        hk.expand(&info, &mut okm).expect("64-byte HKDF output");
        let (mut key, mut mac_key) = ([0u8; 32], [0u8; 32]);
        key.copy_from_slice(&okm[..32]);
        mac_key.copy_from_slice(&okm[32..]);
        let mut dead = DeadLetters {
            key,
            mac_key,
            prefix: String::new(),
            store: Store::new(settings, kv_shared),
        };
        let ns = crate::config::hex(&dead.mac(&[b"namespace"])[..8]);
        dead.prefix = format!("accs-edge/dead/v1/{ns}/");
        dead
    }

    /// Whether this host can keep dead letters at all.
    pub fn available(&self) -> bool {
        !matches!(self.store.place(), crate::place::Where::Missing)
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.mac_key).expect("any key length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// The id of the letter of (`event_id`, `target`): 24 hex digits.
    pub fn id_for(&self, event_id: &str, target: &str) -> String {
        crate::config::hex(&self.mac(&[b"id", event_id.as_bytes(), target.as_bytes()])[..12])
    }

    /// Whether `id` has the shape of an id (anything else is not found).
    pub fn is_id(id: &str) -> bool {
        id.len() == 24 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    fn index_name(&self) -> String {
        format!("{}index", self.prefix)
    }

    fn body_name(&self, id: &str) -> String {
        format!("{}b/{id}", self.prefix)
    }

    fn seal<P: Ports>(&self, ports: &P, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        ports.fill_random(&mut nonce);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.key));
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .unwrap_or_default();
        let mut out = Vec::with_capacity(VERSION.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    fn open(&self, aad: &[u8], value: &[u8]) -> Result<Vec<u8>, DeadError> {
        let rest = value
            .strip_prefix(VERSION.as_slice())
            .filter(|r| r.len() >= NONCE_LEN)
            .ok_or(DeadError::Unauthentic)?;
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        ChaCha20Poly1305::new(Key::from_slice(&self.key))
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map_err(|_| DeadError::Unauthentic)
    }

    fn body_aad(&self, id: &str, event_id: &str, target: &str) -> Vec<u8> {
        let mut aad = self.body_name(id).into_bytes();
        for part in [event_id, target] {
            aad.push(0);
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }

    fn ready(&self) -> Result<(), DeadError> {
        if self.available() {
            Ok(())
        } else {
            Err(DeadError::Missing)
        }
    }

    async fn read_index<P: Ports>(&self, ports: &P) -> Result<(Option<Vec<u8>>, Index), DeadError> {
        self.ready()?;
        let name = self.index_name();
        let stored = self.store.get(ports, &name).await?;
        let index = match &stored {
            None => Index::default(),
            Some(bytes) => {
                let plain = self.open(name.as_bytes(), bytes)?;
                serde_json::from_slice(&plain).map_err(|_| DeadError::Unauthentic)?
            }
        };
        Ok((stored, index))
    }

    /// Reads the index, applies `change`, and writes it back (by
    /// compare-and-swap where the host has it, trying again when another
    /// instance wrote first). `change` answers what the caller wants back.
    async fn update<P: Ports, T>(
        &self,
        ports: &P,
        mut change: impl FnMut(&mut Index) -> T,
    ) -> Result<T, DeadError> {
        let name = self.index_name();
        for _ in 0..SWAP_TRIES {
            let (stored, mut index) = self.read_index(ports).await?;
            let out = change(&mut index);
            let plain = serde_json::to_vec(&index).unwrap_or_default();
            let sealed = self.seal(ports, name.as_bytes(), &plain);
            match self
                .store
                .swap(ports, &name, stored.as_deref(), sealed.clone())
                .await?
            {
                Swap::Done => return Ok(out),
                Swap::Changed => continue,
                Swap::Unsupported => {
                    self.store.put(ports, &name, sealed).await?;
                    return Ok(out);
                }
            }
        }
        Err(DeadError::Contended)
    }

    /// Adds (or replaces) the letter of `new`'s pair; when full, drops the
    /// oldest with a warn log line. Its id.
    pub async fn put<P: Ports>(&self, ports: &P, new: NewLetter<'_>) -> Result<String, DeadError> {
        self.ready()?;
        let id = self.id_for(new.event_id, new.target);
        let kept = new.body.len() <= MAX_BODY;
        // The body first: an index entry never names a body not written.
        if kept {
            let aad = self.body_aad(&id, new.event_id, new.target);
            let sealed = self.seal(ports, &aad, new.body);
            self.store.put(ports, &self.body_name(&id), sealed).await?;
        }
        let now = ports.now_ms();
        let reason: String = new.reason.chars().take(MAX_REASON).collect();
        let dropped = self
            .update(ports, |index| {
                index.letters.retain(|l| l.id != id);
                let mut dropped = Vec::new();
                while index.letters.len() >= MAX_LETTERS {
                    dropped.push(index.letters.remove(0));
                }
                index.letters.push(Letter {
                    id: id.clone(),
                    seq: index.next,
                    event_id: new.event_id.to_owned(),
                    event_type: new.event_type.to_owned(),
                    target: new.target.to_owned(),
                    attempts: new.attempts,
                    first_attempt_ms: new.first_attempt_ms,
                    last_attempt_ms: new.last_attempt_ms,
                    last_status: new.last_status,
                    reason: reason.clone(),
                    dead_lettered_ms: now,
                    kept,
                });
                index.next += 1;
                dropped
            })
            .await?;
        for old in dropped {
            let line = serde_json::json!({
                "level": "warn",
                "message": "dead letters full: the oldest letter was dropped",
                "max_letters": MAX_LETTERS,
                "dropped_id": old.id,
                "event_id": old.event_id,
                "event_type": old.event_type,
                "target": old.target,
            });
            ports.log(&line.to_string());
            let _ = self.store.delete(ports, &self.body_name(&old.id)).await;
        }
        Ok(id)
    }

    /// Up to `limit` letters after the cursor `after` (a letter's `seq`),
    /// oldest first.
    pub async fn list<P: Ports>(
        &self,
        ports: &P,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page, DeadError> {
        let (_, index) = self.read_index(ports).await?;
        let total = index.letters.len();
        let mut rest = index
            .letters
            .into_iter()
            .filter(|l| after.is_none_or(|a| l.seq > a));
        let letters: Vec<Letter> = rest.by_ref().take(limit).collect();
        let next = match rest.next() {
            Some(_) => letters.last().map(|l| l.seq),
            None => None,
        };
        Ok(Page {
            letters,
            next,
            total,
        })
    }

    /// The ids of up to `n` letters, oldest first: what a retry job
    /// replays (#34).
    pub async fn oldest<P: Ports>(&self, ports: &P, n: usize) -> Result<Vec<String>, DeadError> {
        let (_, index) = self.read_index(ports).await?;
        Ok(index.letters.into_iter().take(n).map(|l| l.id).collect())
    }

    /// One letter's metadata, if there is one by this id.
    pub async fn letter<P: Ports>(&self, ports: &P, id: &str) -> Result<Option<Letter>, DeadError> {
        if !Self::is_id(id) {
            self.ready()?;
            return Ok(None);
        }
        let (_, index) = self.read_index(ports).await?;
        Ok(index.letters.into_iter().find(|l| l.id == id))
    }

    /// A letter's body, opened; `None` when it was not kept or is gone.
    pub async fn body<P: Ports>(
        &self,
        ports: &P,
        letter: &Letter,
    ) -> Result<Option<Vec<u8>>, DeadError> {
        if !letter.kept {
            return Ok(None);
        }
        let Some(sealed) = self.store.get(ports, &self.body_name(&letter.id)).await? else {
            return Ok(None);
        };
        let aad = self.body_aad(&letter.id, &letter.event_id, &letter.target);
        self.open(&aad, &sealed).map(Some)
    }

    /// Removes a letter; whether there was one.
    pub async fn delete<P: Ports>(&self, ports: &P, id: &str) -> Result<bool, DeadError> {
        if !Self::is_id(id) {
            self.ready()?;
            return Ok(false);
        }
        let found = self
            .update(ports, |index| {
                let before = index.letters.len();
                index.letters.retain(|l| l.id != id);
                index.letters.len() != before
            })
            .await?;
        if found {
            self.store.delete(ports, &self.body_name(id)).await?;
        }
        Ok(found)
    }

    /// Records a failed replay on the letter: one more attempt, its time,
    /// status and reason. The letter as it is now, if it still exists.
    pub async fn failed_again<P: Ports>(
        &self,
        ports: &P,
        id: &str,
        status: Option<u16>,
        reason: &str,
    ) -> Result<Option<Letter>, DeadError> {
        let now = ports.now_ms();
        let reason: String = reason.chars().take(MAX_REASON).collect();
        self.update(ports, |index| {
            let letter = index.letters.iter_mut().find(|l| l.id == id)?;
            letter.attempts = letter.attempts.saturating_add(1);
            letter.last_attempt_ms = now;
            letter.last_status = status;
            letter.reason = reason.clone();
            Some(letter.clone())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakePorts, respond, settings};

    fn letters(ports: &FakePorts) -> DeadLetters {
        DeadLetters::new(&settings(&[]).unwrap(), ports.kv_shared.get())
    }

    fn new<'a>(event_id: &'a str, body: &'a [u8]) -> NewLetter<'a> {
        NewLetter {
            event_id,
            event_type: "com.adobe.commerce.observer.sales_order_save_commit_after",
            target: "erp",
            attempts: 5,
            first_attempt_ms: 1_000,
            last_attempt_ms: 2_000,
            last_status: Some(503),
            reason: "the target answered 503",
            body,
        }
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn the_body_is_sealed_and_the_list_holds_the_metadata() {
        let ports = FakePorts::new(|_, _| respond(200, ""));
        let dead = letters(&ports);
        let body = br#"{"eventid":"ev-1","data":{"value":{"customer_email":"jane@shop.example"}}}"#;
        let id = run(dead.put(&ports, new("ev-1", body))).unwrap();
        assert!(DeadLetters::is_id(&id));
        // No plaintext of the body, nor the metadata, anywhere in the store.
        for (name, value) in ports.kv.borrow().iter() {
            let text = String::from_utf8_lossy(value);
            for secret in ["jane@shop.example", "customer_email", "sales_order", "ev-1"] {
                assert!(!text.contains(secret), "{name} holds {secret}");
            }
            assert!(!name.contains("ev-1"), "{name}");
        }
        let page = run(dead.list(&ports, None, 10)).unwrap();
        assert_eq!(page.total, 1);
        let l = &page.letters[0];
        assert_eq!(
            (l.event_id.as_str(), l.target.as_str(), l.attempts),
            ("ev-1", "erp", 5)
        );
        assert_eq!(l.last_status, Some(503));
        assert_eq!(
            run(dead.body(&ports, l)).unwrap().as_deref(),
            Some(&body[..])
        );
        assert_eq!(
            l.to_json()["first_attempt"],
            serde_json::json!("1970-01-01T00:00:01.000Z")
        );
        // The same pair again replaces its letter.
        assert_eq!(run(dead.put(&ports, new("ev-1", body))).unwrap(), id);
        assert_eq!(run(dead.list(&ports, None, 10)).unwrap().total, 1);
    }

    #[test]
    fn a_forged_or_moved_entry_does_not_open() {
        let ports = FakePorts::new(|_, _| respond(200, ""));
        let dead = letters(&ports);
        let a = run(dead.put(&ports, new("ev-a", b"{\"a\":1}"))).unwrap();
        let b = run(dead.put(&ports, new("ev-b", b"{\"b\":2}"))).unwrap();
        // A body moved under another letter's name does not open.
        let (ka, kb) = (dead.body_name(&a), dead.body_name(&b));
        let va = ports.kv.borrow()[&ka].clone();
        ports.kv.borrow_mut().insert(kb, va);
        let lb = run(dead.letter(&ports, &b)).unwrap().unwrap();
        assert_eq!(run(dead.body(&ports, &lb)), Err(DeadError::Unauthentic));
        // A flipped byte in the index: a store failure, never a list.
        let name = dead.index_name();
        ports.kv.borrow_mut().get_mut(&name).unwrap()[20] ^= 1;
        assert!(matches!(
            run(dead.list(&ports, None, 10)),
            Err(DeadError::Unauthentic)
        ));
        // Another deployment's key (another client secret) does not open it.
        let other = DeadLetters::new(
            &settings(&[("ims_client_secret", "secret-2")]).unwrap(),
            true,
        );
        assert_ne!(other.index_name(), dead.index_name());
    }

    #[test]
    fn full_drops_the_oldest_with_a_log_line_and_pages_in_order() {
        let ports = FakePorts::new(|_, _| respond(200, ""));
        let dead = letters(&ports);
        for i in 0..MAX_LETTERS {
            run(dead.put(&ports, new(&format!("ev-{i}"), b"{}"))).unwrap();
        }
        assert!(ports.logs.borrow().is_empty());
        let first = run(dead.oldest(&ports, 1)).unwrap()[0].clone();
        assert_eq!(first, dead.id_for("ev-0", "erp"));
        run(dead.put(&ports, new("ev-new", b"{}"))).unwrap();
        let page = run(dead.list(&ports, None, 100)).unwrap();
        assert_eq!(page.total, MAX_LETTERS);
        assert_eq!(page.letters[0].event_id, "ev-1");
        assert_eq!(page.letters[99].event_id, "ev-new");
        let logs = ports.logs.borrow();
        assert_eq!(logs.len(), 1);
        assert!(
            logs[0].contains("oldest letter was dropped") && logs[0].contains("ev-0"),
            "{}",
            logs[0]
        );
        assert!(!ports.kv.borrow().contains_key(&dead.body_name(&first)));
        // Pages of 30: cursors, oldest first, no letter twice.
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = run(dead.list(&ports, after, 30)).unwrap();
            seen.extend(page.letters.iter().map(|l| l.event_id.clone()));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen.len(), MAX_LETTERS);
        assert_eq!(seen[0], "ev-1");
    }

    #[test]
    fn a_body_over_the_cap_is_listed_but_not_kept() {
        let ports = FakePorts::new(|_, _| respond(200, ""));
        let dead = letters(&ports);
        let big = vec![b' '; MAX_BODY + 1];
        let id = run(dead.put(&ports, new("ev-big", &big))).unwrap();
        let l = run(dead.letter(&ports, &id)).unwrap().unwrap();
        assert!(!l.kept);
        assert_eq!(run(dead.body(&ports, &l)).unwrap(), None);
        assert!(!ports.kv.borrow().contains_key(&dead.body_name(&id)));
        let at_cap = vec![b' '; MAX_BODY];
        let id = run(dead.put(&ports, new("ev-cap", &at_cap))).unwrap();
        assert!(run(dead.letter(&ports, &id)).unwrap().unwrap().kept);
    }

    #[test]
    fn delete_and_a_missing_store() {
        let ports = FakePorts::new(|_, _| respond(200, ""));
        let dead = letters(&ports);
        let id = run(dead.put(&ports, new("ev-1", b"{}"))).unwrap();
        assert_eq!(run(dead.delete(&ports, &id)), Ok(true));
        assert_eq!(run(dead.delete(&ports, &id)), Ok(false));
        assert_eq!(run(dead.delete(&ports, "not-an-id")), Ok(false));
        assert!(ports.kv.borrow().keys().all(|k| !k.contains("/b/")));
        // wasmtime serve without token_cache_dir: no store, a clear error.
        ports.kv_shared.set(false);
        let none = letters(&ports);
        assert!(!none.available());
        assert!(matches!(
            run(none.list(&ports, None, 10)),
            Err(DeadError::Missing)
        ));
        // With token_cache_dir: files.
        let files = DeadLetters::new(&settings(&[("token_cache_dir", "/cache")]).unwrap(), false);
        run(files.put(&ports, new("ev-f", b"{}"))).unwrap();
        assert_eq!(run(files.list(&ports, None, 10)).unwrap().total, 1);
        assert!(
            ports
                .files
                .borrow()
                .keys()
                .any(|k| k.starts_with("/cache/accs-edge-dead-v1-"))
        );
    }

    #[test]
    fn rfc3339_of_ms() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
        assert_eq!(rfc3339(1_709_208_000_000), "2024-02-29T12:00:00.000Z");
    }
}
