//! The answer to a sync: its status, and the JSON report of every entry.

use super::outcome::{ItemResult, Outcome, Summary};
use super::refusals::refused_as_a_whole;
use crate::json_write::{put_str, put_uint};
use crate::routes::responses::json;
use crate::wire::InResponse;

/// 200 when every item landed (or was superseded), 207 when some did, and
/// when none did the first failure's status (with `Retry-After` where ACCS
/// gave one), so a sender that retries on 429/5xx does the right thing;
/// but ACCS's 400/413 is 422 with the report: our 400 and 413 keep meaning
/// "nothing was sent".
pub fn respond(outcome: Outcome<'_>) -> InResponse {
    let status = match (&outcome.first_problem, outcome.ok()) {
        (None, _) => 200,
        (Some(_), n) if n > 0 => 207,
        (Some(p), _) if refused_as_a_whole(p) => 422,
        (Some(p), _) => p.status,
    };
    report(outcome, status)
}

/// `{"summary":…,"results":[`, in a buffer of `capacity` bytes.
pub(super) fn open_report(summary: &Summary, capacity: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(capacity);
    body.extend_from_slice(br#"{"summary":"#);
    let _ = serde_json::to_writer(&mut body, summary);
    body.extend_from_slice(br#","results":["#);
    body
}

/// The JSON report with `status`, and `Retry-After` where ACCS asked for one:
/// `{"summary":…,"results":[…],"errors":[…]}`. Where [`super::sync`] wrote it
/// ahead, its text is taken as it is (or its results, when the summary came
/// out otherwise); else the results are written here ([`put_result`]:
/// serde's bytes, a fraction of its calls).
pub fn report(mut outcome: Outcome<'_>, status: u16) -> InResponse {
    let summary = Summary::of(&outcome);
    let written = outcome
        .written
        .take()
        .filter(|w| w.count == outcome.results.len());
    let mut body = match written {
        Some(w) if w.summary == summary => w.body,
        Some(w) => {
            let mut body = open_report(&summary, w.body.len() + 256);
            body.extend_from_slice(&w.body[w.results_at..]);
            body
        }
        None => {
            let size = 256
                + outcome
                    .results
                    .iter()
                    .map(|r| {
                        96 + r.sku.len()
                            + r.source_code.as_ref().map_or(0, |s| s.len())
                            + r.reason.as_ref().map_or(0, String::len)
                    })
                    .sum::<usize>();
            let mut body = open_report(&summary, size);
            for (n, r) in outcome.results.iter().enumerate() {
                if n > 0 {
                    body.push(b',');
                }
                put_result(&mut body, r);
            }
            body
        }
    };
    body.extend_from_slice(br#"],"errors":"#);
    let _ = serde_json::to_writer(&mut body, &outcome.errors);
    body.push(b'}');
    let mut resp = json(status, body);
    if let Some(s) = outcome.retry_after.filter(|_| status != 200) {
        resp.headers.push(("retry-after", s.to_string()));
    }
    resp
}

/// `r` as serde_json writes it (`#[derive(Serialize)]` on [`ItemResult`]):
/// members in declaration order, `None`s left out, no whitespace.
pub(super) fn put_result(buf: &mut Vec<u8>, r: &ItemResult<'_>) {
    buf.extend_from_slice(br#"{"index":"#);
    put_uint(buf, r.index);
    buf.extend_from_slice(br#","sku":"#);
    put_str(buf, &r.sku);
    if let Some(sc) = &r.source_code {
        buf.extend_from_slice(br#","source_code":"#);
        put_str(buf, sc);
    }
    buf.extend_from_slice(br#","result":"#);
    put_str(buf, r.result);
    if let Some(batch) = r.batch {
        buf.extend_from_slice(br#","batch":"#);
        put_uint(buf, batch);
    }
    if let Some(error) = r.error {
        buf.extend_from_slice(br#","error":"#);
        put_str(buf, error);
    }
    if let Some(reason) = &r.reason {
        buf.extend_from_slice(br#","reason":"#);
        put_str(buf, reason);
    }
    if let Some(by) = r.superseded_by {
        buf.extend_from_slice(br#","superseded_by":"#);
        put_uint(buf, by);
    }
    buf.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Problem;
    use crate::routes::inventory::BatchError;
    use crate::routes::inventory::tests::awkward_items;
    use serde::Serialize;

    #[test]
    fn the_report_is_what_serde_wrote() {
        #[derive(Serialize)]
        struct Summary {
            items: usize,
            ok: usize,
            failed: usize,
            failed_batches: usize,
            #[serde(skip_serializing_if = "is_zero")]
            superseded: usize,
            #[serde(skip_serializing_if = "is_zero")]
            split_calls: usize,
        }
        fn is_zero(n: &usize) -> bool {
            *n == 0
        }
        #[derive(Serialize)]
        struct Report<'a> {
            summary: Summary,
            results: &'a [ItemResult<'a>],
            errors: &'a [BatchError],
        }
        let items = awkward_items();
        let refused = Problem::new(crate::problem::Code::AccsError, "refused \"x\"")
            .with_upstream(serde_json::json!({"message": "Bad %1\n", "parameters": ["sku\u{0}"]}));
        let mut outcome = Outcome::default();
        for (index, item) in items.iter().enumerate() {
            let (sku, sc) = (item.sku.clone(), Some(item.source_code.clone()));
            outcome.results.push(match index {
                0 => ItemResult::ok(index, sku, sc, Some(0)),
                1 => ItemResult::failed(index, sku, sc, Some(12_345), &refused),
                2 => ItemResult {
                    result: "superseded",
                    superseded_by: Some(3),
                    reason: Some("a later entry (index 3) sets this sku and source_code".into()),
                    ..ItemResult::ok(index, sku, sc, None)
                },
                _ => ItemResult::ok(index, sku, None, None),
            });
        }
        outcome.fail(Some(12_345), None, refused);
        outcome.split_calls = 3;
        let (n, ok, superseded) = (outcome.results.len(), outcome.ok(), outcome.superseded());
        let before = serde_json::to_vec(&Report {
            summary: Summary {
                items: n,
                ok,
                failed: n - ok - superseded,
                failed_batches: outcome.errors.len(),
                superseded,
                split_calls: outcome.split_calls,
            },
            results: &outcome.results,
            errors: &outcome.errors,
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(report(outcome, 207).body).unwrap(),
            String::from_utf8(before).unwrap()
        );
    }
}
