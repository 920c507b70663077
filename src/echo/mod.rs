//! Echo suppression: what the edge wrote to ACCS on a caller's behalf,
//! noted in the store for a while, so that Commerce's event for that very
//! change is not forwarded back to the system that made it
//! (docs/FORWARDING.md, "Echoes"). Filled in by issue #33.

use crate::config::Settings;
use crate::ports::Ports;
use serde_json::Value;

/// Why the echo notes could not be read or written. The store is the only
/// memory of a per-request instance, so a caller fails closed on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EchoError {
    #[error("echo notes unavailable: {0}")]
    Store(String),
}

/// Whether the Commerce event `event_type` with `data` (the CloudEvent's
/// `data`) is the echo of a write the edge made for `target` (a
/// `forward_targets` name) within the notes' window: then it is not
/// forwarded to that target.
pub async fn is_echo<P: Ports>(
    ports: &P,
    settings: &Settings,
    event_type: &str,
    data: Option<&Value>,
    target: &str,
) -> Result<bool, EchoError> {
    let _ = (ports, settings, event_type, data, target);
    Ok(false)
}
