//! Asking Adobe IMS whether an access token is still valid, as pure
//! functions: where the question goes, what it says, what the answer means.
//!
//! ACCS (Magento) answers the same 401 to a token it no longer accepts and to
//! a role that lacks one ACL resource, so a 401 alone cannot say whether to
//! fetch a new token. IMS can. The request is the one adobe/aio-lib-ims makes
//! (`src/ims.js`, `Ims#_validateToken`, at 4722305): `POST
//! /ims/validate_token/v1` on the IMS host, the token as `Authorization:
//! Bearer`, a form of `type` (the token's type, `access_token`) and
//! `client_id`, answered `{"valid": true, ...}` or `{"valid": false,
//! "reason": ...}`. aio-lib-ims sends that form as multipart (`form-data`);
//! we send it URL-encoded, as IMS takes every other form of ours
//! (`/ims/token/v3`).

use url::Url;

/// What IMS said of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// IMS holds it valid: a 401 to it is about the integration's role.
    Valid,
    /// IMS disowns it (revoked, expired, unknown): renew it.
    Invalid,
    /// No answer worth trusting (IMS down, slow, or saying something else).
    Unknown,
}

/// The validation endpoint on the token URL's origin
/// (`https://ims-na1.adobelogin.com/ims/validate_token/v1` by default).
pub fn url(token_url: &Url) -> String {
    // Written out rather than through `Url`'s setters, which would bring
    // their parser into every `.wasm` for one string.
    let host = token_url.host_str().unwrap_or_default();
    match token_url.port() {
        Some(port) => format!(
            "{}://{host}:{port}/ims/validate_token/v1",
            token_url.scheme()
        ),
        None => format!("{}://{host}/ims/validate_token/v1", token_url.scheme()),
    }
}

/// `type=access_token&client_id=<id>`, URL-encoded.
pub fn request_body(client_id: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("type", "access_token")
        .append_pair("client_id", client_id)
        .finish()
}

/// IMS's answer: a JSON object with a boolean `valid` decides, whatever the
/// status (IMS may say `{"valid":false}` with a 4xx); anything else, or a
/// 5xx, is no answer.
pub fn parse(status: u16, body: &[u8]) -> Verdict {
    if status >= 500 {
        return Verdict::Unknown;
    }
    let valid = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("valid").and_then(serde_json::Value::as_bool));
    match valid {
        Some(true) if status == 200 => Verdict::Valid,
        Some(false) => Verdict::Invalid,
        _ => Verdict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_goes_to_the_token_urls_origin_with_the_client_id() {
        let u = Url::parse("https://ims-na1.adobelogin.com/ims/token/v3?x=1").unwrap();
        assert_eq!(
            url(&u),
            "https://ims-na1.adobelogin.com/ims/validate_token/v1"
        );
        let u = Url::parse("http://127.0.0.1:9/ims/token/v3").unwrap();
        assert_eq!(url(&u), "http://127.0.0.1:9/ims/validate_token/v1");
        let u = Url::parse("https://[::1]:8443/x").unwrap();
        assert_eq!(url(&u), "https://[::1]:8443/ims/validate_token/v1");
        let u = Url::parse("https://ims.example:443/ims/token/v3").unwrap();
        assert_eq!(url(&u), "https://ims.example/ims/validate_token/v1");
        assert_eq!(
            request_body("id&x=1"),
            "type=access_token&client_id=id%26x%3D1"
        );
    }

    #[test]
    fn only_a_boolean_valid_decides() {
        assert_eq!(parse(200, br#"{"valid":true,"token":{}}"#), Verdict::Valid);
        assert_eq!(
            parse(200, br#"{"valid":false,"reason":"expired"}"#),
            Verdict::Invalid
        );
        assert_eq!(parse(400, br#"{"valid":false}"#), Verdict::Invalid);
        assert_eq!(parse(401, br#"{"valid":true}"#), Verdict::Unknown);
        assert_eq!(parse(503, br#"{"valid":false}"#), Verdict::Unknown);
        for body in [
            &b""[..],
            b"<html>",
            br#"{"valid":"yes"}"#,
            br#"{"error":"x"}"#,
        ] {
            assert_eq!(parse(200, body), Verdict::Unknown);
        }
    }
}
