//! One delivery's signatures against the keys: cached keys first, then
//! fetches for the pairs not yet decided. Either signature verifying is
//! enough (AdobeDocs/adobe-io-events `src/pages/guides/index.md`,
//! "Verifying the Signature", step 5; aio-lib-events `src/signatureUtils.js`,
//! `verifySignature` returns on the first that verifies).
//!
//! Forged deliveries stay cheap: a request waits at most
//! [`FETCH_TIMEOUT`] for the origin, all fetches together, and fetches at
//! most one key the origin does not serve. After a refusal (remembered,
//! see `keys.rs`), or an origin that fails, no further key is fetched; if a
//! pair is then still undecided the answer is 503, so a genuine delivery
//! whose first key is missing verifies with its second on I/O Events' retry.
//! A served key that does not verify lets the next pair be fetched: only
//! Adobe's published keys are served, so a forger cannot make that cost
//! more than the keys Adobe has. A request writes at most one key-cache
//! entry: the key that verified, or the path the origin refused.

use super::keys::{Cached, FETCH_TIMEOUT, Fetched, KeyUnavailable, Keys};
use super::signature::{self, Pair, SignatureError};
use crate::ports::Ports;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// 401: unsigned, or no signature verifies with an authentic key.
    #[error(transparent)]
    Unauthorized(#[from] SignatureError),
    /// 503: a key that might have verified could not be fetched.
    #[error(transparent)]
    KeyUnavailable(#[from] KeyUnavailable),
}

pub async fn verify<P: Ports>(
    keys: &Keys<'_, P>,
    pairs: &[Pair<'_>],
    body: &[u8],
    timeout: Duration,
) -> Result<(), VerifyError> {
    let mut unknown = Vec::new();
    for pair in pairs {
        match keys.cached(pair.key_path).await {
            // An authentic key that does not verify: this signature is bad.
            Cached::Key(key) if signature::verifies(&key, body, &pair.signature) => return Ok(()),
            Cached::Key(_) | Cached::Refused => {}
            Cached::Miss => unknown.push(pair),
        }
    }
    let ports = keys.ports();
    let deadline = ports
        .now_ms()
        .saturating_add(timeout.min(FETCH_TIMEOUT).as_millis() as u64);
    for (i, pair) in unknown.iter().enumerate() {
        let left = Duration::from_millis(deadline.saturating_sub(ports.now_ms()));
        if left.is_zero() {
            return Err(
                KeyUnavailable("was not asked: the time for key fetches is spent".into()).into(),
            );
        }
        match keys.fetch(pair.key_path, left).await? {
            Fetched::Key(key, pem) if signature::verifies(&key, body, &pair.signature) => {
                keys.remember(pair.key_path, &pem).await;
                return Ok(());
            }
            Fetched::Key(..) => {}
            Fetched::Refused => {
                keys.refused(pair.key_path).await;
                if i + 1 < unknown.len() {
                    return Err(KeyUnavailable(
                        "has no key at one of the delivery's key paths; the other is fetched by the next attempt (one missing key per request)".into(),
                    )
                    .into());
                }
            }
        }
    }
    Err(SignatureError::NoMatch.into())
}
