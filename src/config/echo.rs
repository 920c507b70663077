//! `echo_window_s`: how long the edge remembers what it wrote to ACCS on a
//! caller's behalf, so that Commerce's event for that very change is not
//! forwarded back to the caller (`crate::echo`, docs/FORWARDING.md,
//! "Echoes").
//!
//! Default 600 s (10 minutes). Commerce sends its events in batches from a
//! cron job, "up to 59 seconds" after the save for standard-priority events
//! (AdobeDocs/commerce-extensibility `src/pages/events/configure-commerce.md`,
//! "Check cron and message queue configuration"), and a product taken
//! through ACCS's bulk API is saved by a queue consumer later still, so an
//! echo may come minutes after the write; a longer
//! window only keeps notes that nothing meets. Each note suppresses at most
//! one event per entity and any other event voids it, so a long window
//! costs store space, never a real change. `0` turns echo suppression off
//! (nothing is written, nothing is suppressed); at most a day.

use super::error::ConfigError;
use super::parse::number;
use super::variables::Number;

pub const ECHO_WINDOW_S: Number = Number {
    name: "echo_window_s",
    default: 600,
    min: 0,
    max: 86_400,
};

/// The echo notes' settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoConfig {
    /// How long a note of a write suppresses its echo; 0: off.
    pub window_s: u64,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig {
            window_s: ECHO_WINDOW_S.default,
        }
    }
}

/// `echo_window_s` read through `get`, or its default when unset.
pub fn from_lookup(
    get: impl Fn(&'static str) -> Option<String>,
) -> Result<EchoConfig, ConfigError> {
    Ok(EchoConfig {
        window_s: number(get(ECHO_WINDOW_S.name), &ECHO_WINDOW_S)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: Option<&str>) -> Result<EchoConfig, ConfigError> {
        from_lookup(|n| {
            (n == "echo_window_s")
                .then(|| value.map(str::to_owned))
                .flatten()
        })
    }

    #[test]
    fn unset_is_ten_minutes() {
        assert_eq!(read(None), Ok(EchoConfig { window_s: 600 }));
        assert_eq!(EchoConfig::default(), EchoConfig { window_s: 600 });
    }

    #[test]
    fn both_ends_of_the_range_are_taken_and_past_them_refused() {
        assert_eq!(read(Some("0")).unwrap().window_s, 0);
        assert_eq!(read(Some("86400")).unwrap().window_s, 86_400);
        for bad in ["86401", "-1", "ten", ""] {
            let e = read(Some(bad)).unwrap_err();
            assert_eq!(e.variable, "echo_window_s", "{bad}");
            assert!(!e.to_string().contains(bad) || bad.is_empty(), "{e}");
        }
    }
}
