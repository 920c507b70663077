//! The request a forward target gets: a Standard Webhooks `POST` of the
//! CloudEvent exactly as I/O Events delivered it.
//!
//! - `webhook-id`: the event's id (the signed body's `eventid`, the one the
//!   events ledger deduplicates on), the same on every attempt and replay,
//!   so the target deduplicates on it;
//! - `webhook-timestamp`: now, in seconds; `webhook-signature`: one `v1,`
//!   entry per secret of the target (rotation);
//! - `traceparent` (and the caller's `tracestate`): a new span of the
//!   request's trace; `user-agent: accs-edge`; `content-type: application/json`.
//!
//! The URL is the configured one, never one from the event.

use crate::config::forward::Target;
use crate::ports::OutRequest;

/// Whether `id` can travel as `webhook-id`: Standard Webhooks' receivers
/// take 1 to 256 visible ASCII characters.
pub fn id_fits(id: &str) -> bool {
    (1..=256).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The signed request. `trace` holds `traceparent` (and `tracestate`).
pub fn build(
    target: &Target,
    event_id: &str,
    raw: &[u8],
    now_s: u64,
    trace: Vec<(&'static str, String)>,
) -> OutRequest {
    let keys: Vec<Vec<u8>> = target
        .secrets
        .iter()
        .filter_map(|s| crate::webhook::signature::key(s.expose()))
        .collect();
    let timestamp = now_s.to_string();
    let signature = crate::webhook::signature::sign(event_id, &timestamp, raw, &keys);
    let mut headers = vec![
        ("content-type", "application/json".to_owned()),
        ("user-agent", "accs-edge".to_owned()),
        ("webhook-id", event_id.to_owned()),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ];
    headers.extend(trace);
    OutRequest {
        method: "POST",
        url: target.url.as_str().to_owned(),
        headers,
        body: raw.to_vec(),
    }
}
