//! `POST /ims/token/v3`: the client-credentials flow of Adobe IMS; and
//! `POST /ims/validate_token/v1`, which says whether a token is still good.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use url::form_urlencoded;

use crate::state::{Shared, TokenStatus};
use crate::types::{Framing, RecordedTokenRequest, RecordedValidation};

const FORM: &str = "application/x-www-form-urlencoded";

/// The faults every IMS endpoint shares: waits the configured latency, then
/// says whether IMS is in an outage.
async fn ims_faults(shared: &Shared) -> bool {
    let (latency, outage) = {
        let inner = shared.lock();
        (inner.faults.ims_latency_ms, inner.faults.ims_outage)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    outage
}

/// `Retry-After` seconds when IMS is rate-limiting token requests.
fn rate_limited(shared: &Shared) -> Option<u64> {
    shared.lock().faults.ims_rate_limited
}

pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outage = ims_faults(&shared).await;

    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_form = content_type.as_deref().is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(FORM))
    });
    let form = if is_form {
        parse_form(&body)
    } else {
        HashMap::new()
    };
    let scopes: Vec<String> = form
        .get("scope")
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();

    let framing = Framing::of(&headers);
    let refuse_chunked = framing == Framing::Chunked && shared.lock().faults.require_content_length;
    let limited = rate_limited(&shared);
    let (status, body) = if refuse_chunked {
        (
            StatusCode::LENGTH_REQUIRED,
            json!({ "error": "invalid_request", "error_description": "Length Required" }),
        )
    } else if outage {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": "server_error" }),
        )
    } else if limited.is_some() {
        (
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "error": "too_many_requests" }),
        )
    } else {
        answer(&shared, is_form, &form, &scopes)
    };

    shared.lock().record_token_request(RecordedTokenRequest {
        content_type,
        grant_type: form.get("grant_type").cloned(),
        client_id: form.get("client_id").cloned(),
        scopes,
        status: status.as_u16(),
        framing,
        traceparent: headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        )],
        body.to_string(),
    )
        .into_response();
    if let (StatusCode::TOO_MANY_REQUESTS, Some(secs)) = (status, limited) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The checks in IMS's order: content type, grant type, client id, client
/// secret, then the scopes asked for.
fn answer(
    shared: &Shared,
    is_form: bool,
    form: &HashMap<String, String>,
    scopes: &[String],
) -> (StatusCode, Value) {
    let field = |name: &str| form.get(name).map(String::as_str);
    if !is_form {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    if field("grant_type") != Some("client_credentials") {
        return error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "unsupported grant_type parameter",
        );
    }
    let cfg = &shared.cfg;
    if field("client_id") != Some(cfg.client_id.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "invalid client_id parameter",
        );
    }
    let secret_ok =
        field("client_secret").is_some_and(|s| cfg.client_secrets.iter().any(|c| c == s));
    if !secret_ok {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "invalid client_secret parameter",
        );
    }
    // RFC 6749 §5.2: a requested scope beyond the grant is 400
    // `invalid_scope`. The status and code are OAuth's; IMS's own
    // `error_description` wording is not documented, so this one is ours.
    if let Some(extra) = scopes
        .iter()
        .find(|s| !cfg.granted_scopes.is_empty() && !cfg.granted_scopes.contains(s))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("invalid scope: {extra}"),
        );
    }
    let token = shared.issue_token(scopes.to_vec());
    let mut body = json!({ "access_token": token, "token_type": "bearer" });
    if let Some(secs) = cfg.expires_in {
        body["expires_in"] = secs.into();
    }
    (StatusCode::OK, body)
}

fn error(status: StatusCode, code: &str, description: &str) -> (StatusCode, Value) {
    (
        status,
        json!({ "error": code, "error_description": description }),
    )
}

/// First occurrence wins, like most form parsers.
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let mut form = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    form
}

/// `POST /ims/validate_token/v1`, as Adobe IMS answers it: the token as
/// `Authorization: Bearer` (or a `token` form field), the form
/// `type=access_token&client_id=<id>` (adobe/aio-lib-ims `src/ims.js`,
/// `_validateToken`), and `{"valid": true, ...}` or `{"valid": false,
/// "reason": ...}`. Valid unless revoked, expired, unknown or asked for by
/// another client. Counted in `token_validations`; an IMS outage is 503 here
/// too.
pub(crate) async fn validate(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outage = ims_faults(&shared).await;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let form = parse_form(&body);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let token = bearer.clone().or_else(|| form.get("token").cloned());
    let (status, body) = if outage {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": "server_error" }),
        )
    } else if let Some(token) = token {
        let client_ok = form.get("client_id") == Some(&shared.cfg.client_id);
        let valid = client_ok && !matches!(shared.token_status(&token), TokenStatus::Rejected);
        let body = if valid {
            json!({ "valid": true, "token": { "type": "access_token", "client_id": shared.cfg.client_id } })
        } else if client_ok {
            json!({ "valid": false, "reason": "invalid_token" })
        } else {
            json!({ "valid": false, "reason": "bad client_id" })
        };
        (StatusCode::OK, body)
    } else {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "missing token parameter",
        )
    };
    shared.lock().record_validation(RecordedValidation {
        content_type,
        token_type: form.get("type").cloned(),
        client_id: form.get("client_id").cloned(),
        bearer: bearer.is_some(),
        status: status.as_u16(),
        valid: body.get("valid").and_then(Value::as_bool),
    });
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        )],
        body.to_string(),
    )
        .into_response()
}
