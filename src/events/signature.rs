//! I/O Events' digital signatures, pure: the headers, the key paths of
//! Adobe's form, and RSA-SHA256 (PKCS#1 v1.5) over the raw body.
//!
//! AdobeDocs/adobe-io-events `src/pages/guides/index.md` ("Adobe I/O Events
//! Digital Signature"): two signatures in `x-adobe-digital-signature-1` and
//! `-2`, the relative paths of their public keys (`/prod/keys/pub-key-<random-uuid>.pem`)
//! in `x-adobe-public-key1-path` and `-2-path`; "if any one of the signature
//! validations is successful, then the event is valid". adobe/aio-lib-events
//! `src/signatureUtils.js` (`cryptoVerify`): `crypto.verify('rsa-sha256', raw
//! payload, SPKI PEM key, base64 signature)`. The older `x-adobe-signature`
//! (an HMAC) is not looked at: aio-lib-events dropped it.

use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use sha2::Sha256;

/// A 4096-bit signature is 512 bytes, 684 in base64.
const MAX_SIGNATURE_B64: usize = 700;
/// A PEM SPKI RSA key of 4096 bits is about 800 bytes.
pub const MAX_KEY_PEM: usize = 4096;

/// One signature and the path of the key that should verify it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair<'a> {
    pub signature: Vec<u8>,
    pub key_path: &'a str,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "no usable I/O Events signature: send x-adobe-digital-signature-1 (or -2) with x-adobe-public-key1-path (or key2) of the form /prod/keys/pub-key-<uuid>.pem"
    )]
    Unsigned,
    #[error("no I/O Events signature verifies over this body")]
    NoMatch,
}

/// The pairs worth checking, in order: a signature that is not base64, or a
/// key path not of Adobe's form, drops its pair (its key is never fetched).
pub fn pairs<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
) -> Result<Vec<Pair<'a>>, SignatureError> {
    use base64::Engine;
    let mut out = Vec::new();
    for (sig, path) in [
        ("x-adobe-digital-signature-1", "x-adobe-public-key1-path"),
        ("x-adobe-digital-signature-2", "x-adobe-public-key2-path"),
    ] {
        let (Some(sig), Some(path)) = (header(sig), header(path)) else {
            continue;
        };
        let sig = sig.trim();
        if sig.len() > MAX_SIGNATURE_B64 || !key_path_ok(path) {
            continue;
        }
        if let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(sig) {
            out.push(Pair {
                signature,
                key_path: path,
            });
        }
    }
    if out.is_empty() {
        return Err(SignatureError::Unsigned);
    }
    Ok(out)
}

/// `/prod/keys/pub-key-<uuid>.pem`, the form the docs name, and nothing
/// else: no other path of the key origin is ever fetched.
pub fn key_path_ok(path: &str) -> bool {
    let Some(uuid) = path
        .strip_prefix("/prod/keys/pub-key-")
        .and_then(|p| p.strip_suffix(".pem"))
    else {
        return false;
    };
    let groups: Vec<&str> = uuid.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A PEM SPKI RSA public key (`-----BEGIN PUBLIC KEY-----`, the `spki` type
/// aio-lib-events' `createCryptoPublicKey` reads) of 2048 to 4096 bits.
pub fn parse_key(pem: &[u8]) -> Option<RsaPublicKey> {
    if pem.len() > MAX_KEY_PEM {
        return None;
    }
    let key = RsaPublicKey::from_public_key_pem(std::str::from_utf8(pem).ok()?.trim()).ok()?;
    (2048..=4096)
        .contains(&key.size().saturating_mul(8))
        .then_some(key)
}

/// Whether `signature` is `key`'s RSA-SHA256 PKCS#1 v1.5 signature of `body`.
pub fn verifies(key: &RsaPublicKey, body: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = Signature::try_from(signature) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(body, &sig)
        .is_ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const PATH1: &str = "/prod/keys/pub-key-0b8e6c1e-1d3f-4a4e-9c1a-2f5b6d7e8f90.pem";

    #[test]
    fn only_adobes_key_paths() {
        assert!(key_path_ok(PATH1));
        for bad in [
            "/prod/keys/pub-key-0b8e6c1e-1d3f-4a4e-9c1a-2f5b6d7e8f9.pem",
            "/stage/keys/pub-key-0b8e6c1e-1d3f-4a4e-9c1a-2f5b6d7e8f90.pem",
            "/prod/keys/pub-key-0b8e6c1e-1d3f-4a4e-9c1a-2f5b6d7e8f90.pem?x",
            "//evil.example/prod/keys/pub-key-0b8e6c1e-1d3f-4a4e-9c1a-2f5b6d7e8f90.pem",
            "/prod/keys/../keys/pub-key-0b8e6c1e-1d3f-4a4e-9c1a-2f5b6d7e8f90.pem",
            "/prod/keys/pub-key-0b8e6c1e-1d3f-4a4e-9c1a-2f5b6d7e8f90.pem/",
            "/prod/keys/pub-key-0b8e6c1e-1d3f-4a4e-9c1a-2f5b6d7e8fzz.pem",
            "https://static.adobeioevents.com/prod/keys/pub-key-0b8e6c1e-1d3f-4a4e-9c1a-2f5b6d7e8f90.pem",
            "",
        ] {
            assert!(!key_path_ok(bad), "{bad}");
        }
    }

    #[test]
    fn pairs_need_a_signature_and_a_good_path() {
        let h = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
        };
        assert_eq!(pairs(h(&[])), Err(SignatureError::Unsigned));
        assert_eq!(
            pairs(h(&[("x-adobe-signature", "aGVsbG8=")])),
            Err(SignatureError::Unsigned),
            "the old HMAC header opens nothing"
        );
        let one = pairs(h(&[
            ("x-adobe-digital-signature-1", "aGVsbG8="),
            ("x-adobe-public-key1-path", PATH1),
            ("x-adobe-digital-signature-2", "aGVsbG8="),
            ("x-adobe-public-key2-path", "/other/key.pem"),
        ]))
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].signature, b"hello");
        assert_eq!(
            pairs(h(&[
                ("x-adobe-digital-signature-1", "not base64!"),
                ("x-adobe-public-key1-path", PATH1),
            ])),
            Err(SignatureError::Unsigned)
        );
    }

    #[test]
    fn garbage_is_no_key() {
        assert!(parse_key(b"").is_none());
        assert!(parse_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_none());
        assert!(parse_key(&[b'a'; MAX_KEY_PEM + 1]).is_none());
    }
}
