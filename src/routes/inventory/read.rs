//! The usual `{"sourceItems":[...]}` body read in one pass, without serde.
//!
//! Everything before the first batch leaves is waited for, and serde_json
//! spends most of it on what an ordinary body does not have: escapes,
//! non-ASCII text, numbers that are not plain integers, unknown members.
//! [`items`] reads the common shape only (every key and text value printable
//! ASCII without escapes, `quantity` and `status` plain integers, the four
//! members of an item in any order, JSON whitespace anywhere) and gives up,
//! with `None`, on anything else, which [`super::validate`] then reads with
//! serde_json as before. What it accepts serde_json reads the same way, into
//! the same items: the grammar is a subset of JSON's, and each value maps to
//! what serde's `Item` makes of it (`Number` from the `u64`, `status` as
//! `u8`). More than [`MAX_ITEMS`] items is `None` too; the checks of
//! [`super::Item::check`] are left to the caller.

use super::item::Item;
use crate::wire::MAX_ITEMS;
use serde_json::Number;
use std::borrow::Cow;

/// The items of a body of the common shape, or `None`.
pub fn items(body: &[u8]) -> Option<Vec<Item<'_>>> {
    // Checked as UTF-8 once, whole, so that each text is a plain slice.
    let mut r = Reader {
        body: std::str::from_utf8(body).ok()?,
        at: 0,
    };
    r.ws();
    r.byte(b'{')?;
    r.ws();
    if r.text()? != "sourceItems" {
        return None;
    }
    r.ws();
    r.byte(b':')?;
    r.ws();
    r.byte(b'[')?;
    // About 70 bytes an item in the usual body: one allocation, mostly.
    let mut out = Vec::with_capacity((body.len() / 64).min(MAX_ITEMS));
    loop {
        r.ws();
        if out.len() == MAX_ITEMS {
            return None;
        }
        out.push(r.item()?);
        r.ws();
        match r.next()? {
            b',' => continue,
            b']' => break,
            _ => return None,
        }
    }
    r.ws();
    r.byte(b'}')?;
    r.ws();
    (r.at == body.len()).then_some(out)
}

/// The bytes [`Reader::text`] takes as they are: printable ASCII but `"`
/// and `\`.
const PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        plain[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    plain
};

struct Reader<'a> {
    body: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Option<u8> {
        let b = *self.body.as_bytes().get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// JSON whitespace: space, tab, line feed, carriage return.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.body.as_bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// A string of printable ASCII without escapes (`None` for any other).
    fn text(&mut self) -> Option<&'a str> {
        self.byte(b'"')?;
        let start = self.at;
        let len = self.body.as_bytes()[start..]
            .iter()
            .position(|&b| !PLAIN[usize::from(b)])?;
        self.at += len;
        self.byte(b'"')?;
        self.body.get(start..start + len)
    }

    /// A plain integer: `0` or a digit 1-9 and at most 18 more (so that it
    /// fits a `u64`), not followed by a fraction or an exponent. `None` for
    /// any other number (negative, fractional, larger), and for a leading
    /// zero, which JSON does not allow.
    fn integer(&mut self) -> Option<u64> {
        let start = self.at;
        let mut n: u64 = 0;
        let bytes = self.body.as_bytes();
        while let Some(&b @ b'0'..=b'9') = bytes.get(self.at) {
            if self.at - start == 19 {
                return None;
            }
            n = n * 10 + u64::from(b - b'0');
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && bytes[start] == b'0';
        let more = matches!(bytes.get(self.at), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !more).then_some(n)
    }

    /// `{"sku":…,"source_code":…,"quantity":…,"status":…}`, members in any
    /// order, each once.
    fn item(&mut self) -> Option<Item<'a>> {
        self.byte(b'{')?;
        let (mut sku, mut source_code, mut quantity, mut status) = (None, None, None, None);
        loop {
            self.ws();
            let key = self.text()?;
            self.ws();
            self.byte(b':')?;
            self.ws();
            let fresh = match key {
                "sku" => sku.replace(self.text()?).is_none(),
                "source_code" => source_code.replace(self.text()?).is_none(),
                "quantity" => quantity.replace(self.integer()?).is_none(),
                "status" => status
                    .replace(u8::try_from(self.integer()?).ok()?)
                    .is_none(),
                _ => false,
            };
            if !fresh {
                return None;
            }
            self.ws();
            match self.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
        Some(Item {
            sku: Cow::Borrowed(sku?),
            source_code: Cow::Borrowed(source_code?),
            quantity: Number::from(quantity?),
            status: status?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Item;
    use proptest::prelude::*;

    /// What serde_json makes of `body`, when it reads it as the `Items` document.
    fn by_serde(body: &[u8]) -> Option<Vec<Item<'_>>> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Items<'a> {
            #[serde(rename = "sourceItems", borrow)]
            source_items: Option<Vec<Item<'a>>>,
        }
        serde_json::from_slice::<Items>(body).ok()?.source_items
    }

    fn agrees(body: &str) {
        if let Some(quick) = super::items(body.as_bytes()) {
            assert_eq!(Some(quick), by_serde(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn the_usual_body_is_read_as_serde_reads_it() {
        let body = r#" {"sourceItems" : [ {"sku":"A-1","source_code":"default","quantity":0,"status":1},
            {"status":0,"quantity":18446744073709551,"source_code":"wh 2","sku":"b"}]}
        "#;
        let quick = super::items(body.as_bytes()).unwrap();
        assert_eq!(quick.len(), 2);
        assert_eq!(Some(quick), by_serde(body.as_bytes()));
    }

    #[test]
    fn anything_unusual_is_left_to_serde() {
        for body in [
            r#"{"sourceItems":[]}"#,
            r#"{"sourceItems":null}"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":1,"status":1}],"x":1}"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":1.0,"status":1}]}"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":1e2,"status":1}]}"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":-1,"status":1}]}"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":01,"status":1}]}"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":12345678901234567890,"status":1}]}"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":1,"status":256}]}"#,
            r#"{"sourceItems":[{"sku":"A\"","source_code":"s","quantity":1,"status":1}]}"#,
            r#"{"sourceItems":[{"sku":"Ä","source_code":"s","quantity":1,"status":1}]}"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":1}]}"#,
            r#"{"sourceItems":[{"sku":"A","sku":"B","source_code":"s","quantity":1,"status":1}]}"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":1,"status":1,"x":2}]}"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":1,"status":1},]}"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":1,"status":1}]} x"#,
            r#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":1,"status":1}]"#,
            "{\"sourceItems\":[{\"sku\":\"A\u{b}\",\"source_code\":\"s\",\"quantity\":1,\"status\":1}]}",
            "\u{c}{\"sourceItems\":[{\"sku\":\"A\",\"source_code\":\"s\",\"quantity\":1,\"status\":1}]}",
        ] {
            assert_eq!(super::items(body.as_bytes()), None, "{body}");
        }
    }

    proptest! {
        /// Bodies built from pieces near the common shape, cut anywhere:
        /// whatever the quick reader accepts, serde_json reads the same.
        #[test]
        fn never_reads_what_serde_would_not(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(r#"{"sku":"A","source_code":"s","quantity":1,"status":1}"#),
                    Just(r#"{"status":0,"sku":"B b","quantity":0,"source_code":"w"}"#),
                    Just(","), Just(" "), Just("\n"), Just("\t"), Just("{"), Just("}"),
                    Just("\"sku\":"), Just("\"x\":"), Just("\"A\""), Just("\"\\u0041\""),
                    Just("1"), Just("0"), Just("01"), Just("1.5"), Just("-1"), Just("2"),
                    Just("null"), Just("[]"), Just("]"), Just("\u{0}"), Just("é"),
                ],
                0..12,
            ),
            cut in 0usize..400,
        ) {
            let inner = parts.concat();
            let body = format!(r#"{{"sourceItems":[{inner}]}}"#);
            agrees(&body);
            let end = body.len().min(cut);
            if body.is_char_boundary(end) {
                agrees(&body[..end]);
            }
        }
    }
}
