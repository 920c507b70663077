//! Verification against keys this test generates, served by a fake origin:
//! what a signature needs, what is fetched, what is cached.

use super::keys::{self, Keys};
use super::signature::{self, Pair, SignatureError};
use super::verify::{VerifyError, verify};
use crate::ports::SendError;
use crate::testing::{FakePorts, respond, settings};
use futures::executor::block_on;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use std::sync::OnceLock;
use std::time::Duration;

pub const P1: &str = "/prod/keys/pub-key-11111111-1111-4111-8111-111111111111.pem";
pub const P2: &str = "/prod/keys/pub-key-22222222-2222-4222-8222-222222222222.pem";

/// Two key pairs, generated once per test binary.
fn pair(n: usize) -> &'static (RsaPrivateKey, String) {
    static KEYS: OnceLock<Vec<(RsaPrivateKey, String)>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..3)
            .map(|_| {
                let k = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
                let pem = RsaPublicKey::from(&k)
                    .to_public_key_pem(LineEnding::LF)
                    .unwrap();
                (k, pem)
            })
            .collect()
    })[n]
}

fn sign(n: usize, body: &[u8]) -> Vec<u8> {
    SigningKey::<Sha256>::new(pair(n).0.clone())
        .sign(body)
        .to_vec()
}

/// A fake origin serving key 0 at P1 and key 1 at P2.
fn origin() -> FakePorts {
    FakePorts::new(|req, _| {
        if req.url.ends_with(P1) {
            respond(200, &pair(0).1)
        } else if req.url.ends_with(P2) {
            respond(200, &pair(1).1)
        } else {
            respond(404, "")
        }
    })
}

fn run(ports: &FakePorts, pairs: &[Pair<'_>], body: &[u8]) -> Result<(), VerifyError> {
    let s = settings(&[]).unwrap();
    let keys = Keys::new(&s, ports);
    block_on(verify(&keys, pairs, body, Duration::from_secs(5)))
}

#[test]
fn either_signature_verifies_and_its_key_is_cached_once() {
    let body = br#"{"id":"1"}"#;
    let ports = origin();
    let both = [
        Pair {
            signature: sign(0, body),
            key_path: P1,
        },
        Pair {
            signature: sign(1, body),
            key_path: P2,
        },
    ];
    assert_eq!(run(&ports, &both, body), Ok(()));
    assert_eq!(ports.sent.borrow().len(), 1, "the first pair sufficed");
    assert_eq!(
        ports.sent.borrow()[0].url,
        format!("https://static.adobeioevents.com{P1}")
    );
    assert_eq!(run(&ports, &both, body), Ok(()));
    assert_eq!(ports.sent.borrow().len(), 1, "the key came from the store");

    // Only the second one good: the first is checked, the second decides.
    let ports = origin();
    let second = [
        Pair {
            signature: sign(2, body),
            key_path: P1,
        },
        Pair {
            signature: sign(1, body),
            key_path: P2,
        },
    ];
    assert_eq!(run(&ports, &second, body), Ok(()));
    assert_eq!((ports.sent_to(P1), ports.sent_to(P2)), (1, 1));
    // Key 0 verified nothing, so it was not cached; key 1 was, and cached
    // keys are tried before any fetch: nothing is fetched again.
    assert_eq!(ports.kv.borrow().len(), 1);
    assert_eq!(run(&ports, &second, body), Ok(()));
    assert_eq!((ports.sent_to(P1), ports.sent_to(P2)), (1, 1));
}

#[test]
fn a_wrong_body_or_key_is_refused_and_nothing_cached() {
    let body = br#"{"id":"1"}"#;
    let ports = origin();
    let pairs = [
        Pair {
            signature: sign(0, b"another body"),
            key_path: P1,
        },
        Pair {
            signature: sign(2, body),
            key_path: P2,
        },
    ];
    assert_eq!(
        run(&ports, &pairs, body),
        Err(VerifyError::Unauthorized(SignatureError::NoMatch))
    );
    assert!(
        ports.kv.borrow().is_empty(),
        "a key that verified nothing is never cached"
    );
    // A served text that is no key: refused, not cached.
    let junk = FakePorts::new(|_, _| {
        respond(
            200,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
    });
    let one = [Pair {
        signature: sign(0, body),
        key_path: P1,
    }];
    assert_eq!(
        run(&junk, &one, body),
        Err(VerifyError::Unauthorized(SignatureError::NoMatch))
    );
    assert!(junk.kv.borrow().is_empty());
}

#[test]
fn an_origin_that_fails_is_a_503_never_a_401() {
    let body = b"{}";
    for fail in [
        respond(500, "oops"),
        respond(429, ""),
        Err(SendError::Timeout),
    ] {
        let fail = std::cell::RefCell::new(Some(fail));
        let ports =
            FakePorts::new(move |_, _| fail.borrow_mut().take().unwrap_or(respond(500, "")));
        let one = [Pair {
            signature: sign(0, body),
            key_path: P1,
        }];
        assert!(matches!(
            run(&ports, &one, body),
            Err(VerifyError::KeyUnavailable(_))
        ));
        assert!(ports.kv.borrow().is_empty());
    }
}

#[test]
fn a_cached_key_is_trusted_only_authentic_and_under_a_day() {
    let body = b"{}";
    let ports = origin();
    let one = [Pair {
        signature: sign(0, body),
        key_path: P1,
    }];
    assert_eq!(run(&ports, &one, body), Ok(()));
    assert_eq!(ports.sent_to(P1), 1);
    ports.advance(keys::MAX_AGE_MS - 1_000);
    assert_eq!(run(&ports, &one, body), Ok(()));
    assert_eq!(ports.sent_to(P1), 1, "still fresh");
    ports.advance(2_000);
    assert_eq!(run(&ports, &one, body), Ok(()));
    assert_eq!(ports.sent_to(P1), 2, "over 24 h: fetched again");

    // A key planted by someone who can write the store but lacks the MAC
    // key: not trusted, so the planted key's signature does not verify.
    let s = settings(&[]).unwrap();
    let ports = FakePorts::new(|_, _| respond(404, ""));
    let name = Keys::new(&s, &ports).name(P1);
    let planted = format!(
        "{}\n{}\n{}",
        ports.now.get(),
        pair(2).1.trim(),
        "00".repeat(32)
    );
    ports.kv.borrow_mut().insert(name, planted.into_bytes());
    let forged = [Pair {
        signature: sign(2, body),
        key_path: P1,
    }];
    assert_eq!(
        run(&ports, &forged, body),
        Err(VerifyError::Unauthorized(SignatureError::NoMatch))
    );
}

#[test]
fn keys_of_other_sizes_are_refused() {
    let small = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    let pem = RsaPublicKey::from(&small)
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    assert!(signature::parse_key(pem.as_bytes()).is_none());
    assert!(signature::parse_key(pair(0).1.as_bytes()).is_some());
}

#[test]
fn an_origin_without_the_key_makes_the_signature_bad_not_a_503() {
    let body = b"{}";
    for status in [404, 403] {
        let ports = FakePorts::new(move |_, _| respond(status, ""));
        let one = [Pair {
            signature: sign(0, body),
            key_path: P1,
        }];
        assert_eq!(
            run(&ports, &one, body),
            Err(VerifyError::Unauthorized(SignatureError::NoMatch)),
            "{status}"
        );
        assert!(ports.kv.borrow().is_empty());
    }
}
