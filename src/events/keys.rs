//! I/O Events' public keys: fetched from `io_events_key_origin` only, for
//! key paths of Adobe's form only (`signature::key_path_ok`), and cached in
//! the key-value store for at most 24 h, as the docs ask
//! (AdobeDocs/adobe-io-events `src/pages/guides/index.md`: "after downloading
//! the public key set it in the cache with cache expiry of not more than
//! 24h"; aio-lib-events `src/signatureUtils.js` caches by file name in
//! aio-lib-state for 24 h).
//!
//! A cached key is sealed with an HMAC keyed from the deployment's IMS
//! client secret over its name, time and text: whoever can write the store
//! but lacks the secret cannot plant a key of their own. Only a key that
//! parsed and verified a delivery is cached, so a bad or foreign key never is.
//!
//! A key path the origin refused (a 4xx but 408 and 429, or a text that is
//! no RSA key) is remembered [`REFUSED_MS`] under the same store name,
//! sealed the same way, and in memory ([`Refusals`], which a WASI 0.3
//! instance keeps across its requests): forged deliveries naming one made-up
//! path again and again cost no fetch after the first.

use super::signature;
use crate::config::Settings;
use crate::ports::{OutRequest, Ports};
use hmac::{Hmac, Mac};
use rsa::RsaPublicKey;
use sha2::Sha256;
use std::cell::RefCell;
use std::time::Duration;

/// The longest a key is trusted from the cache.
pub const MAX_AGE_MS: u64 = 24 * 60 * 60 * 1000;
/// The longest a request waits for the key origin, every fetch together
/// (less if the route's budget is shorter).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a refused key path is remembered: short, as Adobe may publish
/// a key there (a new key reaching the CDN); I/O Events' retries after 1, 2,
/// 4 and 8 minutes then find it.
pub const REFUSED_MS: u64 = 5 * 60 * 1000;
/// Refused paths one instance remembers in memory, the oldest dropped first.
const MAX_REFUSALS: usize = 64;
/// The text a refusal stores in place of a key.
const REFUSED: &str = "refused";

type HmacSha256 = Hmac<Sha256>;

/// Why a key could not be had: the answer is 503, so I/O Events retries.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the I/O Events key origin {0}")]
pub struct KeyUnavailable(pub String);

/// Key paths the origin refused, by store name, with when: an instance's
/// memory in front of the store's sealed refusals.
#[derive(Default)]
pub struct Refusals(RefCell<Vec<(String, u64)>>);

impl Refusals {
    fn holds(&self, name: &str, now: u64) -> bool {
        self.0
            .borrow_mut()
            .retain(|(_, at)| fresh(*at, now, REFUSED_MS));
        self.0.borrow().iter().any(|(n, _)| n == name)
    }

    fn add(&self, name: &str, at: u64) {
        let mut list = self.0.borrow_mut();
        list.retain(|(n, _)| n != name);
        if list.len() >= MAX_REFUSALS {
            list.remove(0);
        }
        list.push((name.to_owned(), at));
    }
}

/// Whether something stored `at` is under `max_ms` old (and not from the
/// future beyond a minute of clock skew).
fn fresh(at: u64, now: u64, max_ms: u64) -> bool {
    at <= now.saturating_add(60_000) && now.saturating_sub(at) < max_ms
}

/// What the cache holds for a key path.
pub enum Cached {
    Key(RsaPublicKey),
    /// The origin refused it under [`REFUSED_MS`] ago.
    Refused,
    Miss,
}

/// What the origin answered for a key path.
pub enum Fetched {
    /// An RSA public key, and its text as served.
    Key(RsaPublicKey, Vec<u8>),
    /// No such key (a 4xx but 408 and 429), or a text that is no RSA key.
    Refused,
}

/// The key cache and fetcher of one deployment.
pub struct Keys<'a, P> {
    ports: &'a P,
    origin: &'a str,
    mac_key: [u8; 32],
    refusals: &'a Refusals,
}

impl<'a, P: Ports> Keys<'a, P> {
    pub fn new(settings: &'a Settings, ports: &'a P, refusals: &'a Refusals) -> Self {
        // The last secret, as the ledgers do: rotation adds new ones in front.
        let secret = settings
            .ims_client_secrets
            .last()
            .map_or("", |s| s.expose());
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(b"accs-edge io-events key cache v1\0");
        mac.update(settings.ims_client_id.as_bytes());
        Keys {
            ports,
            origin: settings.io_events.origin(),
            mac_key: mac.finalize().into_bytes().into(),
            refusals,
        }
    }

    pub fn ports(&self) -> &'a P {
        self.ports
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.mac_key).expect("any key length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// The store key of one key path at this origin.
    pub fn name(&self, path: &str) -> String {
        let id = self.mac(&[b"name", self.origin.as_bytes(), path.as_bytes()]);
        format!(
            "accs-edge/io-events/keys/v1/{}",
            crate::config::hex(&id[..16])
        )
    }

    /// What is cached for `path`: an authentic key under 24 h old, an
    /// authentic refusal under [`REFUSED_MS`] old, or nothing. A store that
    /// fails is a miss: the origin is then asked, which is as trustworthy
    /// and only slower.
    pub async fn cached(&self, path: &str) -> Cached {
        let name = self.name(path);
        let now = self.ports.now_ms();
        if self.refusals.holds(&name, now) {
            return Cached::Refused;
        }
        let Ok(Some(stored)) = self.ports.kv_get(&name).await else {
            return Cached::Miss;
        };
        self.open(&name, &stored, now).unwrap_or(Cached::Miss)
    }

    fn open(&self, name: &str, stored: &[u8], now: u64) -> Option<Cached> {
        let text = std::str::from_utf8(stored).ok()?;
        let (at, rest) = text.split_once('\n')?;
        let (pem, mac) = rest.rsplit_once('\n')?;
        let want = self.mac(&[b"key", name.as_bytes(), at.as_bytes(), pem.as_bytes()]);
        use subtle::ConstantTimeEq;
        let authentic: bool = crate::config::hex(&want)
            .as_bytes()
            .ct_eq(mac.as_bytes())
            .into();
        let at = at.parse::<u64>().ok().filter(|_| authentic)?;
        if pem == REFUSED {
            fresh(at, now, REFUSED_MS).then(|| {
                self.refusals.add(name, at);
                Cached::Refused
            })
        } else {
            fresh(at, now, MAX_AGE_MS)
                .then(|| signature::parse_key(pem.as_bytes()))
                .flatten()
                .map(Cached::Key)
        }
    }

    /// The key at `path`, from the origin. [`Fetched::Refused`]: the origin
    /// has no such key (404, or 403 as a static store answers for a missing
    /// object, or another 4xx but 408 and 429) or answered something that is
    /// no RSA public key: never trusted, and that signature is bad, for Adobe
    /// signs only with keys it publishes. Anything else (5xx, 408, 429, no
    /// answer) is [`KeyUnavailable`], a 503 that I/O Events retries.
    pub async fn fetch(&self, path: &str, timeout: Duration) -> Result<Fetched, KeyUnavailable> {
        debug_assert!(signature::key_path_ok(path));
        let req = OutRequest {
            method: "GET",
            url: format!("{}{path}", self.origin),
            headers: vec![("accept", "application/x-pem-file, text/plain".into())],
            body: vec![],
        };
        let resp = self
            .ports
            .send(req, timeout.min(FETCH_TIMEOUT))
            .await
            .map_err(|e| KeyUnavailable(format!("could not be reached ({e})")))?;
        match resp.status {
            200 => {}
            408 | 429 => return Err(KeyUnavailable(format!("answered {}", resp.status))),
            400..=499 => return Ok(Fetched::Refused),
            s => return Err(KeyUnavailable(format!("answered {s}"))),
        }
        Ok(match signature::parse_key(&resp.body) {
            Some(k) => Fetched::Key(k, resp.body),
            None => Fetched::Refused,
        })
    }

    /// Remembers that the origin refused `path`: in memory, and sealed in
    /// the store (one write) for [`REFUSED_MS`].
    pub async fn refused(&self, path: &str) {
        let name = self.name(path);
        let at = self.ports.now_ms();
        self.refusals.add(&name, at);
        let at = at.to_string();
        let mac = self.mac(&[b"key", name.as_bytes(), at.as_bytes(), REFUSED.as_bytes()]);
        let value = format!("{at}\n{REFUSED}\n{}", crate::config::hex(&mac));
        // A store that fails costs a fetch next time, no more.
        let _ = self.ports.kv_set(&name, value.into_bytes()).await;
    }

    /// Caches a key that verified a delivery. A store that fails is logged
    /// and costs only a fetch next time.
    pub async fn remember(&self, path: &str, pem: &[u8]) {
        let name = self.name(path);
        let Ok(pem) = std::str::from_utf8(pem) else {
            return;
        };
        let pem = pem.trim();
        let fetched = self.ports.now_ms().to_string();
        let mac = self.mac(&[b"key", name.as_bytes(), fetched.as_bytes(), pem.as_bytes()]);
        let value = format!("{fetched}\n{pem}\n{}", crate::config::hex(&mac));
        if self.ports.kv_set(&name, value.into_bytes()).await.is_err() {
            let line = serde_json::json!({
                "level": "warn",
                "message": "an I/O Events public key could not be cached; the next delivery fetches it again",
            });
            self.ports.log(&line.to_string());
        }
    }
}
