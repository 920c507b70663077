//! The retry policy of ACCS calls, as pure functions over plain data: which
//! outcomes may be retried for which method, the full-jitter backoff, and the
//! time budget of one call. Modelled on the AWS SDK standard retry mode and
//! gRPC's retry design: few attempts, jittered waits, a hard overall deadline.

use std::time::Duration;

/// Attempts per call, the first included. The one extra send after a 401
/// (with a freshly fetched token) does not count: it is an auth repair, not
/// a retry, and it happens at most once per call.
pub const MAX_ATTEMPTS: u32 = 3;
pub const BACKOFF_BASE: Duration = Duration::from_millis(200);
pub const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// We never wait longer than this for ACCS inside one request: a longer
/// `Retry-After` is not waited at all, the caller gets it back at once.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(20);
/// No single attempt waits longer than this for its answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// A retry is only worth it with this much budget left after the wait.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(100);

/// Methods that may be repeated after the server may have acted on them
/// (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS")
}

/// How one attempt ended, as far as retrying is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An answer with this status (never a 401: that is repaired before).
    Status(u16),
    /// Nothing reached ACCS (DNS, refused connection, TLS).
    NotSent,
    /// The attempt ran out of time; ACCS may have acted on it.
    TimedOut,
    /// The exchange broke after the request left.
    Broken,
    /// The answer was over the body cap: asking again would not shrink it.
    TooLarge,
}

/// Whether `outcome` may be retried for `method`. A 429 is a refusal before
/// any work, so every method retries it; 5xx, timeouts and broken exchanges
/// may have had effects, so only idempotent methods retry them; a POST is
/// otherwise retried only when nothing was sent.
pub fn retryable(method: &str, outcome: Outcome) -> bool {
    match outcome {
        Outcome::NotSent | Outcome::Status(429) => true,
        Outcome::Status(500 | 502 | 503 | 504) | Outcome::TimedOut | Outcome::Broken => {
            is_idempotent(method)
        }
        Outcome::Status(_) | Outcome::TooLarge => false,
    }
}

/// Full jitter: uniform in `[0, min(cap, base * 2^retry)]` from `random`,
/// where `retry` is 0 for the wait before the second attempt.
pub fn backoff(retry: u32, random: u64) -> Duration {
    let base = BACKOFF_BASE.as_millis() as u64;
    let cap = BACKOFF_CAP.as_millis() as u64;
    let ceiling = 1u64
        .checked_shl(retry)
        .map_or(cap, |f| base.saturating_mul(f).min(cap));
    Duration::from_millis(random % (ceiling + 1))
}

/// The time budget of one call (`accs_timeout_ms`), from its first attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    started_ms: u64,
    total_ms: u64,
}

impl Budget {
    pub fn new(started_ms: u64, total_ms: u64) -> Self {
        Budget {
            started_ms,
            total_ms,
        }
    }

    pub fn remaining(&self, now_ms: u64) -> Duration {
        let spent = now_ms.saturating_sub(self.started_ms);
        Duration::from_millis(self.total_ms.saturating_sub(spent))
    }

    /// The next attempt's timeout: 30 s, or what is left if that is less.
    pub fn attempt_timeout(&self, now_ms: u64) -> Duration {
        ATTEMPT_TIMEOUT.min(self.remaining(now_ms))
    }

    /// Whether waiting `wait` still leaves time for a useful attempt.
    pub fn fits(&self, now_ms: u64, wait: Duration) -> bool {
        wait.saturating_add(MIN_ATTEMPT) <= self.remaining(now_ms)
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Sleep this long, then try again.
    Wait(Duration),
    Stop(Stop),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// This outcome is final for this method.
    NotRetryable,
    /// All attempts are spent.
    Exhausted,
    /// The wait (`Retry-After` or backoff) does not fit the budget.
    NoTime { wait: Duration },
}

/// The decision after attempt number `attempts` (from 1) ended in `outcome`.
/// `asked` is ACCS's `Retry-After`, used instead of the backoff when present;
/// one over [`RETRY_AFTER_CAP`] or the remaining budget stops at once
/// (waiting 20 s of a 120 s ask would only earn another 429); `random` feeds
/// the jitter.
pub fn next(
    method: &str,
    outcome: Outcome,
    attempts: u32,
    asked: Option<Duration>,
    random: u64,
    budget: &Budget,
    now_ms: u64,
) -> Step {
    if !retryable(method, outcome) {
        return Step::Stop(Stop::NotRetryable);
    }
    if attempts >= MAX_ATTEMPTS {
        return Step::Stop(Stop::Exhausted);
    }
    let wait = match asked {
        Some(a) => a,
        None => backoff(attempts.saturating_sub(1), random),
    };
    if wait <= RETRY_AFTER_CAP && budget.fits(now_ms, wait) {
        Step::Wait(wait)
    } else {
        Step::Stop(Stop::NoTime { wait })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn which_outcomes_are_retried_for_which_methods() {
        use Outcome::*;
        // (outcome, GET, PUT, DELETE, POST, PATCH)
        for (outcome, expected) in [
            (Status(429), [true, true, true, true, true]),
            (Status(500), [true, true, true, false, false]),
            (Status(502), [true, true, true, false, false]),
            (Status(503), [true, true, true, false, false]),
            (Status(504), [true, true, true, false, false]),
            (NotSent, [true, true, true, true, true]),
            (TimedOut, [true, true, true, false, false]),
            (Broken, [true, true, true, false, false]),
            (TooLarge, [false; 5]),
            (Status(501), [false; 5]),
            (Status(302), [false; 5]),
            (Status(400), [false; 5]),
            (Status(403), [false; 5]),
            (Status(404), [false; 5]),
            (Status(200), [false; 5]),
        ] {
            for (method, want) in ["GET", "PUT", "DELETE", "POST", "PATCH"]
                .into_iter()
                .zip(expected)
            {
                assert_eq!(retryable(method, outcome), want, "{method} {outcome:?}");
            }
        }
    }

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_capped_ceiling() {
        // The ceilings: 200, 400, 800, 1600, 3200, then the 5 s cap.
        for (retry, ceiling) in [
            (0, 200),
            (1, 400),
            (2, 800),
            (3, 1600),
            (4, 3200),
            (5, 5000),
        ] {
            assert_eq!(backoff(retry, 0), MS(0));
            assert_eq!(backoff(retry, ceiling), MS(ceiling), "retry {retry}");
            assert_eq!(backoff(retry, ceiling + 1), MS(0), "retry {retry}");
            assert_eq!(backoff(retry, u64::MAX), MS(u64::MAX % (ceiling + 1)));
        }
        for retry in [6, 63, 64, 1_000, u32::MAX] {
            assert!(backoff(retry, u64::MAX - 7) <= BACKOFF_CAP, "retry {retry}");
        }
    }

    /// The wait schedule a seeded generator yields, one draw per retry.
    fn schedule(mut seed: u64) -> Vec<Duration> {
        (0..6)
            .map(|retry| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                backoff(retry, seed)
            })
            .collect()
    }

    #[test]
    fn backoff_with_seeded_jitter_is_reproducible_and_bounded() {
        let waits = schedule(0x9E37_79B9_7F4A_7C15);
        assert_eq!(waits, schedule(0x9E37_79B9_7F4A_7C15));
        assert_ne!(waits, schedule(42), "the jitter depends on the draw");
        for (retry, wait) in waits.iter().enumerate() {
            assert!(
                *wait <= MS((200u64 << retry).min(5_000)),
                "retry {retry}: {wait:?}"
            );
        }
    }

    #[test]
    fn budget_counts_from_the_first_attempt() {
        let b = Budget::new(1_000, 5_000);
        assert_eq!(b.remaining(1_000), MS(5_000));
        assert_eq!(b.remaining(4_000), MS(2_000));
        assert_eq!(b.remaining(9_000), MS(0));
        assert_eq!(b.remaining(0), MS(5_000), "a clock going back is no gift");
        assert_eq!(b.attempt_timeout(1_000), MS(5_000));
        let long = Budget::new(0, 300_000);
        // docs/RETRIES.md: "no single attempt waits more than 30 s".
        assert_eq!(long.attempt_timeout(0), Duration::from_secs(30));
        assert_eq!(long.attempt_timeout(280_000), MS(20_000));
        assert!(b.fits(1_000, MS(4_900)));
        assert!(!b.fits(1_000, MS(4_901)));
        assert!(!b.fits(1_000, Duration::MAX));
    }

    #[test]
    fn next_step_follows_the_rules() {
        let b = Budget::new(0, 30_000);
        // Backoff when ACCS gave no Retry-After: retry index = attempts - 1.
        assert_eq!(
            next("GET", Outcome::Status(503), 1, None, 150, &b, 0),
            Step::Wait(MS(150))
        );
        assert_eq!(
            next("GET", Outcome::Status(503), 2, None, 350, &b, 0),
            Step::Wait(MS(350))
        );
        // Retry-After replaces the backoff up to 20 s; beyond, no wait at all.
        assert_eq!(
            next("POST", Outcome::Status(429), 1, Some(MS(1_000)), 7, &b, 0),
            Step::Wait(MS(1_000))
        );
        assert_eq!(
            next(
                "GET",
                Outcome::Status(429),
                1,
                Some(RETRY_AFTER_CAP),
                7,
                &b,
                0
            ),
            Step::Wait(RETRY_AFTER_CAP)
        );
        assert_eq!(
            next("GET", Outcome::Status(429), 1, Some(MS(20_001)), 7, &b, 0),
            Step::Stop(Stop::NoTime { wait: MS(20_001) })
        );
        assert_eq!(
            next("GET", Outcome::Status(429), 1, Some(MS(120_000)), 7, &b, 0),
            Step::Stop(Stop::NoTime { wait: MS(120_000) })
        );
        // Three attempts at most.
        assert_eq!(
            next("GET", Outcome::Status(503), 3, None, 1, &b, 0),
            Step::Stop(Stop::Exhausted)
        );
        assert_eq!(
            next("POST", Outcome::Status(500), 1, None, 1, &b, 0),
            Step::Stop(Stop::NotRetryable)
        );
        assert_eq!(
            next("POST", Outcome::TimedOut, 1, None, 1, &b, 0),
            Step::Stop(Stop::NotRetryable)
        );
        assert_eq!(
            next("POST", Outcome::NotSent, 1, None, 1, &b, 0),
            Step::Wait(MS(1))
        );
        // A wait that does not fit the budget stops at once.
        let small = Budget::new(0, 5_000);
        assert_eq!(
            next(
                "GET",
                Outcome::Status(429),
                1,
                Some(MS(120_000)),
                7,
                &small,
                0
            ),
            Step::Stop(Stop::NoTime { wait: MS(120_000) })
        );
        assert_eq!(
            next("GET", Outcome::Status(503), 1, None, 200, &small, 4_750),
            Step::Stop(Stop::NoTime { wait: MS(200) })
        );
    }
}
