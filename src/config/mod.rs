//! Typed, validated settings, built once per instance from the host's variables.
//!
//! Validation happens here, up front, so that a bad deployment fails loudly on
//! the first request with the variable's name (never its value) instead of
//! half-working. Both flavours share the variable names.
//!
//! `variables.rs` is the table (names, defaults, bounds); `parse.rs`,
//! `urls.rs`, `keys.rs`, `allow.rs`, `io_events.rs` (Adobe I/O Events'
//! variables) and `forward.rs` (forwarding's targets and rules) read the values; `settings.rs`
//! assembles them, with `error.rs` for what a bad value is told.

mod allow;
pub mod echo;
mod error;
pub mod forward;
mod hex;
pub mod io_events;
pub mod jobs;
mod keys;
mod parse;
mod settings;
mod urls;
mod variables;

pub use allow::AllowRule;
pub use error::ConfigError;
pub use hex::{hex, push_hex};
pub use keys::{ApiKey, Secret};
pub use settings::Settings;
pub use variables::{
    CORE, CORE_GROUP, DEFAULT_SCOPES, DEFAULT_TOKEN_URL, REQUIRED_SCOPE, VARIABLES,
    core_group_line, split_core,
};

#[cfg(test)]
mod tests;
