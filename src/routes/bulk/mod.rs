//! `POST /v1/products/bulk`: up to 10,000 product upserts handed to ACCS's
//! asynchronous bulk API in chunks, answered once ACCS accepted them (202),
//! not once they landed; `GET /v1/bulk/{uuid}` then says how each ended.
//! The products webhook takes the same path above `products_bulk_above`.
//!
//! One file per step: `send.rs` (chunks, bounded concurrency, a refused
//! chunk split), `report.rs` (the answer), `status.rs` (the status read);
//! the wire shapes are `accs/bulk.rs`'s.

pub mod delivery;
mod report;
mod send;
mod status;

pub use report::{put_bulks, report};
pub use send::{Bulk, Refused, Sent, chunks, send};
pub use status::get;

use crate::accs::Ctx;
use crate::ports::Ports;
use crate::problem::Problem;
use crate::routes::products;
use crate::wire::{InResponse, MAX_ITEMS};

/// Every product validated first (the 400 names each bad index and nothing
/// is sent), then sent in chunks of `bulk_chunk_size`.
pub async fn post<P: Ports>(ctx: &Ctx<'_, P>, body: &[u8]) -> Result<InResponse, Problem> {
    let list = products::validate_list(body, MAX_ITEMS)?;
    let all = 0..list.len();
    let sent = send(ctx, &list, std::slice::from_ref(&all)).await;
    ctx.trace.items(sent.sent, 0);
    ctx.trace.accepted(sent.accepted());
    Ok(report(sent, &list, false))
}

#[cfg(test)]
mod tests;
