//! Signed webhooks: verification and the delivery ledger. The route lives in
//! `routes::webhooks`.

pub mod ledger;
pub mod signature;
