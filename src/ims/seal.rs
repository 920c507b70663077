//! Sealing the cached token: a dump of a shared key-value store yields no
//! usable token, and an entry written under another secret or for another
//! fingerprint simply does not open.
//!
//! The sealed record also carries the [`Notes`]: what ACCS and IMS said about
//! the token, which the WASI 0.2 build (an instance per request) can only
//! remember in the store. They ride in the token's own entry because a warm
//! read there already makes that one `get`, and a second key would cost
//! every request a second one (DESIGN.md "Hot path").

use super::token::Token;
use crate::denials::Stored;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// `v2`: the key is one HMAC (`v1` was HKDF-SHA256, twice the SHA-256
/// blocks, on every request of the WASI 0.2 build); records of `v1` live
/// under `v1` names and are not read (`ims/shared.rs`).
const VERSION: &[u8; 2] = b"v2";
const NONCE_LEN: usize = 12;
/// With a 32-character fingerprint the message is one SHA-256 block.
const KEY_LABEL: &[u8] = b"accs-edge token v2\0";

/// The key for one (secret, fingerprint) pair: HMAC-SHA256 keyed with the
/// client secret over a label and the fingerprint. The secret is the IMS
/// credential's, high in entropy, so one PRF call is a sound derivation
/// (HKDF's expand step is this same HMAC under its extracted key).
pub fn derive_key(client_secret: &str, fingerprint: &str) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(client_secret.as_bytes()).expect("any key length");
    mac.update(KEY_LABEL);
    mac.update(fingerprint.as_bytes());
    mac.finalize().into_bytes().into()
}

/// What the record remembers besides the token. Hashes only, never a token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notes {
    /// Denials ACCS answered, per route (`denials.rs`).
    pub denials: Vec<Stored>,
    /// Hex SHA-256 prefixes of tokens IMS called not valid.
    pub invalid: Vec<String>,
    /// Until when (wall-clock ms) IMS is taken as down for validations: the
    /// short negative result, so repeats do not ask it again.
    pub ims_down_until: u64,
    /// The token IMS last called valid (hex SHA-256 prefix) and until when
    /// (wall-clock ms) that verdict stands.
    pub valid: Option<(String, u64)>,
}

/// The plaintext: the token's three members as before (an older build
/// reads a newer record and ignores the rest), then the notes, left out
/// when empty.
#[derive(Serialize, Deserialize)]
struct Record {
    t: String,
    e: u64,
    l: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    d: Vec<Stored>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    x: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    f: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<(String, u64)>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `v1 || nonce || ciphertext`, bound to the storage key `aad`.
pub fn seal(key: &[u8; 32], aad: &str, token: &Token, nonce: [u8; NONCE_LEN]) -> Vec<u8> {
    seal_record(key, aad, token, &Notes::default(), nonce)
}

/// [`seal`] with `notes`.
pub fn seal_record(
    key: &[u8; 32],
    aad: &str,
    token: &Token,
    notes: &Notes,
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    let record = Record {
        t: token.access_token.clone(),
        e: token.expires_at_ms,
        l: token.lifetime_ms,
        d: notes.denials.clone(),
        x: notes.invalid.clone(),
        f: notes.ims_down_until,
        v: notes.valid.clone(),
    };
    let plain = serde_json::to_vec(&record).unwrap_or_default();
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
    open_record(key, aad, value).map(|(token, _)| token)
}

/// [`open`], with the record's notes.
pub fn open_record(key: &[u8; 32], aad: &str, value: &[u8]) -> Option<(Token, Notes)> {
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
    let r: Record = serde_json::from_slice(&plain).ok()?;
    let token = Token {
        access_token: r.t,
        expires_at_ms: r.e,
        lifetime_ms: r.l,
    };
    let notes = Notes {
        denials: r.d,
        invalid: r.x,
        ims_down_until: r.f,
        valid: r.v,
    };
    Some((token, notes))
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

    /// The derivation, pinned: Python's `hmac.new(b"secret", b"accs-edge
    /// token v2\\0" + b"fp", hashlib.sha256)`. A record of the v1 format (or
    /// sealed under the v1 key) is no record of this build's.
    #[test]
    fn the_key_is_one_hmac_and_v1_records_do_not_open() {
        let key = derive_key("secret", "fp");
        assert_eq!(
            crate::config::hex(&key),
            "5bf70e781502b7f7651c7df3315d339a676f67ae347cd1116fb072055015f7ec"
        );
        let mut sealed = seal(&key, "k", &token(), [7; NONCE_LEN]);
        assert!(open(&key, "k", &sealed).is_some());
        sealed[..2].copy_from_slice(b"v1");
        assert_eq!(open(&key, "k", &sealed), None);
    }

    #[test]
    fn round_trip_and_no_plaintext() {
        let key = derive_key("secret", "fp");
        let sealed = seal(&key, "k", &token(), [7; 12]);
        assert!(!sealed.windows(5).any(|w| w == b"eyJ-t"));
        assert_eq!(open(&key, "k", &sealed), Some(token()));
    }

    #[test]
    fn notes_ride_along_sealed_and_an_empty_set_changes_nothing() {
        let key = derive_key("secret", "fp");
        // Without notes the plaintext is the token's alone, as before.
        let plain = seal(&key, "k", &token(), [7; 12]);
        let none = seal_record(&key, "k", &token(), &Notes::default(), [7; 12]);
        assert_eq!(plain, none);
        let notes = Notes {
            denials: vec![Stored {
                scope: "00112233445566778899aabbccddeeff".into(),
                until_ms: 5,
                resource: "Magento_Sales::actions_view".into(),
                token: "ffeeddccbbaa99887766554433221100".into(),
            }],
            invalid: vec!["0123456789abcdef0123456789abcdef".into()],
            ims_down_until: 9,
            valid: Some(("00ff00ff00ff00ff00ff00ff00ff00ff".into(), 7)),
        };
        let sealed = seal_record(&key, "k", &token(), &notes, [8; 12]);
        assert!(!sealed.windows(7).any(|w| w == b"Magento"), "sealed");
        assert_eq!(open_record(&key, "k", &sealed), Some((token(), notes)));
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
