//! Permission denials ACCS answered, remembered for a short time: in memory
//! (the WASI 0.3 builds keep an instance for many requests) and, through
//! [`crate::ims::Tokens`], in the sealed token record in the store (the
//! default WASI 0.2 build has an instance per request, so only the store
//! remembers anything there).
//!
//! Magento answers 401 "The consumer isn't authorized to access %resources."
//! both for a token it does not know and for a token whose integration role
//! lacks the resource of one route (`Magento\Webapi\Controller\Rest\RequestValidator`
//! checks `AuthorizationInterface::isAllowed` for the route's ACL resources and
//! throws `AuthorizationException` with `['resources' => ...]`, which
//! `Magento\Framework\Webapi\ErrorProcessor` maps to HTTP 401). The body cannot
//! tell them apart and neither can the token's age: IMS can
//! (`ims/validate.rs`). A denial is recorded only once IMS called the token
//! valid, so it also stands as that verdict for this token on this scope:
//! a later 401 to the same token there is the role again, without asking.
//!
//! A scope is one deployment's ACCS operation (`Ctx::scope`):
//! `accs_base_url`, because the record is keyed by the IMS credential,
//! which deployments of two tenants on one store may share; then the method
//! and Magento's path template of the call (`accs/operation.rs`), or the
//! passthrough's allow rule. Only its digest is kept.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;

/// How long a denial answers repeats without asking ACCS again.
pub const REMEMBER_MS: u64 = 30_000;
/// At most this many scopes are remembered in memory; the oldest go first.
const MAX_SCOPES: usize = 256;
/// At most this many ride in the sealed record: it is read on every request
/// of the WASI 0.2 build, so it stays small.
const MAX_STORED: usize = 32;

#[derive(Clone, Debug)]
struct Denial {
    until_ms: u64,
    resource: String,
    /// Which token ACCS refused (and IMS called valid).
    token: [u8; 16],
}

/// A denial as the sealed record keeps it: digests in hex, never a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    #[serde(rename = "s")]
    pub scope: String,
    #[serde(rename = "u")]
    pub until_ms: u64,
    #[serde(rename = "r")]
    pub resource: String,
    #[serde(rename = "k")]
    pub token: String,
}

/// Denials by the SHA-256 prefix of their scope.
#[derive(Default)]
pub struct Denials {
    by_scope: RefCell<HashMap<[u8; 16], Denial>>,
}

impl Denials {
    /// No denial remembered: the common case, checked without a scope.
    pub fn is_empty(&self) -> bool {
        self.by_scope.borrow().is_empty()
    }

    /// The resource ACCS named, while the denial of `scope` is remembered.
    pub fn active(&self, scope: &str, now_ms: u64) -> Option<String> {
        self.by_scope
            .borrow()
            .get(&digest(scope))
            .filter(|d| d.until_ms > now_ms)
            .map(|d| d.resource.clone())
    }

    /// Whether ACCS already refused `token` on `scope` while IMS held it
    /// valid (remembered or not).
    pub fn refused(&self, scope: &str, token: &str) -> bool {
        self.by_scope
            .borrow()
            .get(&digest(scope))
            .is_some_and(|d| d.token == digest(token))
    }

    pub fn remember(&self, scope: &str, resource: &str, token: &str, now_ms: u64) {
        self.insert(
            digest(scope),
            Denial {
                until_ms: now_ms.saturating_add(REMEMBER_MS),
                resource: resource.to_owned(),
                token: digest(token),
            },
        );
    }

    fn insert(&self, scope: [u8; 16], denial: Denial) {
        let mut map = self.by_scope.borrow_mut();
        if map.len() >= MAX_SCOPES && !map.contains_key(&scope) {
            let oldest = map.iter().min_by_key(|(_, d)| d.until_ms).map(|(k, _)| *k);
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(scope, denial);
    }

    /// The denials for the sealed record: at most [`MAX_STORED`], those
    /// remembered longest. Picked without sorting: a sort's code costs about
    /// 20 KB of every `.wasm`, for at most 256 entries.
    pub fn export(&self) -> Vec<Stored> {
        let map = self.by_scope.borrow();
        let mut list: Vec<(&[u8; 16], &Denial)> = map.iter().collect();
        while list.len() > MAX_STORED {
            let oldest = list
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, d))| d.until_ms)
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                list.swap_remove(i);
            }
        }
        list.into_iter()
            .map(|(scope, d)| Stored {
                scope: crate::config::hex(scope),
                until_ms: d.until_ms,
                resource: d.resource.clone(),
                token: crate::config::hex(&d.token),
            })
            .collect()
    }

    /// Takes in what a record carried; of two denials of one scope the one
    /// remembered longer wins. Malformed entries are skipped.
    pub fn absorb(&self, stored: &[Stored]) {
        for s in stored {
            let (Some(scope), Some(token)) = (unhex(&s.scope), unhex(&s.token)) else {
                continue;
            };
            if s.resource.len() > 200 {
                continue;
            }
            let newer = self
                .by_scope
                .borrow()
                .get(&scope)
                .is_none_or(|d| d.until_ms < s.until_ms);
            if newer {
                self.insert(
                    scope,
                    Denial {
                        until_ms: s.until_ms,
                        resource: s.resource.clone(),
                        token,
                    },
                );
            }
        }
    }
}

/// The first 16 bytes of SHA-256: what keys and records name a scope or a
/// token by.
pub fn digest(text: &str) -> [u8; 16] {
    let d = Sha256::digest(text.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// 32 lower-case hex digits back into 16 bytes.
pub fn unhex(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// What a 401 means, given what is known of the token that got it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The role lacks the resource (or the token can do nothing at all, when
    /// ACCS did not answer Magento's ACL message): keep the token, no retry.
    Permission,
    /// The token may be stale: renew it once and try once more.
    Token,
}

/// The age rule, which now only says when to ask IMS: `Permission` means
/// "ask IMS first" (`Ctx::call`). `repaired`: this call already renewed its
/// token for a 401. `young`: the token was issued seconds ago.
/// `refused_before`: ACCS already refused this very token on this scope.
pub fn classify(repaired: bool, young: bool, refused_before: bool) -> Refusal {
    if repaired || young || refused_before {
        Refusal::Permission
    } else {
        Refusal::Token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_is_remembered_for_thirty_seconds_per_scope() {
        let d = Denials::default();
        assert_eq!(d.active("GET /v1/orders/{id}", 0), None);
        d.remember(
            "GET /v1/orders/{id}",
            "Magento_Sales::actions_view",
            "tok",
            1_000,
        );
        assert_eq!(
            d.active("GET /v1/orders/{id}", 30_999).as_deref(),
            Some("Magento_Sales::actions_view")
        );
        assert_eq!(d.active("GET /v1/orders/{id}", 31_000), None);
        assert_eq!(d.active("GET /v1/orders", 1_000), None, "per scope");
        assert!(
            d.refused("GET /v1/orders/{id}", "tok"),
            "the token stays known"
        );
        assert!(!d.refused("GET /v1/orders/{id}", "other"));
        assert!(!d.refused("GET /v1/orders", "tok"));
    }

    #[test]
    fn the_memory_is_bounded() {
        let d = Denials::default();
        for i in 0..(MAX_SCOPES as u64 + 10) {
            d.remember(&format!("GET /V1/x/{i}"), "r", "t", i);
        }
        assert_eq!(d.by_scope.borrow().len(), MAX_SCOPES);
        let stored = d.export();
        assert_eq!(stored.len(), MAX_STORED, "the record stays small");
        let newest = MAX_SCOPES as u64 + 9;
        assert!(
            stored
                .iter()
                .all(|s| s.until_ms > newest - MAX_STORED as u64 + REMEMBER_MS - 1),
            "the latest ones"
        );
        assert!(
            d.active("GET /V1/x/0", 1).is_none(),
            "the oldest went first"
        );
        assert!(
            d.active(&format!("GET /V1/x/{}", MAX_SCOPES + 9), 1)
                .is_some()
        );
    }

    #[test]
    fn denials_travel_through_the_record_and_the_longer_one_wins() {
        let a = Denials::default();
        a.remember(
            "GET /v1/orders/{id}",
            "Magento_Sales::actions_view",
            "tok",
            1_000,
        );
        let stored = a.export();
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].token.contains("tok") && stored[0].token.len() == 32);
        let b = Denials::default();
        b.absorb(&stored);
        assert_eq!(
            b.active("GET /v1/orders/{id}", 2_000).as_deref(),
            Some("Magento_Sales::actions_view")
        );
        assert!(b.refused("GET /v1/orders/{id}", "tok"));
        // An older copy does not shorten a newer one.
        b.remember(
            "GET /v1/orders/{id}",
            "Magento_Sales::actions_view",
            "tok",
            20_000,
        );
        b.absorb(&stored);
        assert!(b.active("GET /v1/orders/{id}", 40_000).is_some());
        // Garbage from a store is skipped.
        b.absorb(&[Stored {
            scope: "zz".into(),
            until_ms: u64::MAX,
            resource: "r".into(),
            token: "t".into(),
        }]);
        assert_eq!(b.by_scope.borrow().len(), 1);
    }

    #[test]
    fn only_an_old_token_refused_for_the_first_time_is_renewed() {
        assert_eq!(classify(false, false, false), Refusal::Token);
        for (repaired, young, before) in [
            (true, false, false),
            (false, true, false),
            (false, false, true),
            (true, true, true),
        ] {
            assert_eq!(classify(repaired, young, before), Refusal::Permission);
        }
    }
}
