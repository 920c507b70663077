//! A double of Adobe I/O Events: the key server of `static.adobeioevents.com`
//! (`GET /prod/keys/pub-key-<uuid>.pem`, PEM SPKI public keys) and a sender
//! of deliveries as I/O Events makes them (AdobeDocs/adobe-io-events
//! `src/pages/guides/index.md`): CloudEvents JSON, single or a batch array,
//! signed over the raw body with RSA-SHA256 by two key pairs, the signatures
//! in `x-adobe-digital-signature-1`/`-2` and the keys' paths in
//! `x-adobe-public-key1-path`/`-2-path`; `x-adobe-event-id` kept across
//! retries, `x-adobe-delivery-id` new for each attempt, `x-adobe-retry-count`
//! on retries (`src/pages/common/retry-doc.md`).
//!
//! The key pairs are generated once per process and shared by every
//! simulator in it; the private keys never leave this module.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::publish::{JournalCounters, JournalRequest, Pending, Publisher, Subscription};

/// How long I/O Events waits for a webhook's answer before the attempt
/// counts as failed and is retried: 10 s (AdobeDocs/adobe-io-events
/// `src/pages/common/retry-doc.md`, as docs/IO-EVENTS.md cites it).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::time::rfc3339;

/// One key pair of I/O Events: where its public key is served, and both halves.
struct KeyPair {
    path: String,
    private: RsaPrivateKey,
    pem: String,
}

fn pairs() -> &'static [KeyPair] {
    static PAIRS: OnceLock<Vec<KeyPair>> = OnceLock::new();
    PAIRS.get_or_init(|| {
        (0..3)
            .map(|n| {
                let private =
                    RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA keygen");
                let pem = RsaPublicKey::from(&private)
                    .to_public_key_pem(LineEnding::LF)
                    .expect("PEM");
                let path = format!(
                    "/prod/keys/pub-key-{n}{n}{n}{n}{n}{n}{n}{n}-aaaa-4bbb-8ccc-{:012x}.pem",
                    rand::random::<u64>() & 0xffff_ffff_ffff
                );
                KeyPair { path, private, pem }
            })
            .collect()
    })
}

/// Key 0 and key 1 sign deliveries, as I/O Events' two pairs; key 2 is a
/// stranger's: its public key is served (so a fetch succeeds) but I/O
/// Events never signs with it.
pub const STRANGER: usize = 2;

pub struct IoEvents {
    origin: String,
    /// The registration the simulated Commerce publishes to (`crate::publish`).
    publisher: Arc<Publisher>,
    fetches: Mutex<BTreeMap<String, u32>>,
    /// 0: serve the keys; else answer every key request with this status.
    key_status: AtomicU16,
    deliveries: AtomicU64,
}

pub(crate) fn router<S: Clone + Send + Sync + 'static>(io: Arc<IoEvents>) -> Router<S> {
    Router::new()
        .route("/prod/keys/{file}", get(key))
        .with_state(io)
}

async fn key(State(io): State<Arc<IoEvents>>, Path(file): Path<String>) -> Response {
    let path = format!("/prod/keys/{file}");
    *io.fetches.lock().unwrap().entry(path.clone()).or_default() += 1;
    match io.key_status.load(Ordering::SeqCst) {
        0 => {}
        s => {
            return StatusCode::from_u16(s)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response();
        }
    }
    match pairs().iter().find(|k| k.path == path) {
        Some(k) => ([("content-type", "application/x-pem-file")], k.pem.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl IoEvents {
    pub(crate) fn new(origin: String, publisher: Arc<Publisher>) -> Self {
        IoEvents {
            origin,
            publisher,
            fetches: Mutex::default(),
            key_status: AtomicU16::new(0),
            deliveries: AtomicU64::new(0),
        }
    }

    /// What `io_events_key_origin` is set to against this simulator.
    pub fn key_origin(&self) -> &str {
        &self.origin
    }

    /// The path of key `n`'s public key (`/prod/keys/pub-key-<uuid>.pem`).
    pub fn key_path(&self, n: usize) -> &'static str {
        &pairs()[n].path
    }

    /// Key `n`'s public key, PEM SPKI.
    pub fn public_pem(&self, n: usize) -> &'static str {
        &pairs()[n].pem
    }

    /// Key requests so far, every path and answer counted.
    pub fn key_fetches(&self) -> u32 {
        self.fetches.lock().unwrap().values().sum()
    }

    /// From now on every key request is answered `status`; 0 serves again.
    pub fn fail_keys(&self, status: u16) {
        self.key_status.store(status, Ordering::SeqCst);
    }

    /// Key `n`'s base64 RSA-SHA256 (PKCS#1 v1.5) signature of `body`.
    pub fn sign(&self, n: usize, body: &[u8]) -> String {
        let sig = SigningKey::<Sha256>::new(pairs()[n].private.clone()).sign(body);
        base64::engine::general_purpose::STANDARD.encode(sig.to_vec())
    }

    /// A CloudEvents 1.0 event as I/O Events delivers a custom event:
    /// `eventid` and `recipientclientid` added to what the publisher sent,
    /// `time` now.
    pub fn event(&self, event_id: &str, event_type: &str, recipient: &str, data: Value) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.event_at(event_id, event_type, recipient, data, now)
    }

    /// [`IoEvents::event`] with `time` at `time_ms` (ms since the epoch).
    pub fn event_at(
        &self,
        event_id: &str,
        event_type: &str,
        recipient: &str,
        data: Value,
        time_ms: u64,
    ) -> Value {
        json!({
            "specversion": "1.0",
            "type": event_type,
            "source": "urn:uuid:accs-sim-provider",
            "id": format!("ce-{event_id}"),
            "time": rfc3339(time_ms),
            "datacontenttype": "application/json",
            "eventid": event_id,
            "recipientclientid": recipient,
            "data": data,
        })
    }

    /// The headers of one delivery attempt of `body`, signed by keys 0 and
    /// 1 (`signers` overrides which key signs each slot; `None` leaves the
    /// slot out). `retry` is the attempt's `x-adobe-retry-count` (0: none).
    pub fn headers_with(
        &self,
        body: &[u8],
        event_id: Option<&str>,
        retry: u32,
        signers: [Option<usize>; 2],
    ) -> Vec<(String, String)> {
        let n = self.deliveries.fetch_add(1, Ordering::SeqCst);
        let mut h = vec![
            (
                "content-type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            ),
            ("user-agent".to_owned(), "Adobe/1.0".to_owned()),
            ("x-adobe-delivery-id".to_owned(), format!("delivery-{n}")),
        ];
        if let Some(id) = event_id {
            h.push(("x-adobe-event-id".into(), id.into()));
        }
        if retry > 0 {
            h.push(("x-adobe-retry-count".into(), retry.to_string()));
        }
        for (slot, signer) in signers.iter().enumerate() {
            if let Some(k) = signer {
                h.push((
                    format!("x-adobe-digital-signature-{}", slot + 1),
                    self.sign(*k, body),
                ));
                h.push((
                    format!("x-adobe-public-key{}-path", slot + 1),
                    self.key_path(slot).to_owned(),
                ));
            }
        }
        h
    }

    /// [`IoEvents::headers_with`], signed as I/O Events signs.
    pub fn headers(
        &self,
        body: &[u8],
        event_id: Option<&str>,
        retry: u32,
    ) -> Vec<(String, String)> {
        self.headers_with(body, event_id, retry, [Some(0), Some(1)])
    }

    /// Sends one attempt to `url` (a webhook URL), as I/O Events would: an
    /// answer (its headers) not in within [`DELIVERY_TIMEOUT`] is a timeout
    /// error, a failed attempt.
    pub async fn deliver(
        &self,
        client: &reqwest::Client,
        url: &str,
        body: &[u8],
        event_id: Option<&str>,
        retry: u32,
    ) -> reqwest::Result<reqwest::Response> {
        let mut req = client
            .post(url)
            .timeout(DELIVERY_TIMEOUT)
            .body(body.to_vec());
        for (k, v) in self.headers(body, event_id, retry) {
            req = req.header(k, v);
        }
        req.send().await
    }

    /// Retries `body` with the same event id until the answer is not 429
    /// or 5xx (505 aside), at most `attempts` times, as I/O Events does (its
    /// minutes between attempts left out): the last answer's status and body.
    pub async fn deliver_until_settled(
        &self,
        client: &reqwest::Client,
        url: &str,
        body: &[u8],
        event_id: Option<&str>,
        attempts: u32,
    ) -> reqwest::Result<(u16, Value, u32)> {
        let mut retry = 0;
        loop {
            let (status, v) = match self.deliver(client, url, body, event_id, retry).await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, r.json::<Value>().await.unwrap_or(Value::Null))
                }
                // No answer within the cut-off: status 0, retried.
                Err(e) if e.is_timeout() => (0, Value::Null),
                Err(e) => return Err(e),
            };
            let retried = status == 0 || status == 429 || (status >= 500 && status != 505);
            retry += 1;
            if !retried || retry >= attempts {
                return Ok((status, v, retry));
            }
        }
    }

    /// The registration challenge: `GET url?challenge=value`.
    pub async fn challenge(
        &self,
        client: &reqwest::Client,
        url: &str,
        value: &str,
        accept: Option<&str>,
    ) -> reqwest::Result<reqwest::Response> {
        let mut req = client.get(format!("{url}?challenge={value}"));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        req.send().await
    }
}

/// One push attempt made by [`IoEvents::deliver_pending`].
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub event_id: String,
    pub url: String,
    /// The `x-adobe-retry-count` it carried (0: the first attempt, no header).
    pub retry: u32,
    /// The answer's status; `None`: no answer within [`DELIVERY_TIMEOUT`]
    /// or no connection.
    pub status: Option<u16>,
    /// Still pending: I/O Events retries it (429, 5xx but 505, no answer).
    pub kept: bool,
}

/// A batch delivery holds at most this many events, and at most
/// [`BATCH_MAX_BYTES`] (AdobeDocs/adobe-io-events `src/pages/support/faq.md`,
/// "What is the size of notifications in batch delivery style?").
pub const BATCH_MAX_EVENTS: usize = 20;

/// See [`BATCH_MAX_EVENTS`]: "up to 2MB", counted as 2,000,000 bytes.
pub const BATCH_MAX_BYTES: usize = 2_000_000;

/// The pending deliveries cut into batches: consecutive ones to one URL,
/// each batch within [`BATCH_MAX_EVENTS`] and [`BATCH_MAX_BYTES`] (an event
/// bigger than that alone).
fn batches(queue: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut out: Vec<Vec<Pending>> = Vec::new();
    let mut bytes = 0;
    for p in queue {
        let weight = p.body.len() + 1;
        let fits = out.last().is_some_and(|b| {
            b[0].url == p.url && b.len() < BATCH_MAX_EVENTS && bytes + weight <= BATCH_MAX_BYTES
        });
        if fits {
            bytes += weight;
            if let Some(b) = out.last_mut() {
                b.push(p);
            }
        } else {
            bytes = 2 + weight;
            out.push(vec![p]);
        }
    }
    out
}

/// Whether I/O Events retries an attempt that ended so
/// (AdobeDocs/adobe-io-events `src/pages/common/retry-doc.md`: 429 and
/// 500-599 except 505 are retried, every other status is not; no answer
/// within the timeout is a failed attempt, retried).
pub fn retried(status: Option<u16>) -> bool {
    match status {
        None => true,
        Some(s) => s == 429 || ((500..600).contains(&s) && s != 505),
    }
}

/// Commerce's events published through I/O Events: the registration
/// (subscription), its push queue and its journal.
impl IoEvents {
    /// Sets the registration the simulated Commerce publishes to: from now
    /// on each event of a type in `event_types` (full types,
    /// `com.adobe.commerce.observer.…`; a trailing `*` is a prefix) goes to
    /// the journal and, when `webhook_url` is set, to the push queue. Replaces
    /// an earlier subscription; the journal and the queue stay.
    pub fn subscribe(
        &self,
        webhook_url: Option<String>,
        recipient_client_id: &str,
        event_types: &[&str],
    ) {
        self.subscribe_with(Subscription {
            webhook_url,
            recipient_client_id: recipient_client_id.to_owned(),
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            batch: false,
        });
    }

    /// [`IoEvents::subscribe`] with the subscription as one value.
    pub fn subscribe_with(&self, sub: Subscription) {
        self.publisher.lock().subscription = Some(sub);
    }

    /// Publishing off again (the journal and the queue stay).
    pub fn unsubscribe(&self) {
        self.publisher.lock().subscription = None;
    }

    pub fn subscription(&self) -> Option<Subscription> {
        self.publisher.lock().subscription.clone()
    }

    /// Publishes a Commerce event of `event_type` with `value` as
    /// `data.value`, as the simulated Commerce does on its own saves (the
    /// builders are in [`crate::commerce_events`]): `None` when no
    /// subscription takes the type, else the event id.
    pub fn publish(&self, event_type: &str, value: Value) -> Option<String> {
        self.publisher.publish(event_type, value)
    }

    /// Whether a source-items save at the default source publishes
    /// [`crate::commerce_events::STOCK_ITEM_SAVED`] (default: yes; see there
    /// why a real ACCS may not).
    pub fn set_source_item_stock_events(&self, on: bool) {
        self.publisher.lock().source_item_stock_events = on;
    }

    /// The push deliveries not settled yet, oldest first.
    pub fn pending(&self) -> Vec<Pending> {
        self.publisher.lock().pending.clone()
    }

    /// One attempt of every pending delivery, oldest first, one after the
    /// other, signed as I/O Events signs, `x-adobe-retry-count` the attempts
    /// made before. An attempt answered 429 or 5xx (505 aside), or not
    /// answered within [`DELIVERY_TIMEOUT`], stays pending; any other answer
    /// settles it (2xx delivered; another status dropped, as I/O Events
    /// drops it). A batch subscription ([`Subscription::batch`]) sends the
    /// pending events as JSON arrays ([`BATCH_MAX_EVENTS`]), with no
    /// `x-adobe-event-id`, and each array's answer settles all its events;
    /// one [`Attempt`] per event either way.
    pub async fn deliver_pending(&self, client: &reqwest::Client) -> Vec<Attempt> {
        let batch = self
            .publisher
            .lock()
            .subscription
            .as_ref()
            .is_some_and(|s| s.batch);
        let queue = self.pending();
        let groups = if batch {
            batches(queue)
        } else {
            queue.into_iter().map(|p| vec![p]).collect()
        };
        let mut attempts = Vec::new();
        for group in groups {
            let (body, event_id) = match group.as_slice() {
                [one] if !batch => (one.body.clone(), Some(one.event_id.as_str())),
                many => {
                    let list: Vec<&str> = many.iter().map(|p| p.body.as_str()).collect();
                    (format!("[{}]", list.join(",")), None)
                }
            };
            let retry = group.iter().map(|p| p.attempts).max().unwrap_or(0);
            let answer = self
                .deliver(client, &group[0].url, body.as_bytes(), event_id, retry)
                .await;
            let status = answer.ok().map(|r| r.status().as_u16());
            let kept = retried(status);
            let mut s = self.publisher.lock();
            for p in &group {
                if let Some(i) = s.pending.iter().position(|q| q.event_id == p.event_id) {
                    if kept {
                        s.pending[i].attempts += 1;
                        s.pending[i].last_status = status;
                    } else {
                        s.pending.remove(i);
                    }
                }
                attempts.push(Attempt {
                    event_id: p.event_id.clone(),
                    url: p.url.clone(),
                    retry,
                    status,
                    kept,
                });
            }
        }
        attempts
    }

    /// The journal's path (`/events/organizations/…/integrations/…/<registration>`);
    /// [`crate::Sim::journal_url`] is the full URL.
    pub fn journal_path(&self) -> String {
        self.publisher.journal_path()
    }

    /// Appends any event to the journal, written now; returns its position.
    pub fn journal_push(&self, event: Value) -> String {
        self.journal_push_at(event, crate::publish::now_ms())
    }

    /// [`IoEvents::journal_push`] written at `time_ms` (ms since the epoch),
    /// for `seek` and retention tests. Keep the journal in time order.
    pub fn journal_push_at(&self, event: Value, time_ms: u64) -> String {
        self.publisher.lock().journal.push(event, time_ms)
    }

    /// Every live event's position, oldest first.
    pub fn journal_positions(&self) -> Vec<String> {
        self.publisher.lock().journal.positions()
    }

    pub fn journal_len(&self) -> usize {
        self.publisher.lock().journal.len()
    }

    /// Expires the oldest `n` events now: a `since` at their positions is 410.
    pub fn journal_expire_oldest(&self, n: usize) {
        self.publisher.lock().journal.expire_oldest(n);
    }

    /// How long events stay (default 7 days, [`crate::journal::DEFAULT_RETENTION`]).
    pub fn journal_set_retention(&self, d: Duration) {
        self.publisher.lock().journal.retention = d;
    }

    /// The page size cap in bytes (default 1.5 MB, [`crate::journal::PAGE_CAP_BYTES`]).
    pub fn journal_set_page_cap(&self, bytes: usize) {
        self.publisher.lock().journal.page_cap_bytes = bytes;
    }

    /// Events per page without `limit` (default [`crate::journal::DEFAULT_PAGE_EVENTS`]).
    pub fn journal_set_default_limit(&self, events: usize) {
        self.publisher.lock().journal.default_page_events = events.max(1);
    }

    /// The `retry-after` of a 204 (default 10 s).
    pub fn journal_set_retry_after(&self, secs: u64) {
        self.publisher.lock().journal.retry_after_secs = secs;
    }

    /// A scope the journal requires in the token (403 without it); `None`,
    /// the default, accepts any valid token of the simulator's IMS. Adobe's
    /// SDK guide names `adobeio_api` (`src/pages/guides/sdk/sdk-getting-started.md`).
    pub fn journal_require_scope(&self, scope: Option<&str>) {
        self.publisher.lock().require_scope = scope.map(str::to_owned);
    }

    /// Journal requests so far and their answers.
    pub fn journal_counters(&self) -> JournalCounters {
        self.publisher.lock().counters.clone()
    }

    /// Every journal request in arrival order: query and answer (no headers).
    pub fn journal_requests(&self) -> Vec<JournalRequest> {
        self.publisher.lock().requests.clone()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        for (ms, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_767_225_600_123, "2026-01-01T00:00:00.123Z"),
            (1_709_208_000_000, "2024-02-29T12:00:00.000Z"),
            (1_483_228_799_999, "2016-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(super::rfc3339(ms), text);
        }
    }
}
