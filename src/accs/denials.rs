//! Permission denials ACCS answered, remembered per instance for a short time.
//!
//! Magento answers 401 "The consumer isn't authorized to access %resources."
//! both for a token it does not know and for a token whose integration role
//! lacks the resource of one route (`Magento\Webapi\Controller\Rest\RequestValidator`
//! checks `AuthorizationInterface::isAllowed` for the route's ACL resources and
//! throws `AuthorizationException` with `['resources' => ...]`, which
//! `Magento\Framework\Webapi\ErrorProcessor` maps to HTTP 401). The body cannot
//! tell them apart, the token's history can: a 401 to a token that is seconds
//! old, that was just renewed for a 401, or that was already refused on this
//! route, is about the role. Such a denial is answered 403 `accs_forbidden`
//! and remembered here, so repeats cost neither ACCS nor IMS a call.

use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;

/// How long a denial answers repeats without asking ACCS again.
pub const REMEMBER_MS: u64 = 30_000;
/// At most this many scopes are remembered; the oldest go first.
const MAX_SCOPES: usize = 256;

#[derive(Clone, Debug)]
struct Denial {
    until_ms: u64,
    resource: String,
    /// Which token ACCS refused: a 401 to the same token on the same scope
    /// after the memory expired is again the role, never worth a new token.
    token: [u8; 16],
}

#[derive(Default)]
pub struct Denials {
    by_scope: RefCell<HashMap<String, Denial>>,
}

impl Denials {
    /// The resource ACCS named, while the denial of `scope` is remembered.
    /// No denial remembered: the common case, checked without a scope.
    pub fn is_empty(&self) -> bool {
        self.by_scope.borrow().is_empty()
    }

    pub fn active(&self, scope: &str, now_ms: u64) -> Option<String> {
        self.by_scope
            .borrow()
            .get(scope)
            .filter(|d| d.until_ms > now_ms)
            .map(|d| d.resource.clone())
    }

    /// Whether ACCS already refused `token` on `scope` (remembered or not).
    pub fn refused(&self, scope: &str, token: &str) -> bool {
        self.by_scope
            .borrow()
            .get(scope)
            .is_some_and(|d| d.token == digest(token))
    }

    pub fn remember(&self, scope: &str, resource: &str, token: &str, now_ms: u64) {
        let mut map = self.by_scope.borrow_mut();
        if map.len() >= MAX_SCOPES && !map.contains_key(scope) {
            let oldest = map
                .iter()
                .min_by_key(|(_, d)| d.until_ms)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(
            scope.to_owned(),
            Denial {
                until_ms: now_ms.saturating_add(REMEMBER_MS),
                resource: resource.to_owned(),
                token: digest(token),
            },
        );
    }
}

fn digest(token: &str) -> [u8; 16] {
    let d = Sha256::digest(token.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
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

/// `repaired`: this call already renewed its token for a 401. `young`: the
/// token was issued seconds ago. `refused_before`: ACCS already refused this
/// very token on this scope.
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
