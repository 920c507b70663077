//! Forwarding Commerce's events to back-office targets (docs/FORWARDING.md):
//! each event of a verified I/O Events delivery that a `forward_rules` entry
//! matches is sent, as received and signed as Standard Webhooks, to each of
//! its targets; each (event, target) pair is remembered in the event's
//! record of the events ledger, so a redelivery sends only to the targets
//! that have not taken it yet; a pair that keeps failing, or that a target
//! refuses, becomes a dead letter, sealed in the store, to be listed and
//! replayed.
//!
//! - `request.rs`: the signed `POST` a target gets (pure).
//! - `outcome.rs`: what one attempt's answer means (pure).
//! - `pairs.rs`: the per-target states an event's record holds (pure).
//! - `deliver.rs`: one event to its targets, over the ledger.
//! - `dead.rs`: the dead letters (sealed bodies, a MAC'd index, bounds),
//!   `store.rs` where they live.

pub mod dead;
pub mod deliver;
mod named;
pub mod outcome;
pub mod pairs;
pub mod replay;
pub mod request;
mod store;

pub use deliver::{Forwarded, PairReport, forward_event};

#[cfg(test)]
mod tests;
