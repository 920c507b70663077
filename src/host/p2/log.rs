//! The log line on `wasi:cli/stderr` in one host call.
//!
//! std's stderr goes through wasi-libc, which makes five calls a line on a
//! fresh instance (get-stderr, subscribe, check-write, write, flush), each
//! about 5k instructions on Spin 3.6.3 (accs-bench figure 8). One
//! `blocking-write-and-flush` takes up to 4096 bytes; the stream is kept
//! for the instance's life, so a line costs one call after the first.

use std::cell::OnceCell;
use wasi::io::streams::OutputStream;

/// What one `blocking-write-and-flush` may take (`wasi:io/streams` 0.2).
const MAX_WRITE: usize = 4096;

thread_local! {
    static STDERR: OnceCell<OutputStream> = const { OnceCell::new() };
}

/// `line` and a newline in one write. A longer line goes through std, which
/// still writes it whole ([`crate::host::log_line`]).
pub fn line(line: &str) {
    if line.len() >= MAX_WRITE {
        return crate::host::log_line(line);
    }
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    STDERR.with(|cell| {
        let stream = cell.get_or_init(wasi::cli::stderr::get_stderr);
        let _ = stream.blocking_write_and_flush(&buf);
    });
}
