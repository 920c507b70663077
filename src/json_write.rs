//! JSON text written straight into a byte buffer, exactly as serde_json
//! writes it, for the hot outputs (the log line, sync batches and reports):
//! serde's serializer made a call per punctuation byte, which in wasm is a
//! host `memory.copy` each (accs-bench figure 8).

/// `s` as a JSON string: one with nothing to escape (no `"`, `\` or control
/// character below 0x20) is copied whole; any other goes through serde_json.
pub fn put_str(buf: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *buf, s);
    }
}

/// An unsigned integer in decimal, as serde_json writes it (both use `itoa`).
pub fn put_uint(buf: &mut Vec<u8>, n: impl itoa::Integer) {
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}
