//! accs-edge: a WebAssembly HTTP component that holds the Adobe IMS
//! server-to-server credentials and calls the Adobe Commerce as a Cloud Service
//! REST API through a small, safe set of routes.
//!
//! Everything that decides something is plain Rust over plain data (`config`,
//! `ims`, `accs`, `routes`, `auth`, `problem`); only `host` touches the host,
//! through the [`ports::Ports`] trait, so the logic is unit-tested natively.

pub mod accs;
pub mod auth;
pub mod config;
pub mod denials;
pub mod echo;
pub mod events;
pub mod forward;
#[doc(hidden)]
pub mod fuzzing;
pub mod host;
pub mod ims;
pub mod json_write;
pub mod place;
pub mod ports;
pub mod problem;
pub mod routes;
pub mod scopes;
pub mod trace;
pub mod webhook;
pub mod wire;

/// Requests replayed natively for callgrind (`accs-bench --profile`).
#[cfg(any(test, feature = "profiling"))]
#[doc(hidden)]
pub mod profiling;
/// Fake ports: the unit tests', and the native profile's (`profiling`).
#[cfg(any(test, feature = "profiling"))]
#[doc(hidden)]
pub mod testing;

// The WASI 0.3 builds use spin-sdk 7 under its own name, so that Cargo can
// hold it beside spin-sdk 5.2; only one of the two is compiled per build.
#[cfg(all(target_arch = "wasm32", feature = "p3", not(feature = "spin")))]
extern crate spin_sdk_p3 as spin_sdk;

#[cfg(all(
    target_arch = "wasm32",
    not(any(feature = "spin", feature = "spin-p3", feature = "wasmtime"))
))]
compile_error!("enable one build: `spin` (default), `spin-p3` or `wasmtime`");

#[cfg(all(
    target_arch = "wasm32",
    any(
        all(feature = "spin", feature = "p3"),
        all(feature = "spin-p3", feature = "wasmtime")
    )
))]
compile_error!(
    "enable exactly one build: `--no-default-features --features spin-p3` (or `wasmtime`)"
);
