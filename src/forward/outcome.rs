//! What one forward attempt's answer means for its (event, target) pair.
//!
//! A target answering 2xx took the event. 429, 408, 5xx, a timeout or no
//! answer may pass: the pair stays pending, and the I/O Events delivery is
//! answered 503 so that I/O Events brings it again. Any other status (a
//! 4xx, a redirect, which is never followed) will not change on a retry:
//! the pair is dead-lettered at once, so one broken target never gets the
//! registration disabled (I/O Events disables at 80 % failures).

use crate::ports::{OutResponse, SendError};

/// One attempt's meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx.
    Delivered(u16),
    /// Worth another attempt: the status (`None`: no answer), why, and the
    /// target's `Retry-After` in seconds when it gave one.
    Transient {
        status: Option<u16>,
        reason: String,
        retry_after_s: Option<u64>,
    },
    /// Refused for good.
    Refused(u16),
}

/// `now_ms` reads a `Retry-After` given as an HTTP date.
pub fn classify(result: &Result<OutResponse, SendError>, now_ms: u64) -> Attempt {
    match result {
        Ok(r) if (200..300).contains(&r.status) => Attempt::Delivered(r.status),
        Ok(r) if r.status == 429 || r.status == 408 || r.status >= 500 => Attempt::Transient {
            status: Some(r.status),
            reason: format!("the target answered {}", r.status),
            retry_after_s: r
                .header("retry-after")
                .and_then(|v| crate::accs::retry_after::parse(v, now_ms))
                .map(|d| d.as_secs()),
        },
        Ok(r) => Attempt::Refused(r.status),
        Err(SendError::Timeout) => Attempt::Transient {
            status: None,
            reason: "the target did not answer in time".into(),
            retry_after_s: None,
        },
        Err(SendError::Connect(_)) => Attempt::Transient {
            status: None,
            reason: "the target could not be reached".into(),
            retry_after_s: None,
        },
        // The answer's body was over the cap: its status was not read.
        Err(SendError::TooLarge(_)) => Attempt::Transient {
            status: None,
            reason: "the target's answer was too large to read".into(),
            retry_after_s: None,
        },
        Err(SendError::Other(_)) => Attempt::Transient {
            status: None,
            reason: "the request to the target failed".into(),
            retry_after_s: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::respond;

    #[test]
    fn statuses_and_failures() {
        for s in [200, 201, 202, 204, 299] {
            assert_eq!(classify(&respond(s, ""), 0), Attempt::Delivered(s));
        }
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert!(
                matches!(classify(&respond(s, ""), 0), Attempt::Transient { status: Some(x), .. } if x == s),
                "{s}"
            );
        }
        for s in [100, 301, 302, 304, 400, 401, 403, 404, 409, 410, 422] {
            assert_eq!(classify(&respond(s, ""), 0), Attempt::Refused(s), "{s}");
        }
        for e in [
            SendError::Timeout,
            SendError::Connect("refused".into()),
            SendError::TooLarge(1),
            SendError::Other("reset".into()),
        ] {
            assert!(matches!(
                classify(&Err(e), 0),
                Attempt::Transient { status: None, .. }
            ));
        }
        let mut busy = respond(503, "").unwrap();
        busy.headers.push(("retry-after".into(), "120".into()));
        assert!(matches!(
            classify(&Ok(busy), 0),
            Attempt::Transient {
                retry_after_s: Some(120),
                ..
            }
        ));
    }
}
