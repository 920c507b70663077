//! Magento's Web API input limits (Stores > Configuration > Services > Web API
//! Input Limits; `webapi/validation/input_limit_enabled`, `complex_array_limit`,
//! `maximum_page_size`), read from ACCS's refusals and remembered for the
//! deployment, so a limit is learned once instead of bisected per request.
//!
//! With the limits on, a list longer than the limit is refused whole with 400
//! `Maximum items of type "%type" is %max`, parameters `{"type", "max"}`
//! (`Magento\Framework\Webapi\Validator\EntityArrayValidator::validateComplexArrayType`),
//! and a `pageSize` over the maximum with 400 `Maximum SearchCriteria pageSize
//! is %max`, parameters `{"max"}`
//! (`Magento\Framework\Webapi\Validator\SearchCriteriaValidator::validateEntityValue`).
//! Defaults when enabled: 20 items for synchronous routes, 5,000 for
//! asynchronous ones, page size at most 300 (magento/devdocs
//! `src/guides/v2.4/get-started/api-security.md`, "Input limiting").

use super::Ctx;
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use serde_json::Value;

/// How long a learned limit is trusted: an admin who raises it waits at
/// most this long before requests use the larger chunks again.
pub const LEARNED_FOR_MS: u64 = 60 * 60 * 1000;

/// Magento's documented maximum page size with the limits on: the edge
/// refuses more before sending anything.
pub const MAX_PAGE_SIZE: usize = 300;

/// Larger claims are not taken as a limit (no route sends that many).
const MOST: usize = 1_000_000;

/// Which list a learned limit bounds: each has its own route setting in
/// Magento (`input-array-size-limit`, synchronous and asynchronous defaults
/// differ), so each is learned on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `POST /V1/inventory/source-items`'s `sourceItems`.
    SourceItems,
    /// `POST /V1/async/bulk/products`'s entities.
    BulkProducts,
    /// `searchCriteria[pageSize]` of a search.
    PageSize,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::SourceItems => "source-items",
            Kind::BulkProducts => "bulk-products",
            Kind::PageSize => "page-size",
        }
    }
}

/// The `max` of ACCS's "Maximum items of type" refusal (a 400 `accs_error`),
/// from `parameters.max`, a positional parameter, or the rendered message;
/// `None` for any other answer or a `max` that is not a whole number from 1
/// to a million.
pub fn list_limit(p: &Problem) -> Option<usize> {
    limit_of(p, "Maximum items of type")
}

/// The `max` of ACCS's "Maximum SearchCriteria pageSize is" refusal.
pub fn page_size_limit(p: &Problem) -> Option<usize> {
    limit_of(p, "Maximum SearchCriteria pageSize")
}

fn limit_of(p: &Problem, prefix: &str) -> Option<usize> {
    if p.code != Code::AccsError || p.status != 400 {
        return None;
    }
    let upstream = p.upstream.as_deref()?;
    let message = upstream.get("message")?.as_str()?;
    if !message.trim_start().starts_with(prefix) {
        return None;
    }
    let from_parameters = match upstream.get("parameters") {
        Some(Value::Object(named)) => named.get("max").and_then(whole),
        // `%1`, `%2` style: the limit is the last one.
        Some(Value::Array(list)) => list.last().and_then(whole),
        _ => None,
    };
    from_parameters
        .or_else(|| whole(&Value::String(trailing_digits(message)?.to_owned())))
        .filter(|n| (1..=MOST).contains(n))
}

/// A whole number, as JSON writes it or as a string of digits.
fn whole(v: &Value) -> Option<usize> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 7 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        }
        _ => None,
    }
}

/// The digits a rendered message ends with (`... is 20`, `... is 20.`).
fn trailing_digits(message: &str) -> Option<&str> {
    let m = message.trim_end().trim_end_matches('.');
    let start = m.len() - m.bytes().rev().take_while(u8::is_ascii_digit).count();
    (start < m.len()).then(|| &m[start..])
}

/// The key of `kind`'s limit for this deployment: bound to `accs_base_url`
/// (its digest, not the URL), so two deployments on one store keep their own.
fn key<P>(ctx: &Ctx<'_, P>, kind: Kind) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(ctx.settings.accs_base_url.as_str().as_bytes());
    let hex = crate::config::hex(&digest[..16]);
    format!("accs-edge/input-limit/v1/{}/{hex}", kind.name())
}

/// The limit learned for `kind` under [`LEARNED_FOR_MS`] ago, if any: one
/// `get`. A store that fails or holds anything unreadable is a miss.
pub async fn learned<P: Ports>(ctx: &Ctx<'_, P>, kind: Kind) -> Option<usize> {
    let bytes = ctx.ports.kv_get(&key(ctx, kind)).await.ok()??;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (max, until) = text.split_once(' ')?;
    let until: u64 = until.parse().ok()?;
    let max = whole(&Value::String(max.to_owned()))?;
    // Never trusted past the hour from now, whatever the store holds.
    let now = ctx.clock.get();
    let fresh = until > now && until <= now.saturating_add(LEARNED_FOR_MS);
    (fresh && (1..=MOST).contains(&max)).then_some(max)
}

/// Remembers `max` for `kind` for [`LEARNED_FOR_MS`]: one `set`, made only
/// when a refusal taught a limit; a store that fails is ignored (the next
/// request learns it again, at the cost of one refused call).
pub async fn learn<P: Ports>(ctx: &Ctx<'_, P>, kind: Kind, max: usize) {
    let until = ctx.clock.get().saturating_add(LEARNED_FOR_MS);
    let value = format!("{max} {until}").into_bytes();
    let _ = ctx.ports.kv_set(&key(ctx, kind), value).await;
}

/// For the routes' tests.
#[cfg(test)]
pub(crate) use tests::count_ops;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Counts the store's gets and sets of learned input limits (tests).
    pub(crate) fn count_ops(
        ports: &crate::testing::FakePorts,
    ) -> std::rc::Rc<std::cell::RefCell<(usize, usize)>> {
        use crate::testing::KvOp;
        let ops: std::rc::Rc<std::cell::RefCell<(usize, usize)>> = std::rc::Rc::default();
        let seen = ops.clone();
        *ports.kv_fault.borrow_mut() = Some(Box::new(move |op, key, _| {
            if key.contains("/input-limit/") {
                let mut s = seen.borrow_mut();
                match op {
                    KvOp::Get => s.0 += 1,
                    KvOp::Set => s.1 += 1,
                    _ => {}
                }
            }
            false
        }));
        ops
    }

    fn refusal(status: u16, upstream: Value) -> Problem {
        Problem::new(Code::AccsError, "ACCS answered 400")
            .with_status(status)
            .with_upstream(upstream)
    }

    #[test]
    fn the_limit_is_read_from_every_shape_magento_may_answer() {
        let m = "Maximum items of type \"%type\" is %max";
        for (upstream, want) in [
            (
                json!({"message": m, "parameters": {"type": "X", "max": 20}}),
                Some(20),
            ),
            (
                json!({"message": m, "parameters": {"type": "X", "max": "100"}}),
                Some(100),
            ),
            (
                json!({"message": "Maximum items of type \"%1\" is %2", "parameters": ["product", "100"]}),
                Some(100),
            ),
            (
                json!({"message": "Maximum items of type \"X\" is 7."}),
                Some(7),
            ),
            (json!({"message": m, "parameters": {"max": 0}}), None),
            (json!({"message": m, "parameters": {"max": -3}}), None),
            (json!({"message": m, "parameters": {"max": 2.5}}), None),
            (
                json!({"message": m, "parameters": {"max": "99999999999999999999"}}),
                None,
            ),
            (json!({"message": m, "parameters": {"max": null}}), None),
            (json!({"message": m}), None),
            (json!({"message": "Could not save Source Item"}), None),
            (json!({"message": 20}), None),
        ] {
            assert_eq!(
                list_limit(&refusal(400, upstream.clone())),
                want,
                "{upstream}"
            );
        }
        let wrong_status = refusal(413, json!({"message": m, "parameters": {"max": 20}}));
        assert_eq!(list_limit(&wrong_status), None);
        let page = json!({"message": "Maximum SearchCriteria pageSize is %max", "parameters": {"max": 300}});
        assert_eq!(page_size_limit(&refusal(400, page.clone())), Some(300));
        assert_eq!(list_limit(&refusal(400, page)), None);
    }

    #[test]
    fn a_learned_limit_is_kept_an_hour_per_deployment() {
        use crate::testing::{FakePorts, respond, settings};
        let ports = FakePorts::new(|_, _| respond(500, ""));
        let (a, b) = (
            settings(&[]).unwrap(),
            settings(&[("accs_base_url", "https://na1.api.commerce.adobe.com/T2")]).unwrap(),
        );
        let (tokens, trace) = (
            crate::ims::Tokens::new(&a),
            crate::trace::Trace::new("r".into()),
        );
        let now = ports.now_ms();
        let ctx_a = Ctx::new(&a, &ports, &tokens, &trace, "/x", now);
        let ctx_b = Ctx::new(&b, &ports, &tokens, &trace, "/x", now);
        futures::executor::block_on(async {
            assert_eq!(learned(&ctx_a, Kind::SourceItems).await, None);
            learn(&ctx_a, Kind::SourceItems, 20).await;
            assert_eq!(learned(&ctx_a, Kind::SourceItems).await, Some(20));
            assert_eq!(learned(&ctx_a, Kind::BulkProducts).await, None);
            assert_eq!(
                learned(&ctx_b, Kind::SourceItems).await,
                None,
                "another deployment"
            );
            ctx_a.clock.set(now + LEARNED_FOR_MS - 1);
            assert_eq!(learned(&ctx_a, Kind::SourceItems).await, Some(20));
            ctx_a.clock.set(now + LEARNED_FOR_MS);
            assert_eq!(
                learned(&ctx_a, Kind::SourceItems).await,
                None,
                "after an hour"
            );
        });
        let far = format!("20 {}", ctx_a.clock.get() + LEARNED_FOR_MS + 1);
        for odd in ["", "20", "x 9999999999999", "0 9999999999999", "20 x", &far] {
            ports
                .kv
                .borrow_mut()
                .insert(key(&ctx_a, Kind::PageSize), odd.into());
            assert_eq!(
                futures::executor::block_on(learned(&ctx_a, Kind::PageSize)),
                None,
                "{odd}"
            );
        }
    }
}
