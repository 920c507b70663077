//! The readers every variable shares: bounded numbers, lists, tokens.

use super::error::{ConfigError, err};
use super::variables::Number;

/// A whole number within bounds, or the default when unset.
pub fn number(value: Option<String>, bounds: &Number) -> Result<u64, ConfigError> {
    let Number {
        name,
        default,
        min,
        max,
    } = *bounds;
    match value {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(err(
                name,
                format!("must be a whole number from {min} to {max}"),
            )),
        },
    }
}

/// A whole number within bounds, or `None` when unset.
pub fn optional_number(value: Option<String>, bounds: &Number) -> Result<Option<u64>, ConfigError> {
    match value {
        None => Ok(None),
        some => number(some, bounds).map(Some),
    }
}

/// Lists take `,` or `;`: `wasmtime serve -Sconfig-var=...` splits its
/// arguments on commas, so there a list can only be written with `;`.
pub fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split([',', ';']).map(str::trim).filter(|p| !p.is_empty())
}

/// Visible ASCII without spaces: safe in a header and in a form body.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}
