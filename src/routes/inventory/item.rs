//! One source item as a sync takes it, and the rules each must meet.

use serde::{Deserialize, Serialize};
use serde_json::Number;
use std::borrow::Cow;

/// One validated source item, exactly the members Magento takes. Text
/// without escapes is borrowed from the request body, not copied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item<'a> {
    #[serde(borrow)]
    pub sku: Cow<'a, str>,
    #[serde(borrow)]
    pub source_code: Cow<'a, str>,
    /// Kept as written: `5` goes out as `5`, not `5.0`.
    pub quantity: Number,
    pub status: u8,
}

impl Item<'_> {
    pub fn check(&self) -> Result<(), String> {
        for (k, v, max) in [
            ("sku", &self.sku, 64),
            ("source_code", &self.source_code, 255),
        ] {
            if !text_ok(v, max) {
                return Err(format!("`{k}` must be a string of 1 to {max} characters"));
            }
        }
        if !self
            .quantity
            .as_f64()
            .is_some_and(|q| q.is_finite() && q >= 0.0)
        {
            return Err("`quantity` must be a number >= 0".into());
        }
        if self.status > 1 {
            return Err(STATUS_RULE.into());
        }
        Ok(())
    }
}

pub const STATUS_RULE: &str = "`status` must be 0 (out of stock) or 1 (in stock)";

/// 1 to `max` characters, not all whitespace, no control character. Plain
/// printable ASCII (the usual SKU) is decided byte by byte: there a
/// character is a byte, and the only whitespace that is not a control is
/// the space.
fn text_ok(v: &str, max: usize) -> bool {
    let bytes = v.as_bytes();
    if bytes.len() <= max && bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        return bytes.iter().any(|&b| b != b' ');
    }
    !(v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control))
}
