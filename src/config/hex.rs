//! Lower-case hex, for digests, fingerprints and ids.

/// Lower-case hex. By table, not `write!("{:02x}")`: request and trace ids
/// are hexed on every request, and the formatter cost about 6 % of a warm
/// read's instructions (accs-bench figure 8).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    // Only ASCII digits were written, so this cannot fail.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `bytes` in lower-case hex to `out`: for text built in one buffer.
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    for (pair, b) in out[start..].chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let mut out = b"00-".to_vec();
        push_hex(&mut out, &[0xab, 0x01]);
        assert_eq!(out, b"00-ab01");
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), expected);
    }
}
