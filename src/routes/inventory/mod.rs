//! `POST /v1/inventory/source-items`: validate everything, then send in
//! batches with bounded concurrency, and answer one result per item so that
//! nothing is lost silently. The inventory webhook reuses `validate` and `sync`.
//!
//! One file per step: `validate.rs` (of `item.rs`'s items, with `read.rs`
//! for the usual body), `duplicates.rs`, `batches.rs` (the plan and each
//! batch's body), `send.rs` (and split on refusal, as `refusals.rs` reads
//! ACCS's answers), `recorder.rs` and `report.rs` (the answer, from
//! `outcome.rs`, with `message.rs` for ACCS's reasons).

mod batches;
mod duplicates;
mod item;
mod message;
mod outcome;
mod read;
mod recorder;
mod refusals;
mod report;
mod send;
mod validate;

pub use duplicates::last_wins;
pub use item::Item;
pub use outcome::{BatchError, ItemResult, Outcome};
pub use recorder::all_landed;
pub use refusals::refused_as_a_whole;
pub use report::{report, respond};
pub use send::{MAX_SPLIT_CALLS, bounded, sync};
pub use validate::validate;

use crate::accs::Ctx;
use crate::ports::Ports;
use crate::problem::Problem;
use crate::wire::InResponse;

pub async fn post<P: Ports>(ctx: &Ctx<'_, P>, body: &[u8]) -> Result<InResponse, Problem> {
    let items = validate(body)?;
    let outcome = sync(ctx, &items, &[]).await;
    let (sent, landed) = outcome.counts();
    ctx.trace.items(sent, landed);
    Ok(respond(outcome))
}

#[cfg(test)]
mod tests;
