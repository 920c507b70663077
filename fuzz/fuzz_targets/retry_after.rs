#![no_main]
//! See `accs_edge::fuzzing::retry_after`; run with `scripts/fuzz`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| accs_edge::fuzzing::retry_after(data));
