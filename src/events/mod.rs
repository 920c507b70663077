//! Adobe I/O Events as a sync trigger: the registration challenge, the
//! RSA signatures over the raw body, the public keys (fetched from the
//! configured origin only, cached in the key-value store) and the delivery's
//! events. The route lives in `routes::events`; deduplication is the webhook
//! ledger's (`webhook::ledger`), namespaced apart.

pub mod challenge;
pub mod delivery;
pub mod keys;
pub mod signature;
pub mod verify;

#[cfg(test)]
mod tests;
