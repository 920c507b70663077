//! Inbound authentication: API keys from `api_keys`.

use crate::config::ApiKey;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The entry of the key the caller presented, if it is one of ours.
///
/// Keys are compared as SHA-256 digests, every configured key is compared
/// (no early exit), so the time taken says nothing about how close a guess was.
pub fn api_key<'a>(authorization: Option<&str>, keys: &'a [ApiKey]) -> Option<&'a ApiKey> {
    let presented = bearer(authorization?)?;
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found = None;
    for key in keys {
        if bool::from(key.digest.ct_eq(&digest)) {
            found = Some(key);
        }
    }
    found
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<ApiKey> {
        ["erp", "pim"]
            .iter()
            .map(|n| ApiKey {
                name: n.to_string(),
                digest: Sha256::digest(format!("{n}-0123456789abcdef0123456789abcdef")).into(),
                scopes: crate::scopes::Scopes::all(),
                scoped: false,
            })
            .collect()
    }

    #[test]
    fn matching_key_names_its_owner() {
        let k = keys();
        let h = "Bearer pim-0123456789abcdef0123456789abcdef";
        assert_eq!(api_key(Some(h), &k).map(|k| k.name.as_str()), Some("pim"));
        let h = "bearer   erp-0123456789abcdef0123456789abcdef ";
        assert_eq!(api_key(Some(h), &k).map(|k| k.name.as_str()), Some("erp"));
    }

    #[test]
    fn anything_else_is_refused() {
        let k = keys();
        for h in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic erp-0123456789abcdef0123456789abcdef"),
            Some("erp-0123456789abcdef0123456789abcdef"),
            Some("Bearer erp-0123456789abcdef0123456789abcde"),
            Some("Bearer erp-0123456789abcdef0123456789abcdefX"),
        ] {
            assert!(api_key(h, &k).is_none(), "{h:?}");
        }
    }
}
