//! Standard Webhooks verification (<https://www.standardwebhooks.com>), over
//! the raw body and before anything is parsed.
//!
//! Signed content is `{webhook-id}.{webhook-timestamp}.{body}`, HMAC-SHA256
//! with the base64 key after `whsec_`; `webhook-signature` holds one or more
//! space-separated `v1,<base64>` entries, any of which may match any secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a timestamp may be from our clock, either way.
pub const TOLERANCE_S: i64 = 300;
const MAX_ID_LEN: usize = 256;
const MAX_SIGNATURE_HEADER: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the `{0}` header is missing")]
    Missing(&'static str),
    #[error("the `webhook-id` header must be 1 to 256 visible ASCII characters")]
    BadId,
    #[error("the `webhook-timestamp` header must be whole seconds since the Unix epoch")]
    BadTimestamp,
    #[error("the `webhook-timestamp` is more than 300 seconds from now")]
    Stale,
    #[error("no `v1` signature in `webhook-signature` matches")]
    NoMatch,
}

/// The verified delivery id.
pub fn verify<'a>(
    id: Option<&'a str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    secrets: &[Vec<u8>],
    now_s: i64,
) -> Result<&'a str, SignatureError> {
    let id = id.ok_or(SignatureError::Missing("webhook-id"))?;
    let timestamp = timestamp.ok_or(SignatureError::Missing("webhook-timestamp"))?;
    let signature = signature.ok_or(SignatureError::Missing("webhook-signature"))?;
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SignatureError::BadId);
    }
    if timestamp.is_empty()
        || timestamp.len() > 12
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SignatureError::BadTimestamp);
    }
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if now_s.saturating_sub(ts).saturating_abs() > TOLERANCE_S {
        return Err(SignatureError::Stale);
    }
    if signature.len() > MAX_SIGNATURE_HEADER {
        return Err(SignatureError::NoMatch);
    }
    let candidates: Vec<Vec<u8>> = signature
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .filter(|sig| sig.len() == 32)
        .collect();
    for key in secrets {
        let Some(mac) = signed_content(key, id, timestamp, body) else {
            continue;
        };
        // verify_slice compares in constant time and checks the length.
        if candidates
            .iter()
            .any(|sig| mac.clone().verify_slice(sig).is_ok())
        {
            return Ok(id);
        }
    }
    Err(SignatureError::NoMatch)
}

/// `webhook-signature` for a message we send: one `v1,<base64>` per key,
/// space-separated, each the HMAC-SHA256 of `{id}.{timestamp}.{body}`. With
/// several keys (a secret being rotated) a receiver holding any one of them
/// verifies, which is how Standard Webhooks rotates secrets.
pub fn sign(id: &str, timestamp: &str, body: &[u8], keys: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for key in keys {
        let Some(mac) = signed_content(key, id, timestamp, body) else {
            continue;
        };
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("v1,");
        out.push_str(&STANDARD.encode(mac.finalize().into_bytes()));
    }
    out
}

/// The HMAC-SHA256 of Standard Webhooks' signed content,
/// `{id}.{timestamp}.{body}`, under `key`: what both sides compute.
fn signed_content(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The HMAC key of a `whsec_<base64>` secret (validated at config time).
pub fn key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix("whsec_")?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The Standard Webhooks reference vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: &str = "1614265330";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const NOW: i64 = 1_614_265_330;

    fn keys() -> Vec<Vec<u8>> {
        vec![key(SECRET).unwrap()]
    }

    #[test]
    fn the_reference_vector_verifies() {
        assert_eq!(
            verify(Some(ID), Some(TS), Some(SIG), BODY, &keys(), NOW),
            Ok(ID)
        );
    }

    #[test]
    fn signing_gives_the_reference_vector_and_one_entry_per_key() {
        assert_eq!(sign(ID, TS, BODY, &keys()), SIG);
        let other = key("whsec_b3RoZXIta2V5LTAxMjM0NTY3ODk=").unwrap();
        let both = sign(ID, TS, BODY, &[other.clone(), keys()[0].clone()]);
        let (first, second) = both.split_once(' ').unwrap();
        assert_eq!(second, SIG);
        assert!(first.starts_with("v1,") && first != SIG, "{both}");
        // What we sign, our verifier (and so any Standard Webhooks one) takes.
        assert_eq!(
            verify(Some(ID), Some(TS), Some(&both), BODY, &[other], NOW),
            Ok(ID)
        );
        assert_eq!(sign(ID, TS, BODY, &[]), "");
    }

    #[test]
    fn any_entry_and_any_secret_may_match() {
        let sig = format!("v1,bm90IGl0 v2,abc {SIG}");
        let rotated = vec![
            key("whsec_b3RoZXIta2V5LTAxMjM0NTY3ODk=").unwrap(),
            key(SECRET).unwrap(),
        ];
        assert_eq!(
            verify(Some(ID), Some(TS), Some(&sig), BODY, &rotated, NOW),
            Ok(ID)
        );
    }

    #[test]
    fn tampering_and_malformed_headers_fail() {
        let k = keys();
        let v = |id, ts, sig, body: &[u8], now| verify(id, ts, sig, body, &k, now);
        assert_eq!(
            v(
                Some(ID),
                Some(TS),
                Some(SIG),
                br#"{"test": 2432232315}"#,
                NOW
            ),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            v(Some("msg_other"), Some(TS), Some(SIG), BODY, NOW),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            v(None, Some(TS), Some(SIG), BODY, NOW),
            Err(SignatureError::Missing("webhook-id"))
        );
        assert_eq!(
            v(Some(ID), None, Some(SIG), BODY, NOW),
            Err(SignatureError::Missing("webhook-timestamp"))
        );
        assert_eq!(
            v(Some(ID), Some(TS), None, BODY, NOW),
            Err(SignatureError::Missing("webhook-signature"))
        );
        for sig in [
            "v1,",
            "v1",
            "",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1,g0hM9SsE+OTPJTGt",
            "v1,!!!",
        ] {
            assert_eq!(
                v(Some(ID), Some(TS), Some(sig), BODY, NOW),
                Err(SignatureError::NoMatch),
                "{sig}"
            );
        }
        assert_eq!(
            v(Some(ID), Some(TS), Some(SIG), BODY, NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            v(Some(ID), Some(TS), Some(SIG), BODY, NOW - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(v(Some(ID), Some(TS), Some(SIG), BODY, NOW + 300), Ok(ID));
        assert_eq!(
            v(Some(ID), Some("-5"), Some(SIG), BODY, NOW),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            v(Some(ID), Some("1e9"), Some(SIG), BODY, NOW),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            v(Some(""), Some(TS), Some(SIG), BODY, NOW),
            Err(SignatureError::BadId)
        );
        assert_eq!(
            verify(Some(ID), Some(TS), Some(SIG), BODY, &[], NOW),
            Err(SignatureError::NoMatch)
        );
    }

    proptest! {
        #[test]
        fn header_parsing_never_panics(id in ".{0,300}", ts in ".{0,20}", sig in ".{0,600}", body in proptest::collection::vec(any::<u8>(), 0..64), now in any::<i64>()) {
            let _ = verify(Some(&id), Some(&ts), Some(&sig), &body, &keys(), now);
        }

        #[test]
        fn only_the_right_signature_of_arbitrary_bodies_verifies(body in proptest::collection::vec(any::<u8>(), 0..256), flip in 0usize..32) {
            let mut mac = Hmac::<Sha256>::new_from_slice(&keys()[0]).unwrap();
            mac.update(format!("{ID}.{TS}.").as_bytes());
            mac.update(&body);
            let mut sig = mac.finalize().into_bytes().to_vec();
            let good = format!("v1,{}", STANDARD.encode(&sig));
            prop_assert_eq!(verify(Some(ID), Some(TS), Some(&good), &body, &keys(), NOW), Ok(ID));
            sig[flip] ^= 1;
            let bad = format!("v1,{}", STANDARD.encode(&sig));
            prop_assert_eq!(verify(Some(ID), Some(TS), Some(&bad), &body, &keys(), NOW), Err(SignatureError::NoMatch));
        }
    }
}
