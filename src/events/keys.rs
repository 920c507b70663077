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

use super::signature;
use crate::config::Settings;
use crate::ports::{OutRequest, Ports};
use hmac::{Hmac, Mac};
use rsa::RsaPublicKey;
use sha2::Sha256;
use std::time::Duration;

/// The longest a key is trusted from the cache.
pub const MAX_AGE_MS: u64 = 24 * 60 * 60 * 1000;
/// One key fetch's longest wait (less if the route's budget is shorter).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

type HmacSha256 = Hmac<Sha256>;

/// Why a key could not be had: the answer is 503, so I/O Events retries.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the I/O Events key origin {0}")]
pub struct KeyUnavailable(pub String);

/// The key cache and fetcher of one deployment.
pub struct Keys<'a, P> {
    ports: &'a P,
    origin: &'a str,
    mac_key: [u8; 32],
}

impl<'a, P: Ports> Keys<'a, P> {
    pub fn new(settings: &'a Settings, ports: &'a P) -> Self {
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
        }
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

    /// The key cached for `path`, if it is authentic and under 24 h old. A
    /// store that fails is a miss: the origin is then asked, which is as
    /// trustworthy and only slower.
    pub async fn cached(&self, path: &str) -> Option<RsaPublicKey> {
        let name = self.name(path);
        let stored = self.ports.kv_get(&name).await.ok()??;
        let text = std::str::from_utf8(&stored).ok()?;
        let (fetched, rest) = text.split_once('\n')?;
        let (pem, mac) = rest.rsplit_once('\n')?;
        let want = self.mac(&[b"key", name.as_bytes(), fetched.as_bytes(), pem.as_bytes()]);
        let fresh = fetched.parse::<u64>().ok().is_some_and(|at| {
            let now = self.ports.now_ms();
            at <= now.saturating_add(60_000) && now.saturating_sub(at) < MAX_AGE_MS
        });
        use subtle::ConstantTimeEq;
        let authentic: bool = crate::config::hex(&want)
            .as_bytes()
            .ct_eq(mac.as_bytes())
            .into();
        (authentic && fresh)
            .then(|| signature::parse_key(pem.as_bytes()))
            .flatten()
    }

    /// The key at `path`, from the origin. `Ok(None)`: the origin has no such
    /// key (404, or 403 as a static store answers for a missing object) or
    /// answered something that is no RSA public key: never cached, never
    /// trusted, and the delivery's signature is bad (401), for Adobe signs
    /// only with keys it publishes. Anything else (5xx, 429, no answer) is
    /// [`KeyUnavailable`], a 503 that I/O Events retries.
    pub async fn fetch(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<Option<(RsaPublicKey, Vec<u8>)>, KeyUnavailable> {
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
            403 | 404 => return Ok(None),
            s => return Err(KeyUnavailable(format!("answered {s}"))),
        }
        Ok(signature::parse_key(&resp.body).map(|k| (k, resp.body)))
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
