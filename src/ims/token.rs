//! The IMS token exchange and the freshness rules, as pure functions.

use serde::{Deserialize, Serialize};

/// What IMS gives when `expires_in` is missing.
pub const DEFAULT_LIFETIME_S: u64 = 900;
/// A token with less than this left is never sent: it could expire in flight.
pub const MIN_REMAINING_MS: u64 = 60_000;
const MIN_WINDOW_MS: u64 = 5 * 60_000;

/// `Debug` leaves the token out (below): a held token may end up in a
/// `{:?}` (a test's failure message, a panic) and must not reach a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    #[serde(rename = "t")]
    pub access_token: String,
    #[serde(rename = "e")]
    pub expires_at_ms: u64,
    #[serde(rename = "l")]
    pub lifetime_ms: u64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &format_args!("***"))
            .field("expires_at_ms", &self.expires_at_ms)
            .field("lifetime_ms", &self.lifetime_ms)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Use it.
    Fresh,
    /// Use it, and one caller should refresh it now.
    Refresh,
    /// Too close to expiry (or past it) to send.
    Unusable,
}

impl Token {
    /// The refresh window: the larger of 10 % of the lifetime and five minutes,
    /// but never more than half the lifetime, so a short-lived token is not
    /// refreshed on every request.
    pub fn refresh_window_ms(&self) -> u64 {
        (self.lifetime_ms / 10)
            .max(MIN_WINDOW_MS)
            .min(self.lifetime_ms / 2)
    }

    /// `jitter_ms` moves the refresh earlier by up to a fifth of the window,
    /// so that instances holding the same token do not all refresh at once.
    pub fn freshness(&self, now_ms: u64, jitter_ms: u64) -> Freshness {
        let left = self.expires_at_ms.saturating_sub(now_ms);
        if left < self.min_remaining_ms() {
            return Freshness::Unusable;
        }
        let window = self.refresh_window_ms();
        let jitter = jitter_ms % (window / 5 + 1);
        if left <= window + jitter {
            Freshness::Refresh
        } else {
            Freshness::Fresh
        }
    }

    /// The first moment `freshness` answers `Refresh` (or `Unusable`).
    pub fn refresh_at_ms(&self, jitter_ms: u64) -> u64 {
        let window = self.refresh_window_ms();
        self.expires_at_ms
            .saturating_sub(window + jitter_ms % (window / 5 + 1))
    }

    /// The first moment `freshness` answers `Unusable`.
    pub fn unusable_at_ms(&self) -> u64 {
        self.expires_at_ms.saturating_sub(self.min_remaining_ms()) + 1
    }

    /// What must be left to send it: 60 s, or half the lifetime of a token
    /// IMS issued for under two minutes (else a token issued for 30 s would
    /// be unusable on arrival, sent anyway and fetched again on every
    /// request).
    pub fn min_remaining_ms(&self) -> u64 {
        MIN_REMAINING_MS.min(self.lifetime_ms / 2)
    }

    /// When IMS issued it (as far as its lifetime tells).
    pub fn issued_at_ms(&self) -> u64 {
        self.expires_at_ms.saturating_sub(self.lifetime_ms)
    }

    pub fn seconds_left(&self, now_ms: u64) -> u64 {
        self.expires_at_ms.saturating_sub(now_ms) / 1000
    }
}

/// The form body of a `client_credentials` request.
pub fn request_body(client_id: &str, client_secret: &str, scopes: &[String]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", client_id)
        .append_pair("client_secret", client_secret)
        .append_pair("scope", &scopes.join(","))
        .finish()
}

/// How a token request failed, with nothing secret in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImsError {
    /// IMS refused the credentials or the request; retrying will not help.
    #[error("IMS rejected the token request ({status}, `{error}`)")]
    Rejected { status: u16, error: String },
    /// IMS could not be reached or failed; a later try may work.
    #[error("IMS unavailable: {0}")]
    Unavailable(String),
}

impl ImsError {
    pub fn is_invalid_client(&self) -> bool {
        matches!(self, ImsError::Rejected { error, .. } if error == "invalid_client")
    }
}

#[derive(Deserialize)]
struct Success {
    access_token: String,
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Failure {
    error: Option<String>,
}

/// Reads IMS's answer. `expires_in` may be a number or a numeric string.
pub fn parse_response(status: u16, body: &[u8], now_ms: u64) -> Result<Token, ImsError> {
    match status {
        200..=299 => {
            let ok: Success = serde_json::from_slice(body)
                .map_err(|_| ImsError::Unavailable("IMS answered a malformed token".into()))?;
            if ok.access_token.is_empty() || !ok.access_token.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(ImsError::Unavailable(
                    "IMS answered an unusable token".into(),
                ));
            }
            let lifetime_s = match ok.expires_in {
                None | Some(serde_json::Value::Null) => DEFAULT_LIFETIME_S,
                Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(DEFAULT_LIFETIME_S),
                Some(serde_json::Value::String(s)) => s.parse().unwrap_or(DEFAULT_LIFETIME_S),
                Some(_) => DEFAULT_LIFETIME_S,
            };
            let lifetime_ms = lifetime_s.saturating_mul(1000);
            Ok(Token {
                access_token: ok.access_token,
                expires_at_ms: now_ms.saturating_add(lifetime_ms),
                lifetime_ms,
            })
        }
        408 | 429 | 500..=599 => Err(ImsError::Unavailable(format!("IMS answered {status}"))),
        _ => {
            let error = serde_json::from_slice::<Failure>(body)
                .ok()
                .and_then(|f| f.error)
                .filter(|e| {
                    e.len() <= 64 && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                })
                .unwrap_or_else(|| "unknown".to_owned());
            Err(ImsError::Rejected { status, error })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(lifetime_s: u64, issued_ms: u64) -> Token {
        Token {
            access_token: "tok".into(),
            expires_at_ms: issued_ms + lifetime_s * 1000,
            lifetime_ms: lifetime_s * 1000,
        }
    }

    #[test]
    fn window_is_ten_percent_or_five_minutes_whichever_is_larger() {
        assert_eq!(token(86_400, 0).refresh_window_ms(), 8_640_000);
        assert_eq!(token(3_000, 0).refresh_window_ms(), 300_000);
        assert_eq!(token(900, 0).refresh_window_ms(), 300_000);
        // Short-lived tokens refresh at half-life instead of always.
        assert_eq!(token(120, 0).refresh_window_ms(), 60_000);
    }

    #[test]
    fn freshness_at_each_boundary_plus_minus_one_second() {
        let t = token(86_400, 0); // window 8,640 s
        let refresh_at = (86_400 - 8_640) * 1000;
        assert_eq!(t.freshness(refresh_at - 1_000, 0), Freshness::Fresh);
        assert_eq!(t.freshness(refresh_at, 0), Freshness::Refresh);
        assert_eq!(t.freshness(refresh_at + 1_000, 0), Freshness::Refresh);
        let unusable_at = (86_400 - 60) * 1000;
        assert_eq!(t.freshness(unusable_at - 1_000, 0), Freshness::Refresh);
        assert_eq!(t.freshness(unusable_at + 1, 0), Freshness::Unusable);
        assert_eq!(t.freshness(unusable_at + 1_000, 0), Freshness::Unusable);
        assert_eq!(t.freshness(86_400_000 + 1_000, 0), Freshness::Unusable);
    }

    #[test]
    fn jitter_only_moves_the_refresh_earlier_and_by_at_most_a_fifth_of_the_window() {
        let t = token(900, 0); // window 300 s, jitter up to 60 s
        let refresh_at = 600_000;
        assert_eq!(t.freshness(refresh_at - 1_000, 0), Freshness::Fresh);
        assert_eq!(t.freshness(refresh_at - 1_000, 30_000), Freshness::Refresh);
        assert_eq!(t.freshness(refresh_at - 61_000, u64::MAX), Freshness::Fresh);
        for jitter in [0, 1, 59_999, 60_000, 1 << 40] {
            assert_eq!(t.freshness(refresh_at, jitter), Freshness::Refresh);
        }
    }

    #[test]
    fn refresh_and_unusable_moments_agree_with_freshness() {
        for (lifetime, jitter) in [(86_400, 0), (900, 59_999), (3_600, 12_345), (120, 7)] {
            let t = token(lifetime, 5_000);
            let at = t.refresh_at_ms(jitter);
            assert_eq!(t.freshness(at - 1, jitter), Freshness::Fresh);
            assert_eq!(t.freshness(at, jitter), Freshness::Refresh);
            let gone = t.unusable_at_ms();
            assert_eq!(t.freshness(gone - 1, jitter), Freshness::Refresh);
            assert_eq!(t.freshness(gone, jitter), Freshness::Unusable);
        }
    }

    #[test]
    fn form_body_encodes_every_field() {
        let body = request_body("id&x", "s=cr et", &["a".into(), "commerce.accs".into()]);
        assert_eq!(
            body,
            "grant_type=client_credentials&client_id=id%26x&client_secret=s%3Dcr+et&scope=a%2Ccommerce.accs"
        );
    }

    #[test]
    fn success_with_and_without_expires_in() {
        let t =
            parse_response(200, br#"{"access_token":"abc","expires_in":86399}"#, 1_000).unwrap();
        assert_eq!(t.expires_at_ms, 1_000 + 86_399_000);
        let t = parse_response(200, br#"{"access_token":"abc","token_type":"bearer"}"#, 0).unwrap();
        assert_eq!(t.lifetime_ms, 900_000);
        let t = parse_response(200, br#"{"access_token":"abc","expires_in":"60"}"#, 0).unwrap();
        assert_eq!(t.lifetime_ms, 60_000);
    }

    #[test]
    fn failures_keep_the_ims_code_and_nothing_else() {
        let e = parse_response(
            401,
            br#"{"error":"invalid_client","error_description":"invalid client_secret parameter"}"#,
            0,
        )
        .unwrap_err();
        assert!(e.is_invalid_client());
        assert_eq!(
            e.to_string(),
            "IMS rejected the token request (401, `invalid_client`)"
        );
        let e = parse_response(400, b"<html>secret-ish</html>", 0).unwrap_err();
        assert_eq!(
            e,
            ImsError::Rejected {
                status: 400,
                error: "unknown".into()
            }
        );
        assert!(matches!(
            parse_response(503, b"", 0),
            Err(ImsError::Unavailable(_))
        ));
        assert!(matches!(
            parse_response(200, b"{}", 0),
            Err(ImsError::Unavailable(_))
        ));
        assert!(matches!(
            parse_response(200, br#"{"access_token":"a b"}"#, 0),
            Err(ImsError::Unavailable(_))
        ));
    }
}
