//! What a bad deployment is told: the variable's name and what it must be.

/// A variable that is missing or malformed. Displays the name and what is
/// expected, never the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("variable `{variable}` {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

pub fn err(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}
