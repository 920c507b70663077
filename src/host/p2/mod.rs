//! The WASI 0.2 Spin build on spin-sdk 5.2: `wasi:http/incoming-handler`,
//! `fermyon:spin/variables@2.0.0`, `fermyon:spin/key-value@2.0.0` and
//! `wasi:keyvalue/atomics@0.2.0-draft2` for exact claims. It runs on every
//! released Spin (3.x, 4.0), SpinKube's shim and Akamai Functions.
//!
//! A WASI 0.2 host gives every request a fresh instance: nothing survives in
//! memory, so each request reads only the variables its route needs and
//! takes the sealed token from the key-value store.

mod entry;
mod http;
mod kv;
mod log;
mod ports;
mod time;
