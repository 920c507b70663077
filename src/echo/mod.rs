//! Echo suppression: what the edge wrote to ACCS on a caller's behalf,
//! noted in the store for a while, so that Commerce's event for that very
//! change is not forwarded back to the system that made it
//! (docs/FORWARDING.md, "Echoes").
//!
//! - **Who.** The writer is the `api_keys` entry of the request
//!   (`Trace::key`); an event is an echo only for the forward target whose
//!   name equals it ("name the ERP's api_keys entry and its forward target
//!   the same"): every other target still gets it. Webhook deliveries (one
//!   shared `webhook_secrets`) and I/O Events actions carry no per-system
//!   identity: their writes are not noted, their echoes are forwarded.
//! - **What.** Per entity written (a source item's `(sku, source_code)`, a
//!   product's `sku`, case-folded), keyed digests of the compared fields'
//!   values (`fields.rs`). An event is an echo when every compared field it
//!   shares with the write agrees (at least one), and, where the
//!   subscription includes `_origData`, the save changed no other field.
//! - **Once.** A note suppresses at most one event per entity, and an event
//!   for a noted entity that does not match voids the note for that entity:
//!   write 5, event 5 (echo), admin sets 7 (forwarded, note void), back to 5
//!   (forwarded: not our write).
//! - **Cost.** One note per write request plus one small index (`note.rs`):
//!   a write request reads 1 value and writes 2 (and deletes the notes that
//!   left the index, usually 1); an event reads 1 + the target's live notes
//!   (at most [`note::MAX_NOTES`]) + 1 marker, and writes 1 marker only when
//!   it meets a noted entity.
//! - **Failures.** Checking fails closed ([`EchoError`]: the forwarder
//!   answers 503 and I/O Events redelivers). Noting never fails the write
//!   (ACCS acted): a warn line, and the echo may then be forwarded.

mod check;
mod fields;
mod note;
mod store;
mod write;

pub use write::{Stock, note_products, note_stock};

use crate::config::Settings;
use crate::ports::Ports;
use serde_json::Value;

/// `echo_window_s` when unset (`config/echo.rs`; `settings.echo.window_s`).
pub const DEFAULT_WINDOW_S: u64 = crate::config::echo::ECHO_WINDOW_S.default;

/// Why the echo notes could not be read or written. The store is the only
/// memory of a per-request instance, so a caller fails closed on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EchoError {
    #[error("echo notes unavailable: {0}")]
    Store(String),
}

/// How long a note holds, in ms; 0: echo suppression is off.
fn window_ms(settings: &Settings) -> u64 {
    settings.echo.window_s.saturating_mul(1000)
}

/// Whether the Commerce event `event_type` with `data` (the CloudEvent's
/// `data`) is the echo of a write the edge made for `target` (a
/// `forward_targets` name) within the notes' window: then it is not
/// forwarded to that target. Meeting a noted entity spends the note for it
/// (one marker write), whether the event matched or not.
pub async fn is_echo<P: Ports>(
    ports: &P,
    settings: &Settings,
    event_type: &str,
    data: Option<&Value>,
    target: &str,
) -> Result<bool, EchoError> {
    check::is_echo(
        ports,
        settings,
        window_ms(settings),
        event_type,
        data,
        target,
    )
    .await
}

/// The product id of a stock item event that names its product only so
/// (the legacy stock item, `product_id` and no `sku`, as ACCS sends
/// `observer.cataloginventory_stock_item_save_commit_after`): [`is_echo`]
/// cannot tell it from another product's change and answers `false`. A
/// caller that resolves the id to its SKU (one ACCS read) and sets
/// `data.value.sku` before asking lets it be matched.
pub fn unnamed_product_id(event_type: &str, data: Option<&Value>) -> Option<u64> {
    let value = data?.get("value")?.as_object()?;
    if fields::kind_of(event_type) != Some(fields::Kind::Stock) || value.contains_key("sku") {
        return None;
    }
    let id = value.get("product_id")?;
    id.as_u64().or_else(|| id.as_str()?.parse().ok())
}

#[cfg(test)]
mod tests;
