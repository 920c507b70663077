//! `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
//!
//! The value comes from upstream, so anything is possible: parsing never
//! panics and an unreadable value is `None`, which means "use the backoff".

use std::time::{Duration, UNIX_EPOCH};

/// The wait ACCS asked for, uncapped, relative to `now_ms` (Unix epoch ms).
/// A date in the past means no wait. `None` when the value is neither form.
pub fn parse(value: &str, now_ms: u64) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // delay-seconds = 1*DIGIT; an absurdly long number saturates.
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let at_ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis();
    let wait_ms = at_ms.saturating_sub(u128::from(now_ms));
    Some(Duration::from_millis(
        u64::try_from(wait_ms).unwrap_or(u64::MAX),
    ))
}

/// Whole seconds for a `Retry-After` we send to our caller: rounded up, at
/// least 1, at most a day (a longer ask is a misconfiguration, not advice).
pub fn caller_seconds(wait: Duration) -> u64 {
    const DAY: u64 = 86_400;
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    ms.div_ceil(1000).clamp(1, DAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
    const EXAMPLE_MS: u64 = 784_111_777_000;

    #[test]
    fn delay_seconds() {
        for (v, secs) in [
            ("0", 0),
            ("1", 1),
            ("120", 120),
            (" 7 ", 7),
            ("007", 7),
            ("99999999999999999999999999", u64::MAX),
        ] {
            assert_eq!(parse(v, 0), Some(Duration::from_secs(secs)), "{v:?}");
        }
    }

    #[test]
    fn http_dates_in_all_three_formats_are_relative_to_now() {
        for v in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse(v, EXAMPLE_MS - 2_500),
                Some(Duration::from_millis(2_500)),
                "{v:?}"
            );
        }
        // A date already past asks for no wait at all.
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE_MS + 60_000),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn invalid_values_are_ignored() {
        for v in [
            "",
            "   ",
            "-1",
            "+5",
            "1.5",
            "1e3",
            "5 s",
            "soon",
            "0x10",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "٣",
            "1\u{0}",
        ] {
            assert_eq!(parse(v, EXAMPLE_MS), None, "{v:?}");
        }
    }

    #[test]
    fn caller_seconds_round_up_within_bounds() {
        assert_eq!(caller_seconds(Duration::ZERO), 1);
        assert_eq!(caller_seconds(Duration::from_millis(1)), 1);
        assert_eq!(caller_seconds(Duration::from_millis(1_001)), 2);
        assert_eq!(caller_seconds(Duration::from_secs(120)), 120);
        assert_eq!(caller_seconds(Duration::MAX), 86_400);
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_any_string(v in any::<String>(), now in any::<u64>()) {
            let _ = parse(&v, now);
        }

        #[test]
        fn parse_never_panics_on_near_misses(
            v in r"[0-9 ]{0,40}|[A-Za-z]{3}, [0-9]{1,3} [A-Za-z]{3} [0-9]{1,6} [0-9:]{0,9} [A-Z]{0,4}",
            now in any::<u64>(),
        ) {
            // Either form or nothing: digits (with surrounding spaces) are
            // delay-seconds; anything else parses only as an HTTP-date.
            let digits = v.trim();
            let is_delay = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            match parse(&v, now) {
                Some(wait) if is_delay => prop_assert_eq!(
                    wait,
                    Duration::from_secs(digits.parse::<u64>().unwrap_or(u64::MAX))
                ),
                Some(_) => prop_assert!(httpdate::parse_http_date(digits).is_ok(), "{v:?}"),
                None => prop_assert!(
                    !is_delay && httpdate::parse_http_date(digits).is_err(),
                    "{v:?} is readable but was refused"
                ),
            }
        }

        #[test]
        fn delay_seconds_round_trip(secs in any::<u64>(), now in any::<u64>()) {
            prop_assert_eq!(parse(&secs.to_string(), now), Some(Duration::from_secs(secs)));
        }

        /// An HTTP-date ACCS could send (whole seconds, 1970 to 9999) is the
        /// wait from `now` to it, or none once it has passed.
        #[test]
        fn http_dates_round_trip(at_s in 0u64..253_402_300_799, now_ms in 0u64..253_402_300_799_000) {
            let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(at_s));
            let want = (at_s * 1000).saturating_sub(now_ms);
            prop_assert_eq!(parse(&date, now_ms), Some(Duration::from_millis(want)), "{}", date);
        }
    }
}
