//! The WASI 0.3 builds on spin-sdk 7: `spin-p3` (Spin 4.1+, `spin:variables`
//! and `spin:key-value`) and `wasmtime` (`wasi:config` and `wasi:keyvalue`
//! bound from `wit/`). They share outbound HTTP, the clock, randomness,
//! logging and the entry; each flavour module brings its variables, its
//! key-value store (`Kv`) and its token-file operations (`files`).

mod entry;
mod http;
mod ports;
#[cfg(feature = "spin-p3")]
mod spin;
#[cfg(all(not(feature = "spin-p3"), feature = "wasmtime"))]
mod wasmtime;

#[cfg(feature = "spin-p3")]
use spin as flavour;
#[cfg(all(not(feature = "spin-p3"), feature = "wasmtime"))]
use wasmtime as flavour;
