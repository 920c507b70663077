//! RFC 9457 `application/problem+json` errors with stable, snake_case codes.
//!
//! Callers branch on `code`, never on `detail`, so codes are a public contract:
//! add new ones, never rename. Details name what was wrong (a variable, a header,
//! a parameter) and never carry a secret, a token or an upstream credential.

use serde::Serialize;
use serde_json::Value;

/// The stable error codes of the inbound API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Unauthorized,
    InvalidRequest,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed,
    Forbidden,
    /// The API key is valid but lacks the scope the route needs (RFC 6750).
    InsufficientScope,
    ConfigInvalid,
    ImsAuthFailed,
    ImsUnavailable,
    AccsAuthFailed,
    AccsRateLimited,
    AccsUnavailable,
    AccsError,
    /// ACCS refused this resource to the integration's role (Magento's ACL 401).
    AccsForbidden,
    /// The request's time budget (`accs_timeout_ms`) ended before the call.
    AccsTimeout,
    WebhookNotConfigured,
    /// The webhook ledger could not be read or written (or a record did not
    /// authenticate): replay protection fails closed, nothing is sent.
    LedgerUnavailable,
    /// An Adobe I/O Events public key could not be fetched: the delivery's
    /// signature cannot be checked now, nothing is sent, I/O Events retries.
    EventsKeyUnavailable,
    Conflict,
    Internal,
    /// ACCS knows no bulk by this uuid (`GET /v1/bulk/{uuid}`).
    BulkNotFound,
    /// No dead letter by this id (`/v1/dead-letters/{id}`).
    DeadLetterNotFound,
    /// The dead letters cannot be read or written here (no store on this
    /// host, a store failure, an entry that does not authenticate).
    DeadLettersUnavailable,
    /// A dead letter that cannot be sent again: its body was not kept, or
    /// its target is no longer configured.
    DeadLetterNotReplayable,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthorized => "unauthorized",
            Code::InvalidRequest => "invalid_request",
            Code::PayloadTooLarge => "payload_too_large",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::Forbidden => "forbidden",
            Code::InsufficientScope => "insufficient_scope",
            Code::ConfigInvalid => "config_invalid",
            Code::ImsAuthFailed => "ims_auth_failed",
            Code::ImsUnavailable => "ims_unavailable",
            Code::AccsAuthFailed => "accs_auth_failed",
            Code::AccsRateLimited => "accs_rate_limited",
            Code::AccsUnavailable => "accs_unavailable",
            Code::AccsError => "accs_error",
            Code::AccsForbidden => "accs_forbidden",
            Code::AccsTimeout => "accs_timeout",
            Code::WebhookNotConfigured => "webhook_not_configured",
            Code::LedgerUnavailable => "ledger_unavailable",
            Code::EventsKeyUnavailable => "io_events_key_unavailable",
            Code::Conflict => "conflict",
            Code::Internal => "internal_error",
            Code::BulkNotFound => "bulk_not_found",
            Code::DeadLetterNotFound => "dead_letter_not_found",
            Code::DeadLettersUnavailable => "dead_letters_unavailable",
            Code::DeadLetterNotReplayable => "dead_letter_not_replayable",
        }
    }

    /// The status a code has unless the problem says otherwise (`accs_error`
    /// carries ACCS's own status, `accs_unavailable` may be a 504).
    pub fn default_status(self) -> u16 {
        match self {
            Code::Unauthorized => 401,
            Code::InvalidRequest => 400,
            Code::PayloadTooLarge => 413,
            Code::NotFound | Code::BulkNotFound | Code::DeadLetterNotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::Forbidden | Code::InsufficientScope | Code::AccsForbidden => 403,
            Code::AccsTimeout => 504,
            Code::ConfigInvalid | Code::Internal => 500,
            Code::ImsAuthFailed | Code::AccsAuthFailed | Code::AccsUnavailable => 502,
            Code::ImsUnavailable
            | Code::WebhookNotConfigured
            | Code::LedgerUnavailable
            | Code::EventsKeyUnavailable
            | Code::DeadLettersUnavailable => 503,
            Code::Conflict | Code::DeadLetterNotReplayable => 409,
            Code::AccsRateLimited => 429,
            Code::AccsError => 400,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Code::Unauthorized => "Unauthorized",
            Code::InvalidRequest => "Invalid request",
            Code::PayloadTooLarge => "Payload too large",
            Code::NotFound => "Not found",
            Code::MethodNotAllowed => "Method not allowed",
            Code::Forbidden => "Forbidden",
            Code::InsufficientScope => "Insufficient scope",
            Code::ConfigInvalid => "Configuration invalid",
            Code::ImsAuthFailed => "Adobe IMS rejected the credentials",
            Code::ImsUnavailable => "Adobe IMS unavailable",
            Code::AccsAuthFailed => "ACCS rejected the access token",
            Code::AccsRateLimited => "ACCS rate limit",
            Code::AccsUnavailable => "ACCS unavailable",
            Code::AccsError => "ACCS error",
            Code::AccsForbidden => "ACCS denied the resource",
            Code::AccsTimeout => "ACCS time budget spent",
            Code::WebhookNotConfigured => "Webhooks not configured",
            Code::LedgerUnavailable => "Webhook ledger unavailable",
            Code::EventsKeyUnavailable => "I/O Events public key unavailable",
            Code::Conflict => "Delivery in progress",
            Code::Internal => "Internal error",
            Code::BulkNotFound => "Bulk not found",
            Code::DeadLetterNotFound => "Dead letter not found",
            Code::DeadLettersUnavailable => "Dead letters unavailable",
            Code::DeadLetterNotReplayable => "Dead letter cannot be replayed",
        }
    }
}

/// One error answer, before it is given a request id and serialized.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub code: Code,
    pub status: u16,
    pub detail: String,
    /// Seconds, sent as `Retry-After` so callers back off by the book.
    pub retry_after: Option<u64>,
    /// ACCS's own `message` and `parameters`, kept for `accs_error`.
    /// Boxed, like `errors`, to keep `Result<_, Problem>` small.
    pub upstream: Option<Box<Value>>,
    /// Methods a 405 answer lists in `Allow`.
    pub allow: Option<&'static str>,
    /// Itemised input errors, e.g. each bad index of a batch.
    pub errors: Option<Box<Value>>,
    /// The scope an `insufficient_scope` answer names in `WWW-Authenticate`.
    pub scope: Option<&'static str>,
}

impl Problem {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Problem {
            code,
            status: code.default_status(),
            detail: detail.into(),
            retry_after: None,
            upstream: None,
            allow: None,
            errors: None,
            scope: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_upstream(mut self, upstream: Value) -> Self {
        self.upstream = Some(Box::new(upstream));
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(Code::InvalidRequest, detail)
    }

    pub fn not_found() -> Self {
        Problem::new(Code::NotFound, "no route matches this path")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut p = Problem::new(
            Code::MethodNotAllowed,
            format!("this route accepts {allow}"),
        );
        p.allow = Some(allow);
        p
    }

    /// The JSON body, with the request id the answer carries in its header.
    pub fn to_json(&self, request_id: &str) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "type")]
            kind: String,
            title: &'static str,
            status: u16,
            detail: &'a str,
            code: &'static str,
            request_id: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            upstream: Option<&'a Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            errors: Option<&'a Value>,
        }
        let body = Body {
            kind: format!("https://accs-edge.dev/problems/{}", self.code.as_str()),
            title: self.code.title(),
            status: self.status,
            detail: &self.detail,
            code: self.code.as_str(),
            request_id,
            upstream: self.upstream.as_deref(),
            errors: self.errors.as_deref(),
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// The request's time budget (`accs_timeout_ms`) was spent before this call
/// (or its next attempt) could start: nothing more was sent.
pub fn budget_spent() -> Problem {
    Problem::new(
        Code::AccsTimeout,
        "the request's time budget for ACCS (accs_timeout_ms) ended before this call was sent",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_rfc_9457_members_and_our_code() {
        let p = Problem::new(Code::ConfigInvalid, "variable `api_keys` is missing");
        let v: Value = serde_json::from_slice(&p.to_json("req-1")).unwrap();
        assert_eq!(v["status"], 500);
        assert_eq!(v["code"], "config_invalid");
        assert_eq!(v["title"], "Configuration invalid");
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["detail"], "variable `api_keys` is missing");
        assert!(v["type"].as_str().unwrap().ends_with("/config_invalid"));
        assert!(v.get("upstream").is_none());
    }

    #[test]
    fn accs_error_keeps_status_and_upstream_message() {
        let upstream = serde_json::json!({"message": "No such entity.", "parameters": []});
        let p = Problem::new(Code::AccsError, "ACCS answered 404")
            .with_status(404)
            .with_upstream(upstream.clone());
        let v: Value = serde_json::from_slice(&p.to_json("r")).unwrap();
        assert_eq!(v["status"], 404);
        assert_eq!(v["upstream"], upstream);
    }

    #[test]
    fn every_code_has_a_distinct_snake_case_name() {
        use Code::*;
        let all = [
            Unauthorized,
            InvalidRequest,
            PayloadTooLarge,
            NotFound,
            MethodNotAllowed,
            Forbidden,
            InsufficientScope,
            ConfigInvalid,
            ImsAuthFailed,
            ImsUnavailable,
            AccsAuthFailed,
            AccsRateLimited,
            AccsUnavailable,
            AccsError,
            AccsForbidden,
            AccsTimeout,
            WebhookNotConfigured,
            LedgerUnavailable,
            EventsKeyUnavailable,
            Conflict,
            Internal,
            BulkNotFound,
            DeadLetterNotFound,
            DeadLettersUnavailable,
            DeadLetterNotReplayable,
        ];
        let mut names: Vec<_> = all.iter().map(|c| c.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
