//! `passthrough_allow`: which ACCS paths the passthrough route may call.

use super::error::{ConfigError, err};
use super::parse::split_list;

/// One `passthrough_allow` entry: `METHOD /V1/pattern`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowRule {
    pub method: String,
    /// Pattern segments after the leading `/`; `*` is one segment, `**` the rest.
    pub segments: Vec<String>,
}

impl AllowRule {
    /// The rule as configured, `METHOD /V1/pattern`: what the passthrough's
    /// remembered denials are keyed by.
    pub fn label(&self) -> String {
        format!("{} /{}", self.method, self.segments.join("/"))
    }
}

pub fn passthrough_allow(raw: &str) -> Result<Vec<AllowRule>, ConfigError> {
    const NAME: &str = "passthrough_allow";
    split_list(raw)
        .enumerate()
        .map(|(i, entry)| {
            let bad = || err(NAME, format!("entry {} must be `METHOD /V1/path`", i + 1));
            let (method, pattern) = entry.split_once(' ').ok_or_else(bad)?;
            let method = method.trim().to_ascii_uppercase();
            if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
                return Err(bad());
            }
            let pattern = pattern.trim();
            if !pattern.starts_with("/V1/") {
                return Err(bad());
            }
            let segments: Vec<String> = pattern[1..].split('/').map(str::to_owned).collect();
            let valid = segments.iter().enumerate().all(|(j, s)| {
                !s.is_empty()
                    && s != "."
                    && s != ".."
                    && (s == "*"
                        || (s == "**" && j == segments.len() - 1)
                        || s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
            });
            if !valid {
                return Err(bad());
            }
            Ok(AllowRule { method, segments })
        })
        .collect()
}
