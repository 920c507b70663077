//! One delivery's signatures against the keys: cached keys first, then a
//! fetch for each pair not yet decided. Either signature verifying is enough
//! (AdobeDocs/adobe-io-events `src/pages/guides/index.md`, "Verifying the
//! Signature", step 5; aio-lib-events `src/signatureUtils.js`,
//! `verifySignature` returns on the first that verifies).

use super::keys::{KeyUnavailable, Keys};
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
            Some(key) if signature::verifies(&key, body, &pair.signature) => return Ok(()),
            Some(_) => {}
            None => unknown.push(pair),
        }
    }
    let mut unavailable = None;
    for pair in unknown {
        match keys.fetch(pair.key_path, timeout).await {
            Ok(Some((key, pem))) if signature::verifies(&key, body, &pair.signature) => {
                keys.remember(pair.key_path, &pem).await;
                return Ok(());
            }
            Ok(_) => {}
            Err(e) => unavailable = Some(e),
        }
    }
    match unavailable {
        Some(e) => Err(e.into()),
        None => Err(SignatureError::NoMatch.into()),
    }
}
