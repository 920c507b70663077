//! The deployment's memory of its webhook deliveries: a repeat of a finished
//! delivery gets the same answer without touching ACCS, a retry after a
//! partial success re-sends only what did not land, and a delivery racing
//! another one on a second instance backs off.
//!
//! The ledger is the only memory a deployment has (a WASI 0.2 instance serves
//! one request; a WASI 0.3 one at most 128), so it fails closed: a read, a
//! claim or a write that fails, or a record that does not authenticate, is
//! [`LedgerError`], which the route answers with 503 `ledger_unavailable` and
//! nothing sent. Upserts are not safe to replay out of order (an older
//! `quantity 5` after a newer `quantity 3` rolls the stock back), so "the
//! syncs are idempotent" never excuses a lost record.
//!
//! - **Where.** The key-value store where it is shared by the deployment's
//!   instances (Spin); under `wasmtime serve`, whose `wasi:keyvalue` keeps
//!   nothing beyond one instance, files in `token_cache_dir` ([`Where::Dir`]);
//!   with neither, webhook routes refuse to run ([`Where::Missing`]).
//! - **Bound to the deployment.** Every name and record is keyed with
//!   [`Ledger::new`]'s MAC key: two deployments sharing a store never see each
//!   other's deliveries, and a record written by anyone without the key is a
//!   store failure, never "landed".
//! - **Small.** A record holds a state, its times, the body's SHA-256, the
//!   status and summary, and the landed item indexes as ranges or a bitmap,
//!   whichever is shorter: under [`MAX_RECORD`] bytes for the largest
//!   delivery (10,000 items), partial or done. Per-item results of a replay
//!   are rebuilt from the body, which the digest binds. A products delivery
//!   taken through ACCS's bulk API keeps its accepted bulks (about 45 bytes
//!   each) in pages of their own beside the record (`pages`), enough for
//!   every bulk a delivery can have. No value the ledger writes passes
//!   [`MAX_RECORD`]: a larger one is refused before the store sees it.
//! - **Bounded, with constant writes.** A claim lists its record as one
//!   small key of the current hour (`index`), and each finished delivery
//!   sweeps a few entries of the oldest hours: expired records are deleted,
//!   then their entries. Nothing that grows is rewritten: a delivery writes
//!   about 560 bytes in 4 writes (index entry, hint, claim, outcome), 6 with
//!   its share of the sweep, whatever came before it. The store holds the
//!   records of the last [`REMEMBER_MS`], one index entry each, and two
//!   small keys per hour of the window.

use crate::config::Settings;
use crate::ports::{Ports, Swap};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::time::Duration;

/// How long a delivery is remembered after its last write.
pub const REMEMBER_MS: u64 = 24 * 60 * 60 * 1000;
/// How long a claim holds while its delivery is processed, at least: never
/// less than the request's ACCS budget ([`claim_ms`]), so a second delivery
/// cannot start while the first may still be sending.
pub const CLAIM_MS: u64 = 60_000;
/// What a claim holds beyond the budget: the ledger writes and the answer.
const CLAIM_MARGIN_MS: u64 = 10_000;
/// The longest claim: the largest `accs_timeout_ms` (300 s) plus the margin.
const MAX_CLAIM_MS: u64 = 300_000 + CLAIM_MARGIN_MS;
/// No value the ledger writes is larger, whatever the delivery (Akamai
/// limits values to 1 MB and counts writes; the old record held the whole
/// report): [`too_large`] refuses it before the store sees it.
pub const MAX_RECORD: usize = 4096;
/// The most item indexes a record can hold: the inventory route's limit.
const MAX_INDEXES: usize = crate::wire::MAX_ITEMS;
const HOUR_MS: u64 = 3_600_000;
/// Index entries one finished delivery examines: more than the one entry
/// each delivery adds, so the sweep keeps up.
const SWEEP_PER_DELIVERY: usize = 4;
/// Between writing a claim and reading it back, where the store has no
/// compare-and-swap: another instance's claim written in this gap wins.
const CLAIM_SETTLE: Duration = Duration::from_millis(50);
/// Claim files tried per generation under `token_cache_dir`: one more each
/// time an earlier claim of that generation expired (a crashed instance).
const CLAIM_FILES: u32 = 4;

/// The claim's length for a request whose ACCS budget is `budget_ms`.
pub fn claim_ms(budget_ms: u64) -> u64 {
    CLAIM_MS.max(budget_ms.saturating_add(CLAIM_MARGIN_MS))
}

/// The SHA-256 of a delivery's body, hex: a `webhook-id` names one message,
/// and the ledger binds its record to this.
pub fn body_digest(body: &[u8]) -> String {
    crate::config::hex(&Sha256::digest(body))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Claimed by `owner` until `claim_until_ms`.
    #[serde(rename = "c")]
    Processing,
    /// Some items landed (`landed`); a retry sends the rest.
    #[serde(rename = "p")]
    Partial,
    /// Answered `status` (and `summary`); repeats get the same.
    #[serde(rename = "d")]
    Done,
}

/// One delivery's record, as the ledger holds it (see [`Ledger::seal`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(rename = "s")]
    pub state: State,
    #[serde(rename = "o")]
    pub owner: String,
    /// For `processing`: until when the claim holds.
    #[serde(rename = "c", default)]
    pub claim_until_ms: u64,
    /// When the record is forgotten (and may be swept).
    #[serde(rename = "f")]
    pub forget_ms: u64,
    /// Claims taken on this delivery so far: names the next claim file
    /// under `token_cache_dir`.
    #[serde(rename = "g", default)]
    pub generation: u32,
    /// [`body_digest`] of the delivery this record is about.
    #[serde(rename = "h")]
    pub body_sha256: String,
    #[serde(rename = "t", default)]
    pub status: u16,
    /// The answer was a problem (a malformed payload): a replay validates
    /// the identical body again and answers the same problem.
    #[serde(rename = "x", default)]
    pub problem: bool,
    /// The answer's `summary` object, as JSON text.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Item indexes that landed, ascending ([`encode_landed`]); for `done`,
    /// those that had landed before the delivery that finished it.
    #[serde(
        rename = "l",
        default,
        with = "landed_text",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub landed: Vec<usize>,
    /// For a products delivery taken through ACCS's bulk API: the bulks
    /// ACCS accepted, ascending ([`encode_bulks`]). A replay answers them
    /// again; a retry sends only the products none of them holds.
    #[serde(
        rename = "b",
        default,
        with = "bulks_text",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub bulks: Vec<BulkRef>,
}

/// One bulk ACCS accepted: its uuid, the delivery's products
/// `first..first + count` it holds, and `from`, the position of the first of
/// them among the bulk's operations (0 unless ACCS rejected products of the
/// same request before them: `routes/bulk/send.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkRef {
    pub uuid: String,
    pub first: usize,
    pub count: usize,
    pub from: usize,
}

/// `uuid:first:count` per bulk, and `:from` when it is not 0,
/// comma-separated: about 45 bytes a bulk (a delivery of 1,000 products in
/// chunks of 500 holds 2).
pub fn encode_bulks(bulks: &[BulkRef]) -> String {
    let parts: Vec<String> = bulks
        .iter()
        .map(|b| match b.from {
            0 => format!("{}:{}:{}", b.uuid, b.first, b.count),
            from => format!("{}:{}:{}:{from}", b.uuid, b.first, b.count),
        })
        .collect();
    parts.join(",")
}

/// [`encode_bulks`]'s text back; `None` for anything else.
pub fn decode_bulks(text: &str) -> Option<Vec<BulkRef>> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|part| {
            let mut it = part.split(':');
            let uuid = it.next()?;
            let first = it.next()?.parse().ok()?;
            let count = it.next()?.parse().ok()?;
            let from = match it.next() {
                None => 0,
                Some(f) => f.parse().ok().filter(|&f| f > 0)?,
            };
            let sane = !uuid.is_empty()
                && uuid.len() <= 64
                && uuid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            (it.next().is_none() && sane && count > 0).then(|| BulkRef {
                uuid: uuid.to_owned(),
                first,
                count,
                from,
            })
        })
        .collect()
}

mod bulks_text {
    use super::BulkRef;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bulks: &[BulkRef], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_bulks(bulks))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BulkRef>, D::Error> {
        let text = String::deserialize(d)?;
        super::decode_bulks(&text).ok_or_else(|| D::Error::custom("bulks"))
    }
}

/// The bulks an unexpired record of this body holds (none for a record
/// that is forgotten or of another body): what a delivery resumes from.
pub fn bulks_of(record: Option<&Record>, now_ms: u64, digest: &str) -> Vec<BulkRef> {
    record
        .filter(|r| r.forget_ms > now_ms && r.body_sha256 == digest)
        .map(|r| r.bulks.clone())
        .unwrap_or_default()
}

impl Record {
    /// The claim a delivery takes before it sends anything: a random owner,
    /// held `hold_ms` (a webhook's [`claim_ms`], an I/O Events event's
    /// shorter one), remembered [`REMEMBER_MS`], carrying what had landed
    /// before.
    pub fn processing<P: Ports>(
        ports: &P,
        hold_ms: u64,
        body_sha256: String,
        landed: Vec<usize>,
        bulks: Vec<BulkRef>,
    ) -> Record {
        let mut b = [0u8; 12];
        ports.fill_random(&mut b);
        let now = ports.now_ms();
        Record {
            state: State::Processing,
            owner: crate::config::hex(&b),
            claim_until_ms: now + hold_ms,
            forget_ms: now + REMEMBER_MS,
            generation: 0,
            body_sha256,
            status: 0,
            problem: false,
            summary: None,
            landed,
            bulks,
        }
    }
}

/// What to do with a delivery, given what the ledger holds for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Answer this again.
    Replay {
        status: u16,
        summary: Option<String>,
        problem: bool,
        /// Items landed before the delivery that finished it: the rebuilt
        /// report numbers only the others in batches, as the answer did.
        before: Vec<usize>,
    },
    /// Someone else is on it.
    Busy { retry_after_s: u64 },
    /// Process; these item indexes (ascending) already landed.
    Process { landed: Vec<usize> },
    /// The id was used for a different body: never a replay, never a resume.
    Mismatch,
}

/// `digest` is the [`body_digest`] of the delivery at hand.
pub fn verdict(record: Option<&Record>, now_ms: u64, digest: &str) -> Verdict {
    let Some(r) = record.filter(|r| r.forget_ms > now_ms) else {
        // Never seen, or forgotten: the id is free again.
        return Verdict::Process { landed: vec![] };
    };
    if r.body_sha256 != digest {
        return Verdict::Mismatch;
    }
    match r.state {
        State::Done => Verdict::Replay {
            status: r.status,
            summary: r.summary.clone(),
            problem: r.problem,
            before: r.landed.clone(),
        },
        State::Processing if r.claim_until_ms > now_ms => Verdict::Busy {
            retry_after_s: (r.claim_until_ms - now_ms).div_ceil(1000).clamp(1, 310),
        },
        // A partial record, or a claim whose instance died: resume from what
        // it knew had landed.
        State::Processing | State::Partial => Verdict::Process {
            landed: r.landed.clone(),
        },
    }
}

/// Ascending indexes as text: `r` and comma-separated ranges (`0-4,7`), or
/// `b` and a bitmap in base64, whichever is shorter. 10,000 indexes take at
/// most 1,668 bytes as a bitmap, however they fall.
pub fn encode_landed(landed: &[usize]) -> String {
    let mut ranges = String::from("r");
    let mut i = 0;
    while i < landed.len() {
        let start = landed[i];
        let mut end = start;
        while i + 1 < landed.len() && landed[i + 1] == end + 1 {
            i += 1;
            end += 1;
        }
        if ranges.len() > 1 {
            ranges.push(',');
        }
        if start == end {
            ranges.push_str(&start.to_string());
        } else {
            ranges.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    let top = landed.last().map_or(0, |&l| l + 1);
    let mut bits = vec![0u8; top.div_ceil(8)];
    for &l in landed {
        bits[l / 8] |= 1 << (l % 8);
    }
    let bitmap = format!("b{}", STANDARD_NO_PAD.encode(&bits));
    if bitmap.len() < ranges.len() {
        bitmap
    } else {
        ranges
    }
}

/// [`encode_landed`]'s text back, ascending; `None` for anything else,
/// including indexes past the largest delivery.
pub fn decode_landed(text: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    if let Some(ranges) = text.strip_prefix('r') {
        for part in ranges.split(',').filter(|p| !p.is_empty()) {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
            if b < a || b >= MAX_INDEXES || out.last().is_some_and(|&l| l >= a) {
                return None;
            }
            out.extend(a..=b);
        }
    } else {
        let bits = STANDARD_NO_PAD.decode(text.strip_prefix('b')?).ok()?;
        if bits.len() > MAX_INDEXES.div_ceil(8) {
            return None;
        }
        for (byte, b) in bits.iter().enumerate() {
            out.extend((0..8).filter(|k| b & (1 << k) != 0).map(|k| byte * 8 + k));
        }
    }
    Some(out)
}

mod landed_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(landed: &[usize], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_landed(landed))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<usize>, D::Error> {
        let text = String::deserialize(d)?;
        super::decode_landed(&text).ok_or_else(|| D::Error::custom("landed"))
    }
}

/// Where the ledger lives on this host (`crate::place`).
pub use crate::place::Where;

/// Why the ledger could not answer: the route turns it into 503
/// `ledger_unavailable`, and nothing is sent to ACCS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerError {
    /// A store operation failed: what was being done, and the host's reason.
    Store(&'static str, String),
    /// A record is not one this deployment wrote (no valid MAC, or
    /// malformed): treated as a store failure, never as "landed".
    Unauthentic,
}

impl From<crate::place::PlaceError> for LedgerError {
    fn from(e: crate::place::PlaceError) -> Self {
        LedgerError::Store(e.0, e.1)
    }
}

impl LedgerError {
    /// For the log: the operation and the host's reason, cut short and
    /// without anything that looks like a URL (a store's address may carry
    /// its password).
    fn describe(&self) -> String {
        match self {
            LedgerError::Store(what, reason) => {
                crate::place::PlaceError(what, reason.clone()).describe()
            }
            LedgerError::Unauthentic => {
                "a ledger record does not authenticate under this deployment's key".into()
            }
        }
    }
}

/// One delivery's place in the ledger, as read.
pub struct Entry {
    name: String,
    stored: Option<Vec<u8>>,
    pub record: Option<Record>,
    /// Bulk pages the stored record names (whether or not it is forgotten).
    pages: usize,
    /// A live record's bulks in page order (`record` has them ascending).
    paged: Vec<BulkRef>,
}

/// A claim this request holds.
pub struct Claim {
    name: String,
    /// The claim file under `token_cache_dir`.
    file: Option<String>,
    pub owner: String,
    pub generation: u32,
    /// The bulks as the claim's pages hold them, in page order.
    bulks: Vec<BulkRef>,
    /// Bulk pages that may exist under the record's name.
    pages: usize,
    /// Where the claim listed its record, to be read back where the store
    /// has no compare-and-swap (empty elsewhere).
    listed: Vec<index::Listed>,
}

/// A record as stored: the record, and where its bulks are.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    record: Record,
    /// Bulk pages `<name>.b0…` holding the record's bulks, in order.
    #[serde(rename = "bp", default, skip_serializing_if = "is_zero")]
    pages: usize,
    /// More bulks were accepted than the pages hold (see
    /// [`Ledger::write_pages`]).
    #[serde(rename = "bm", default, skip_serializing_if = "is_false")]
    more: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The ledger of one deployment.
pub struct Ledger {
    /// HMAC-SHA256 keyed with the MAC key, its pads already hashed: each
    /// MAC clones it instead of hashing the key's two blocks again.
    keyed: HmacSha256,
    /// Hex, in every name: the operator can tell (and clear) one
    /// deployment's keys in a shared store.
    namespace: String,
    place: Where,
    warned: Cell<bool>,
}

type HmacSha256 = Hmac<Sha256>;

impl Ledger {
    /// The ledger of the deployment `settings` describe, on a host whose
    /// key-value store is shared (`kv_shared`) or not; `None` without a
    /// usable webhook secret.
    ///
    /// The MAC key is HMAC-SHA256 keyed with the **last** secret of
    /// `webhook_secrets`, over the ACCS base URL and the IMS client id. The
    /// base URL and client id separate deployments that share a store and a
    /// secret (staging and production on one Redis); the secret makes names
    /// unguessable and records unforgeable by anyone who can only write the
    /// store. The last secret, because rotation (docs/WEBHOOKS.md) adds the new secret
    /// in front (`whsec_new,whsec_old`), switches the sender, then drops the
    /// old one: the key holds through the first two steps, and changes only
    /// when the old secret is removed. At that moment the ledger starts
    /// afresh: a delivery recorded before it and retried after it is
    /// processed again, and the old namespace's keys are no longer swept (at
    /// most one window of them; clear `accs-edge/ledger/v2/<old namespace>/`
    /// or let the store evict them). So drop an old secret at a quiet time.
    /// The IMS client secret would not do better: it rotates too, and its
    /// order changes at run time (the one that worked goes first).
    pub fn new(settings: &Settings, kv_shared: bool) -> Option<Ledger> {
        let secret = settings
            .webhook_secrets
            .iter()
            .rev()
            .find_map(|s| crate::webhook::signature::key(s.expose()))?;
        Ledger::keyed(
            &secret,
            b"accs-edge webhook ledger v2\0",
            settings,
            kv_shared,
        )
    }

    /// The ledger of Adobe I/O Events deliveries: the same mechanism, keyed
    /// from the **last** `ims_client_secret` (I/O Events signs with Adobe's
    /// keys, so there is no shared secret; rotation adds the new client
    /// secret in front, as for `webhook_secrets`), so its names, its
    /// namespace and its sweep are apart from the webhooks'.
    pub fn for_events(settings: &Settings, kv_shared: bool) -> Option<Ledger> {
        let secret = settings.ims_client_secrets.last()?.expose().as_bytes();
        Ledger::keyed(
            secret,
            b"accs-edge io-events ledger v1\0",
            settings,
            kv_shared,
        )
    }

    fn keyed(secret: &[u8], label: &[u8], settings: &Settings, kv_shared: bool) -> Option<Ledger> {
        let mut mac = HmacSha256::new_from_slice(secret).ok()?;
        mac.update(label);
        mac.update(settings.accs_base_url.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(settings.ims_client_id.as_bytes());
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        let place = Where::of(settings, kv_shared);
        let mut ledger = Ledger {
            keyed: HmacSha256::new_from_slice(&key).expect("any key length"),
            namespace: String::new(),
            place,
            warned: Cell::new(false),
        };
        ledger.namespace = crate::config::hex(&ledger.mac(&[b"namespace"])[..8]);
        Some(ledger)
    }

    pub fn place(&self) -> &Where {
        &self.place
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    fn prefix(&self) -> String {
        format!("accs-edge/ledger/v2/{}/", self.namespace)
    }

    /// The record name of one delivery of one topic: keyed, so any sender
    /// id makes a safe name and nobody without the key can tell which.
    pub fn record_name(&self, topic: &str, id: &str) -> String {
        let id = self.mac(&[b"record", topic.as_bytes(), id.as_bytes()]);
        format!("{}r/{}", self.prefix(), crate::config::hex(&id[..16]))
    }

    /// The record as stored: its JSON, `.`, and a MAC over the name and the
    /// JSON, so a record is valid only under the name it was written to.
    pub fn seal(&self, name: &str, record: &Record) -> Vec<u8> {
        self.seal_json(name, serde_json::to_vec(record).unwrap_or_default())
    }

    fn seal_stored(&self, name: &str, stored: &Stored) -> Vec<u8> {
        self.seal_json(name, serde_json::to_vec(stored).unwrap_or_default())
    }

    fn seal_json(&self, name: &str, mut out: Vec<u8>) -> Vec<u8> {
        let mac = self.mac(&[b"seal", name.as_bytes(), &out]);
        out.push(b'.');
        crate::config::push_hex(&mut out, &mac);
        out
    }

    /// [`Ledger::seal`]'s bytes back, if they authenticate under `name`
    /// (bulks kept in pages are not read here: see [`Ledger::read`]).
    pub fn open(&self, name: &str, bytes: &[u8]) -> Result<Record, LedgerError> {
        self.open_stored(name, bytes).map(|s| s.record)
    }

    fn open_stored(&self, name: &str, bytes: &[u8]) -> Result<Stored, LedgerError> {
        let json = self.unseal_json(name, bytes)?;
        serde_json::from_slice(json).map_err(|_| LedgerError::Unauthentic)
    }

    fn unseal_json<'b>(&self, name: &str, bytes: &'b [u8]) -> Result<&'b [u8], LedgerError> {
        let dot = bytes
            .iter()
            .rposition(|&b| b == b'.')
            .ok_or(LedgerError::Unauthentic)?;
        let (json, mac) = (&bytes[..dot], &bytes[dot + 1..]);
        let mac = unhex(mac).ok_or(LedgerError::Unauthentic)?;
        let mut check = self.keyed.clone();
        for p in [&b"seal"[..], name.as_bytes(), json] {
            check.update(&(p.len() as u64).to_be_bytes());
            check.update(p);
        }
        check
            .verify_slice(&mac)
            .map_err(|_| LedgerError::Unauthentic)?;
        Ok(json)
    }

    /// Logs the first failure of this instance (the rest answer 503 quietly).
    pub fn warn<P: Ports>(&self, ports: &P, e: &LedgerError) {
        if !self.warned.replace(true) {
            let line = serde_json::json!({
                "level": "warn",
                "message": "webhook ledger unavailable: deliveries answer 503 ledger_unavailable and nothing is sent until it is back",
                "reason": e.describe(),
            });
            ports.log(&line.to_string());
        }
    }

    // ---- the store, whichever it is ----

    fn path(&self, dir: &str, name: &str) -> String {
        Where::path(dir, name)
    }

    async fn get<P: Ports>(&self, ports: &P, name: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        self.place.get(ports, name).await.map_err(LedgerError::from)
    }

    async fn put<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        value: Vec<u8>,
    ) -> Result<(), LedgerError> {
        too_large(&value)?;
        self.place
            .put(ports, name, value, "ledger")
            .await
            .map_err(LedgerError::from)
    }

    async fn delete<P: Ports>(&self, ports: &P, name: &str) -> Result<(), LedgerError> {
        self.place
            .delete(ports, name)
            .await
            .map_err(LedgerError::from)
    }

    // ---- one delivery ----

    /// What the ledger holds for one delivery.
    pub async fn read<P: Ports>(
        &self,
        ports: &P,
        topic: &str,
        id: &str,
    ) -> Result<Entry, LedgerError> {
        let name = self.record_name(topic, id);
        let stored = self.get(ports, &name).await?;
        let (record, pages, paged) = match &stored {
            Some(bytes) => {
                let s = self.open_stored(&name, bytes)?;
                let mut record = s.record;
                let mut paged = Vec::new();
                // A forgotten record's bulks are of no use: not read.
                if s.pages > 0 && record.forget_ms > ports.now_ms() {
                    paged = self.read_pages(ports, &name, s.pages).await?;
                    record.bulks = paged.clone();
                    record.bulks.sort_by_key(|b| b.first);
                }
                (Some(record), s.pages, paged)
            }
            None => (None, 0, Vec::new()),
        };
        Ok(Entry {
            name,
            stored,
            record,
            pages,
            paged,
        })
    }

    /// Claims the delivery for `record` (a `processing` record). First the
    /// record is listed in the current hour's index, so that it is swept
    /// whatever happens next; its bulks' pages are written if they changed.
    ///
    /// - Key-value store with compare-and-swap (`kv-cas`): the claim
    ///   replaces exactly the bytes that were read, so of two racing
    ///   instances exactly one wins.
    /// - Key-value store without it (the default `spin` build): write, wait
    ///   50 ms, read back; the last writer wins, and both racers see it
    ///   unless the store is slower than the wait. Best effort. The index
    ///   entry is read back too, and written again if a racer took it.
    /// - Files: the claim is a file created exclusively (a hard link of a
    ///   fully written temp file) whose name holds the claim's generation,
    ///   so exactly one instance takes each generation; the winner checks
    ///   that the record did not move on meanwhile. Exact.
    ///
    /// `Ok(Err(seconds))`: someone else holds it, retry after that.
    pub async fn claim<P: Ports>(
        &self,
        ports: &P,
        entry: &Entry,
        mut record: Record,
    ) -> Result<Result<Claim, u64>, LedgerError> {
        let now = ports.now_ms();
        let generation = entry.record.as_ref().map_or(0, |r| r.generation) + 1;
        record.generation = generation;
        let suffix = |name: &str| name[self.prefix().len()..].to_owned();
        let mut names = vec![suffix(&entry.name)];
        if matches!(self.place, Where::Dir(_)) {
            names.push(format!("{}.c{generation}", suffix(&entry.name)));
        }
        let mut listed = self.list(ports, &names).await?;
        // What the pages hold now (a live record's bulks, read from them):
        // pages that would not change are not written again.
        let written = self
            .write_pages(ports, &entry.name, &entry.paged, &mut record)
            .await?;
        let bulks = std::mem::take(&mut record.bulks);
        let stored = Stored {
            record,
            pages: written.pages,
            more: written.more,
        };
        let record = &stored.record;
        let claim = Claim {
            name: entry.name.clone(),
            file: None,
            owner: record.owner.clone(),
            generation,
            bulks,
            pages: entry.pages.max(written.pages),
            listed: Vec::new(),
        };
        let Where::Dir(dir) = &self.place else {
            let sealed = self.seal_stored(&entry.name, &stored);
            too_large(&sealed)?;
            match ports
                .kv_swap(&entry.name, entry.stored.as_deref(), sealed.clone())
                .await
            {
                Ok(Swap::Done) => return Ok(Ok(claim)),
                Ok(Swap::Changed) => return Ok(Err(1)),
                Ok(Swap::Unsupported) => {}
                Err(e) => return Err(LedgerError::Store("claim", e.0)),
            }
            self.put(ports, &entry.name, sealed)
                .await
                .map_err(|e| match e {
                    LedgerError::Store(_, reason) => LedgerError::Store("claim", reason),
                    e => e,
                })?;
            ports.sleep(CLAIM_SETTLE).await;
            // Another instance may have taken the same index position
            // meanwhile: list the record again if so.
            self.relist_lost(ports, &mut listed).await?;
            let Some(now) = self.get(ports, &entry.name).await? else {
                return Err(LedgerError::Store("claim", "the claim vanished".into()));
            };
            let seen = self.open(&entry.name, &now)?;
            return Ok(if seen.owner == record.owner {
                Ok(Claim { listed, ..claim })
            } else {
                Err(1)
            });
        };
        let mut won = None;
        for k in 0..CLAIM_FILES {
            let file = format!("{}.c{generation}-{k}", entry.name);
            let tmp = temp_path(ports, dir);
            let linked = match ports.file_write(&tmp, &self.seal(&file, record)).await {
                Ok(()) => ports.file_link(&tmp, &self.path(dir, &file)).await,
                Err(e) => Err(e),
            };
            let _ = ports.file_remove(&tmp).await;
            match linked.map_err(|e| LedgerError::Store("claim", e.0))? {
                true => {
                    won = Some(file);
                    break;
                }
                false => {
                    // Gone already: its owner finished (a retry replays it).
                    let Some(held) = self.get(ports, &file).await? else {
                        return Ok(Err(1));
                    };
                    let held = self.open(&file, &held)?;
                    if held.claim_until_ms > now {
                        return Ok(Err((held.claim_until_ms - now)
                            .div_ceil(1000)
                            .clamp(1, 310)));
                    }
                    // That claim's instance died: the next file of this generation.
                }
            }
        }
        let Some(file) = won else { return Ok(Err(1)) };
        // Did the record move on while we linked (a reader of an older record)?
        let current = self.get(ports, &entry.name).await?;
        let current = match &current {
            Some(bytes) => Some(self.open(&entry.name, bytes)?),
            None => None,
        };
        if current.map_or(0, |r| r.generation) + 1 != generation {
            let _ = self.delete(ports, &file).await;
            return Ok(Err(1));
        }
        self.put(ports, &entry.name, self.seal_stored(&entry.name, &stored))
            .await?;
        Ok(Ok(Claim {
            file: Some(file),
            ..claim
        }))
    }

    /// Writes the delivery's outcome (its bulks' changed pages first, then
    /// the record), reads back where the claim listed it (the default
    /// build), then sweeps a few expired entries (a failing check or sweep
    /// is logged, never the request's failure).
    pub async fn finish<P: Ports>(
        &self,
        ports: &P,
        claim: &Claim,
        mut record: Record,
    ) -> Result<(), LedgerError> {
        record.generation = claim.generation;
        let written = self
            .write_pages(ports, &claim.name, &claim.bulks, &mut record)
            .await?;
        record.bulks.clear();
        let stored = Stored {
            record,
            pages: written.pages,
            more: written.more,
        };
        self.put(ports, &claim.name, self.seal_stored(&claim.name, &stored))
            .await?;
        if claim.pages > written.pages {
            let _ = self
                .delete_pages(ports, &claim.name, written.pages, claim.pages)
                .await;
        }
        if let Some(file) = &claim.file {
            let _ = self.delete(ports, file).await;
        }
        if written.more {
            let line = serde_json::json!({
                "level": "warn",
                "message": "a bulk delivery had more accepted bulks than its ledger record keeps: the record is final, a replay lists the bulks it kept, nothing is sent again",
                "kept": stored.record.bulks.len(),
            });
            ports.log(&line.to_string());
        }
        if !claim.listed.is_empty() {
            let mut listed = claim.listed.clone();
            if let Err(e) = self.relist_lost(ports, &mut listed).await {
                self.warn(ports, &e);
            }
        }
        if let Err(e) = self.sweep(ports, SWEEP_PER_DELIVERY).await {
            self.warn(ports, &e);
        }
        Ok(())
    }
}

fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// No value the ledger writes passes [`MAX_RECORD`]: a larger one is
/// refused before it reaches the store.
fn too_large(value: &[u8]) -> Result<(), LedgerError> {
    if value.len() > MAX_RECORD {
        return Err(LedgerError::Store(
            "write",
            format!(
                "a value of {} bytes, over the ledger's {MAX_RECORD}",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// A name no other instance picks: the dot keeps it out of the way.
fn temp_path<P: Ports>(ports: &P, dir: &str) -> String {
    Where::temp_path(ports, dir, "ledger")
}

mod index;
mod pages;
pub use pages::{MAX_BULK_PAGES, MAX_BULKS};

#[cfg(test)]
mod tests;
