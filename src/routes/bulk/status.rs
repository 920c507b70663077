//! `GET /v1/bulk/{uuid}?first=N`: how the products of one accepted bulk
//! ended, from ACCS's `GET /V1/bulk/{uuid}/detailed-status`
//! (AdobeDocs/commerce-webapi `src/pages/rest/use-rest/operation-status-endpoints.md`).

use crate::accs::bulk::{self, Operation};
use crate::accs::{Call, Ctx};
use crate::json_write::{put_str, put_uint};
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use crate::routes::search::printable;
use crate::wire::MAX_ITEMS;

/// The answer's body: `{"bulk_uuid","summary","results"}`.
pub async fn get<P: Ports>(
    ctx: &Ctx<'_, P>,
    raw_uuid: &str,
    query: Option<&str>,
) -> Result<Vec<u8>, Problem> {
    // The raw path segment: a uuid has nothing to decode, and anything
    // else is refused before a call is made.
    if !bulk::is_uuid(raw_uuid) {
        return Err(Problem::bad_request(
            "the bulk uuid must be 8-4-4-4-12 hexadecimal digits, as `bulks[].bulk_uuid` of the upsert's answer",
        ));
    }
    let first = first(query)?;
    let r = ctx
        .call(&Call::get(bulk::detailed_status_path(raw_uuid)))
        .await
        .map_err(|p| match p.status {
            // Magento's "Bulk uuid %bulkUuid not exist"
            // (`Magento\AsynchronousOperations\Model\BulkStatus`).
            404 if p.code == Code::AccsError => {
                Problem::new(Code::BulkNotFound, "ACCS knows no bulk by this uuid")
            }
            _ => p,
        })?;
    let ops = bulk::operations(&r.body).ok_or_else(|| {
        Problem::new(
            Code::AccsUnavailable,
            "ACCS's detailed bulk status is not the documented shape (`operations_list` with `id` and `status`)",
        )
    })?;
    Ok(body(raw_uuid, first, &ops))
}

/// `first`, the request index of the bulk's first product (its status URL
/// carries it): 0 when absent, at most 10,000. Nothing else is taken.
fn first(query: Option<&str>) -> Result<usize, Problem> {
    let mut first = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "first" if first.is_none() => match value.parse::<usize>() {
                Ok(n) if n <= MAX_ITEMS => first = Some(n),
                _ => {
                    return Err(Problem::bad_request(format!(
                        "`first` must be a whole number from 0 to {MAX_ITEMS}"
                    )));
                }
            },
            "first" => return Err(Problem::bad_request("`first` is given twice")),
            other => {
                return Err(Problem::bad_request(format!(
                    "unknown query parameter `{}`; this route takes only `first`",
                    printable(other)
                )));
            }
        }
    }
    Ok(first.unwrap_or(0))
}

/// The summary and one result per operation, in `id` order: `index` is
/// `first` plus the operation's position, `reason` ACCS's `result_message`
/// for a failed or rejected one, `status` ACCS's own number (2 says a retry
/// may succeed, 3 that the product must change).
fn body(uuid: &str, first: usize, ops: &[Operation]) -> Vec<u8> {
    let count = |r: &str| ops.iter().filter(|o| o.result() == r).count();
    let (ok, failed, pending) = (count("ok"), count("failed"), count("pending"));
    let mut buf = Vec::with_capacity(128 + ops.len() * 80);
    buf.extend_from_slice(br#"{"bulk_uuid":"#);
    put_str(&mut buf, uuid);
    buf.extend_from_slice(br#","summary":{"operations":"#);
    put_uint(&mut buf, ops.len());
    buf.extend_from_slice(br#","ok":"#);
    put_uint(&mut buf, ok);
    buf.extend_from_slice(br#","failed":"#);
    put_uint(&mut buf, failed);
    buf.extend_from_slice(br#","pending":"#);
    put_uint(&mut buf, pending);
    buf.extend_from_slice(br#","complete":"#);
    buf.extend_from_slice(if pending == 0 { b"true" } else { b"false" });
    buf.extend_from_slice(br#"},"results":["#);
    for (n, op) in ops.iter().enumerate() {
        if n > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(br#"{"index":"#);
        put_uint(&mut buf, first + n);
        buf.extend_from_slice(br#","sku":"#);
        match &op.sku {
            Some(sku) => put_str(&mut buf, sku),
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(br#","result":"#);
        put_str(&mut buf, op.result());
        if let Some(reason) = &op.reason {
            buf.extend_from_slice(br#","reason":"#);
            put_str(&mut buf, reason);
        }
        buf.extend_from_slice(br#","status":"#);
        // Magento's statuses are small; a negative one is written as 0.
        put_uint(&mut buf, u64::try_from(op.status).unwrap_or(0));
        buf.push(b'}');
    }
    buf.extend_from_slice(b"]}");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_the_only_parameter() {
        assert_eq!(first(None).unwrap(), 0);
        assert_eq!(first(Some("")).unwrap(), 0);
        assert_eq!(first(Some("first=500")).unwrap(), 500);
        assert_eq!(first(Some("first=10000")).unwrap(), 10_000);
        for bad in [
            "first=10001",
            "first=-1",
            "first=x",
            "first=",
            "first=1&first=2",
            "page=2",
            "first=1&x=1",
        ] {
            assert_eq!(first(Some(bad)).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn the_body_is_json_with_indexes_from_first() {
        let ops = [
            Operation {
                id: 7,
                status: 1,
                reason: None,
                sku: Some("A\"1".into()),
            },
            Operation {
                id: 8,
                status: 3,
                reason: Some("bad \"x\"".into()),
                sku: None,
            },
        ];
        let v: serde_json::Value = serde_json::from_slice(&body("u", 500, &ops)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "bulk_uuid": "u",
                "summary": {"operations": 2, "ok": 1, "failed": 1, "pending": 0, "complete": true},
                "results": [
                    {"index": 500, "sku": "A\"1", "result": "ok", "status": 1},
                    {"index": 501, "sku": null, "result": "failed", "reason": "bad \"x\"", "status": 3},
                ]
            })
        );
    }
}
