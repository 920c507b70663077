//! Magento-shaped responses: JSON bodies and `{"message", "parameters"}` errors.
//!
//! Not modelled, on purpose: the `Store` header. The component sends the
//! configured `accs_store_code` there and the simulator records it (tests
//! assert what was sent), but what ACCS answers for a store view code it
//! does not know is written nowhere we could find: Adobe's ACCS REST pages
//! name the header without its errors, and Magento's own store resolution
//! for REST (`Magento\Webapi\Model\PathProcessor`, and its integration test
//! `testProcessWithValidStoreCode`) reads the code from the URL
//! (`rest/<code>/V1/...`), not from a header. So the simulator accepts any
//! `Store`, and no test depends on how an unknown one is answered.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const JSON_UTF8: &str = "application/json; charset=utf-8";

pub(crate) fn json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8))],
        body.to_string(),
    )
        .into_response()
}

pub(crate) fn ok(body: &Value) -> Response {
    json(StatusCode::OK, body)
}

/// A Magento error not yet rendered: small enough to travel in a `Result`.
pub(crate) struct Error {
    status: StatusCode,
    body: Value,
}

pub(crate) type Result<T = Response> = std::result::Result<T, Error>;

impl Error {
    pub fn with_body(status: StatusCode, body: Value) -> Error {
        Error { status, body }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        json(self.status, &self.body)
    }
}

/// `parameters` is a list for `%1`-style messages and an object for `%name`-style ones.
pub(crate) fn error(status: StatusCode, message: &str, parameters: Value) -> Error {
    Error::with_body(
        status,
        json!({ "message": message, "parameters": parameters }),
    )
}

/// Magento's one 401, for an unknown token and for a role lacking the route's resource
/// alike: `Magento\Webapi\Controller\Rest\RequestValidator::checkPermissions` throws
/// `AuthorizationException('The consumer isn\'t authorized to access %resources.',
/// ['resources' => implode(', ', $route->getAclResources())])`, which
/// `Magento\Framework\Webapi\ErrorProcessor` renders with HTTP 401.
pub(crate) fn unauthorized(resource: &str) -> Error {
    error(
        StatusCode::UNAUTHORIZED,
        "The consumer isn't authorized to access %resources.",
        json!({ "resources": resource }),
    )
}

/// 411, as a gateway that refuses chunked uploads answers.
pub(crate) fn length_required() -> Error {
    error(StatusCode::LENGTH_REQUIRED, "Length Required", json!([]))
}

pub(crate) fn missing_scope(scope: &str) -> Error {
    error(
        StatusCode::FORBIDDEN,
        "The access token is missing the required scope %1.",
        json!([scope]),
    )
}

pub(crate) fn no_route() -> Error {
    error(
        StatusCode::NOT_FOUND,
        "Request does not match any route.",
        json!([]),
    )
}

pub(crate) fn required_field(name: &str) -> Error {
    error(
        StatusCode::BAD_REQUEST,
        "\"%fieldName\" is required. Enter and try again.",
        json!({ "fieldName": name }),
    )
}

pub(crate) fn invalid_value(field: &str, value: &str) -> Error {
    error(
        StatusCode::BAD_REQUEST,
        "Invalid value of \"%value\" provided for the %fieldName field.",
        json!({ "value": value, "fieldName": field }),
    )
}

/// What Magento says when the request body is not JSON.
pub(crate) fn decoding_error() -> Error {
    error(
        StatusCode::BAD_REQUEST,
        "Decoding error: \nSyntax error",
        json!([]),
    )
}

/// The body for a scripted status that came without one.
pub(crate) fn default_body(status: StatusCode) -> Option<Value> {
    if status == StatusCode::UNAUTHORIZED {
        Some(json!({
            "message": "The consumer isn't authorized to access %resources.",
            "parameters": { "resources": "Magento_Catalog::products" },
        }))
    } else if status.as_u16() >= 400 {
        let reason = status.canonical_reason().unwrap_or("Error");
        Some(json!({ "message": reason, "parameters": [] }))
    } else {
        None
    }
}
