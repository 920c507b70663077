//! Sealing the cached token: a dump of a shared key-value store yields no
//! usable token, and an entry written under another secret or for another
//! fingerprint simply does not open.

use super::token::Token;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

const VERSION: &[u8; 2] = b"v1";
const NONCE_LEN: usize = 12;

/// The key for one (secret, fingerprint) pair.
pub fn derive_key(client_secret: &str, fingerprint: &str) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(b"accs-edge/token-cache/v1"), client_secret.as_bytes());
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit, so this cannot fail.
    hk.expand(fingerprint.as_bytes(), &mut key)
        .expect("32-byte HKDF output");
    key
}

/// `v1 || nonce || ciphertext`, bound to the storage key `aad`.
pub fn seal(key: &[u8; 32], aad: &str, token: &Token, nonce: [u8; NONCE_LEN]) -> Vec<u8> {
    let plain = serde_json::to_vec(token).unwrap_or_default();
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: aad.as_bytes(),
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(VERSION.len() + NONCE_LEN + sealed.len());
    out.extend_from_slice(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// `None` for anything that is not ours: truncated, tampered, foreign.
pub fn open(key: &[u8; 32], aad: &str, value: &[u8]) -> Option<Token> {
    let rest = value.strip_prefix(VERSION.as_slice())?;
    if rest.len() < NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let plain = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: aad.as_bytes(),
            },
        )
        .ok()?;
    serde_json::from_slice(&plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token {
            access_token: "eyJ-the-token".into(),
            expires_at_ms: 123_456_789,
            lifetime_ms: 86_399_000,
        }
    }

    #[test]
    fn round_trip_and_no_plaintext() {
        let key = derive_key("secret", "fp");
        let sealed = seal(&key, "k", &token(), [7; 12]);
        assert!(!sealed.windows(5).any(|w| w == b"eyJ-t"));
        assert_eq!(open(&key, "k", &sealed), Some(token()));
    }

    #[test]
    fn other_secret_fingerprint_or_key_does_not_open() {
        let key = derive_key("secret", "fp");
        let sealed = seal(&key, "k", &token(), [7; 12]);
        assert_eq!(open(&derive_key("rotated", "fp"), "k", &sealed), None);
        assert_eq!(open(&derive_key("secret", "fp2"), "k", &sealed), None);
        assert_eq!(open(&key, "other-key", &sealed), None);
    }

    #[test]
    fn truncated_tampered_or_foreign_values_are_misses() {
        let key = derive_key("secret", "fp");
        let sealed = seal(&key, "k", &token(), [7; 12]);
        for n in 0..sealed.len() {
            assert_eq!(open(&key, "k", &sealed[..n]), None, "truncated to {n}");
        }
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&key, "k", &tampered), None);
        assert_eq!(open(&key, "k", br#"{"t":"plain","e":1,"l":1}"#), None);
        assert_eq!(open(&key, "k", b""), None);
    }
}
