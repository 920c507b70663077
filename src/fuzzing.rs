//! The parsers of untrusted bytes, as the fuzz targets under `fuzz/` drive
//! them. `tests/fuzz_corpus.rs` replays every committed corpus and crash
//! input through these same functions, so a fuzz finding stays fixed.
//!
//! Each entry takes arbitrary bytes and must not panic; where a property
//! holds for every input (a correctly signed delivery verifies, a sealed
//! token opens to itself, a checked passthrough path has only safe segments)
//! it is asserted too, so a wrong answer is a finding like a crash.

use crate::accs::retry_after;
use crate::config::AllowRule;
use crate::ims::seal;
use crate::ims::token::Token;
use crate::routes::passthrough;
use crate::routes::search;
use crate::webhook::signature;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A fuzz entry: arbitrary bytes in, a panic on a finding.
pub type Entry = fn(&[u8]);

/// Every target: its name (the directory under `fuzz/corpus/`) and entry.
pub const TARGETS: &[(&str, Entry)] = &[
    ("webhook_signature", webhook_signature),
    ("retry_after", retry_after),
    ("search_criteria", search_criteria),
    ("passthrough_path", passthrough_path),
    ("seal_open", seal_open),
];

/// The Standard Webhooks example secret (scripts/dev's).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Fields separated by NUL bytes; missing ones are `None`.
fn fields(data: &[u8], n: usize) -> Vec<Option<&str>> {
    let mut parts = data.splitn(n, |b| *b == 0);
    (0..n)
        .map(|_| parts.next().and_then(|p| std::str::from_utf8(p).ok()))
        .collect()
}

/// `webhook-id \0 webhook-timestamp \0 webhook-signature \0 body`.
pub fn webhook_signature(data: &[u8]) {
    let f = fields(data, 4);
    let (id, ts, sig) = (f[0], f[1], f[2]);
    let body = data.splitn(4, |b| *b == 0).nth(3).unwrap_or_default();
    let key = signature::key(SECRET).expect("the example secret decodes");
    let secrets = [key.clone()];
    let _ = signature::verify(id, ts, sig, body, &secrets, 1_614_265_330);
    // At the timestamp's own time, the HMAC comparison is reached too.
    let now = ts.and_then(|t| t.parse::<i64>().ok());
    if let Some(now) = now {
        let _ = signature::verify(id, ts, sig, body, &secrets, now);
    }
    // A delivery signed with the secret verifies whenever its headers are sane.
    if let (Some(id), Some(ts), Some(now)) = (id, ts, now) {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        let good = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        let sane = !id.is_empty()
            && id.len() <= 256
            && id.bytes().all(|b| b.is_ascii_graphic())
            && !ts.is_empty()
            && ts.len() <= 12
            && ts.bytes().all(|b| b.is_ascii_digit());
        let with_noise = format!("{} {good}", sig.unwrap_or_default());
        for header in [good.as_str(), with_noise.as_str()] {
            let r = signature::verify(Some(id), Some(ts), Some(header), body, &secrets, now);
            if sane && with_noise.len() <= 4096 {
                assert_eq!(r, Ok(id), "a correctly signed delivery must verify");
            }
        }
    }
}

/// An upstream `Retry-After` value, with a clock from the first 8 bytes.
pub fn retry_after(data: &[u8]) {
    let (now, value) = match data.split_first_chunk::<8>() {
        Some((now, rest)) => (u64::from_le_bytes(*now), rest),
        None => (0, data),
    };
    let Ok(value) = std::str::from_utf8(value) else {
        return;
    };
    let wait = retry_after::parse(value, now);
    if let Some(wait) = wait {
        let s = retry_after::caller_seconds(wait);
        assert!(
            (1..=86_400).contains(&s),
            "caller seconds out of range: {s}"
        );
    }
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        assert!(wait.is_some(), "delay-seconds must parse: {v:?}");
    }
}

/// A raw query string for `/v1/products`; also a date for the `*_since` filters.
pub fn search_criteria(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let _ = search::magento_datetime(query);
    let Ok(out) = search::search_criteria(Some(query), crate::routes::products::FILTERS) else {
        return;
    };
    // What goes upstream is well-formed: every key is searchCriteria[...],
    // no value holds a control character, and paging is set exactly once.
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(out.as_bytes())
        .into_owned()
        .collect();
    for (k, v) in &pairs {
        assert!(k.starts_with("searchCriteria["), "{k}");
        assert!(!v.chars().any(char::is_control), "{k}={v:?}");
    }
    for paging in ["searchCriteria[pageSize]", "searchCriteria[currentPage]"] {
        assert_eq!(
            pairs.iter().filter(|(k, _)| k == paging).count(),
            1,
            "{out}"
        );
    }
}

/// The raw path after `/v1/accs`, matched against a fixed allow-list.
pub fn passthrough_path(data: &[u8]) {
    let Ok(rest) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(segments) = passthrough::safe_segments(rest) else {
        return;
    };
    for s in &segments {
        let decoded = percent_encoding::percent_decode_str(s).decode_utf8_lossy();
        assert!(!s.is_empty(), "{rest}");
        assert!(!s.contains('/'), "{rest}");
        assert!(decoded != "." && decoded != "..", "{rest}");
        assert!(
            !decoded
                .chars()
                .any(|c| c.is_control() || "/\\@%".contains(c)),
            "{rest}: {decoded:?}"
        );
    }
    let rules = [
        AllowRule {
            method: "GET".into(),
            segments: vec!["V1".into(), "categories".into(), "*".into()],
        },
        AllowRule {
            method: "POST".into(),
            segments: vec!["V1".into(), "carts".into(), "**".into()],
        },
    ];
    if passthrough::allowed(&rules, "GET", &segments).is_some() {
        assert!(segments.len() == 3 && segments[..2] == ["V1", "categories"]);
    }
    if passthrough::allowed(&rules, "POST", &segments).is_some() {
        assert!(segments.len() >= 3 && segments[..2] == ["V1", "carts"]);
    }
}

/// A stored token cache value; and a token built from the bytes, sealed and
/// opened again.
pub fn seal_open(data: &[u8]) {
    let key = seal::derive_key("sim-secret-0123456789abcdef", "fingerprint");
    let aad = "accs-edge/ims-token/v2/fingerprint";
    let _ = seal::open(&key, aad, data);
    let token = Token {
        access_token: String::from_utf8_lossy(data).into_owned(),
        expires_at_ms: data.len() as u64,
        lifetime_ms: data.iter().map(|b| u64::from(*b)).sum(),
    };
    let mut nonce = [0u8; 12];
    for (n, b) in nonce.iter_mut().zip(data) {
        *n = *b;
    }
    let sealed = seal::seal(&key, aad, &token, nonce);
    assert_eq!(seal::open(&key, aad, &sealed), Some(token));
    assert_eq!(seal::open(&key, "another key", &sealed), None);
}
