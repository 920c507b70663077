//! Building ACCS paths from caller input. Everything a caller supplies goes
//! through here, so no input can leave the tenant's `/V1` prefix.

use crate::problem::Problem;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Everything but RFC 3986 unreserved characters is encoded: `/`, `%`, `+`,
/// `?`, `#`, spaces and non-ASCII all reach ACCS as one literal segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Magento's SKU column is 64 characters.
pub const MAX_SKU_CHARS: usize = 64;

pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Decodes one raw inbound path segment into a value that is safe to send
/// back out as one segment.
pub fn decode_segment(raw: &str, what: &str) -> Result<String, Problem> {
    let value = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Problem::bad_request(format!("{what} is not valid UTF-8")))?;
    if value.is_empty() || value.trim().is_empty() {
        return Err(Problem::bad_request(format!("{what} is empty")));
    }
    if has_dot_piece(&value) {
        return Err(Problem::bad_request(format!(
            "{what} cannot be `.` or `..`, nor have such a piece between `/`"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Problem::bad_request(format!(
            "{what} contains control characters"
        )));
    }
    Ok(value.into_owned())
}

/// Whether `value`, split on `/`, has a `.` or `..` piece. Sent encoded as
/// one segment it is harmless to ACCS, but a layer in between that decodes
/// `%2F` before resolving dot segments (RFC 3986 section 5.2.4) would climb
/// out of the path: `..%2F..%2Forders%2F1` under `/V1/products/` would reach
/// `/V1/orders/1`. The passthrough refuses such paths for the same reason
/// (`routes/passthrough.rs`).
fn has_dot_piece(value: &str) -> bool {
    value.split('/').any(|piece| piece == "." || piece == "..")
}

pub fn sku(raw: &str) -> Result<String, Problem> {
    let sku = decode_segment(raw, "the SKU")?;
    if sku.chars().count() > MAX_SKU_CHARS {
        return Err(Problem::bad_request(format!(
            "the SKU is longer than {MAX_SKU_CHARS} characters"
        )));
    }
    Ok(sku)
}

/// A SKU from a JSON body, taken as written (never percent-decoded: `%20`
/// there is three characters of the SKU) and checked like a path's.
pub fn json_sku(sku: &str) -> Result<String, Problem> {
    if sku.trim().is_empty() || has_dot_piece(sku) {
        return Err(Problem::bad_request("the SKU is empty or a dot segment"));
    }
    if sku.chars().any(char::is_control) {
        return Err(Problem::bad_request("the SKU contains control characters"));
    }
    if sku.chars().count() > MAX_SKU_CHARS {
        return Err(Problem::bad_request(format!(
            "the SKU is longer than {MAX_SKU_CHARS} characters"
        )));
    }
    Ok(sku.to_owned())
}

pub fn product(sku: &str) -> String {
    format!("/V1/products/{}", encode_segment(sku))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_skus_are_taken_as_written_and_encoded_once() {
        assert_eq!(json_sku("BOX%2012").unwrap(), "BOX%2012");
        assert_eq!(
            product(&json_sku("BOX%2012").unwrap()),
            "/V1/products/BOX%252012"
        );
        assert_eq!(
            product(&json_sku("a/b c").unwrap()),
            "/V1/products/a%2Fb%20c"
        );
        for bad in [
            "",
            " ",
            ".",
            "..",
            "a\nb",
            &"x".repeat(65),
            "../orders",
            "a/./b",
            "a/..",
        ] {
            assert!(json_sku(bad).is_err(), "{bad:?}");
        }
        assert_eq!(json_sku("a..b/.c").unwrap(), "a..b/.c");
        assert!(json_sku(&"é".repeat(64)).is_ok());
    }

    #[test]
    fn skus_become_exactly_one_encoded_segment() {
        for (sku, encoded) in [
            ("SKU-0001", "SKU-0001"),
            ("a/b c", "a%2Fb%20c"),
            ("100%", "100%25"),
            ("x+y", "x%2By"),
            ("café-ü", "caf%C3%A9-%C3%BC"),
            ("tab?&#", "tab%3F%26%23"),
            ("dot.sku", "dot.sku"),
            ("../admin", "..%2Fadmin"),
            ("a@b:c", "a%40b%3Ac"),
        ] {
            assert_eq!(product(sku), format!("/V1/products/{encoded}"), "{sku}");
        }
    }

    #[test]
    fn inbound_segments_decode_once() {
        assert_eq!(sku("a%2Fb%20c").unwrap(), "a/b c");
        assert_eq!(sku("100%25").unwrap(), "100%");
        assert_eq!(sku("x+y").unwrap(), "x+y");
        assert_eq!(sku("caf%C3%A9").unwrap(), "café");
        assert_eq!(sku("%252F").unwrap(), "%2F");
    }

    #[test]
    fn unsafe_or_empty_segments_are_rejected() {
        for raw in [
            "",
            "%20",
            ".",
            "..",
            "%2E%2E",
            "a%00b",
            "a%0Ab",
            "%FF",
            &"x".repeat(65),
            // Issue 22: dot pieces once `%2F` is decoded.
            "..%2F..%2Forders%2F1",
            "..%2f",
            "a%2F.",
            "%2E%2E%2Fadmin",
            "a%2F..%2Fb",
        ] {
            let p = sku(raw).unwrap_err();
            assert_eq!(p.code.as_str(), "invalid_request", "{raw}");
        }
        for fine in ["a%2Fb", "...%2F", "a..%2F.b", "%2F%2Fx", ".a%2Fb."] {
            assert!(sku(fine).is_ok(), "{fine}");
        }
        assert!(sku(&"é".repeat(64)).is_ok());
    }
}
