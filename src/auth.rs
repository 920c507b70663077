//! Inbound authentication: API keys from `api_keys`, in the
//! `Authorization` header, or, on the job routes alone and for entries
//! marked `+query` alone, in the query's `key` parameter.

use crate::config::ApiKey;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The entry of the key the caller presented, if it is one of ours.
///
/// Keys are compared as SHA-256 digests, every configured key is compared
/// (no early exit), so the time taken says nothing about how close a guess was.
pub fn api_key<'a>(authorization: Option<&str>, keys: &'a [ApiKey]) -> Option<&'a ApiKey> {
    api_key_once(authorization, keys, &std::cell::OnceCell::new())
}

/// [`api_key`], the presented key's digest kept in `digest` (the request's
/// own: `InRequest::key_digest`), so a request authorized twice (its head,
/// then itself) hashes its key once.
pub fn api_key_once<'a>(
    authorization: Option<&str>,
    keys: &'a [ApiKey],
    digest: &std::cell::OnceCell<[u8; 32]>,
) -> Option<&'a ApiKey> {
    let presented = bearer(authorization?)?;
    let digest = digest.get_or_init(|| Sha256::digest(presented.as_bytes()).into());
    let mut found = None;
    for key in keys {
        if bool::from(key.digest.ct_eq(digest)) {
            found = Some(key);
        }
    }
    found
}

/// The entry of the key in `query`'s one `key=` parameter, if it is one of
/// ours **and** its entry is marked for the query (`+query`, which holds
/// `jobs.run` alone): the caller (routes) asks only on the job routes.
///
/// The same comparison as [`api_key`]: SHA-256 digests, every entry
/// compared, no early exit; an unmarked entry's key matches nothing here,
/// so a header key copied into a URL opens nothing. A query with no `key`,
/// two of them, or a value that does not percent-decode to visible ASCII is
/// no key at all.
pub fn query_key<'a>(query: Option<&str>, keys: &'a [ApiKey]) -> Option<&'a ApiKey> {
    let presented = query_param(query?, "key")?;
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found = None;
    for key in keys {
        if bool::from(key.digest.ct_eq(&digest)) {
            found = Some(key);
        }
    }
    found.filter(|k| k.query)
}

/// The one value of `name` in `query` (`a=1&key=...`), percent-decoded;
/// `None` when it is absent, repeated, empty or not visible ASCII once
/// decoded. `+` stays `+` (RFC 3986 queries, not HTML forms).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    let mut values = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v);
    let raw = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    (!out.is_empty() && out.iter().all(u8::is_ascii_graphic))
        .then(|| String::from_utf8(out).ok())
        .flatten()
}

/// Whether `query` carries a `key` parameter at all (the routes refuse it
/// outside the job routes, so a key in a URL is never silently ignored).
pub fn has_query_key(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|p| p == "key" || p.starts_with("key=")))
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
                query: false,
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

    fn marked() -> Vec<ApiKey> {
        let mut k = keys();
        k[1].query = true;
        k[1].scopes = crate::scopes::Scopes::parse("jobs.run").unwrap();
        k
    }

    #[test]
    fn a_query_key_opens_only_a_marked_entry() {
        let k = marked();
        let q = "key=pim-0123456789abcdef0123456789abcdef";
        assert_eq!(query_key(Some(q), &k).map(|k| k.name.as_str()), Some("pim"));
        // Percent-encoded, among other parameters.
        let q = "x=1&key=pim%2D0123456789abcdef0123456789abcdef&y";
        assert_eq!(query_key(Some(q), &k).map(|k| k.name.as_str()), Some("pim"));
        // `erp` is a good key, but not marked for the query.
        let q = "key=erp-0123456789abcdef0123456789abcdef";
        assert!(query_key(Some(q), &k).is_none());
        for q in [
            None,
            Some(""),
            Some("key="),
            Some("key"),
            Some("Key=pim-0123456789abcdef0123456789abcdef"),
            Some(
                "key=pim-0123456789abcdef0123456789abcdef&key=pim-0123456789abcdef0123456789abcdef",
            ),
            Some("key=pim-0123456789abcdef0123456789abcde"),
            Some("key=pim-0123456789abcdef0123456789abcdef%"),
            Some("key=pim-0123456789abcdef0123456789abcdef%2"),
            Some("key=pim-0123456789abcdef0123456789abcdef%20"),
            Some("key=pim-0123456789abcdef0123456789abcdef+"),
        ] {
            assert!(query_key(q, &k).is_none(), "{q:?}");
        }
        assert!(has_query_key(Some("a=1&key=x")) && has_query_key(Some("key")));
        assert!(!has_query_key(Some("keys=1&monkey=2")) && !has_query_key(None));
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
