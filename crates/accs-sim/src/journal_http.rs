//! `GET /events/organizations/{org}/integrations/{integration}/{registration}`:
//! the Journaling API as Adobe documents it (AdobeDocs/adobe-io-events
//! `src/pages/guides/api/journaling-api.md`).
//!
//! - Auth: `x-api-key` (the credential's client id) and `Authorization:
//!   Bearer <OAuth server-to-server token>`. The doc also sends
//!   `x-ims-org-id`; the simulator records nothing of the headers and does
//!   not check the org. A missing or wrong key is 403, a token the
//!   simulator's IMS did not issue, or revoked or expired, is 401; the
//!   bodies are Adobe I/O gateway-shaped (`error_code`, `message`), which the
//!   journaling doc does not show. Scopes: the doc asks only that the
//!   project have the I/O Management API; `src/pages/guides/sdk/sdk-getting-started.md`
//!   says its token "must be created with `adobeio_api` scope". The
//!   simulator checks a scope only when told to
//!   ([`crate::io_events::IoEvents::journal_require_scope`]): 403 without it.
//! - 200: `{"events":[{"position","event"}],"_page":{"last","count"}}` and
//!   `Link: <path?since=<last>[&limit=N]>; rel="next"`, relative, `limit`
//!   kept as Adobe keeps it.
//! - 204 at the end: `retry-after` and the `next` link (the same since),
//!   plus a `rel="validate"` link as Adobe's; on a journal with no events at
//!   all, asked for the oldest, Adobe's example has no `retry-after`.
//! - 410 Gone with `Events at position <p> have expired.` (text).
//! - 400 for a `limit` that is not a positive integer, `seek` that is not an
//!   ISO 8601 duration, `seek` with `since`, or a position this journal
//!   never gave out.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use url::form_urlencoded;

use crate::journal::{Page, Start, parse_duration};
use crate::publish::{JournalRequest, now_ms};
use crate::state::Shared;

pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    Path((org, integration, registration)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let publisher = shared.lock().publisher.clone();
    let path = format!("/events/organizations/{org}/integrations/{integration}/{registration}");
    if path != publisher.journal_path() {
        return problem(StatusCode::NOT_FOUND, "404040", "Registration not found");
    }
    let required = publisher.lock().require_scope.clone();
    let (status, events, response) = match authorize(&shared, &headers, required.as_deref()) {
        Err((status, code, message)) => (status.as_u16(), 0, problem(status, code, message)),
        Ok(()) => answer(&publisher, &path, query.as_deref()),
    };
    let mut s = publisher.lock();
    s.counters.requests += 1;
    *s.counters.by_status.entry(status).or_default() += 1;
    s.counters.events_served += events as u64;
    s.requests.push(JournalRequest {
        query,
        status,
        events,
    });
    response
}

fn problem(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error_code": code, "message": message }).to_string(),
    )
        .into_response()
}

/// Why a request is refused: status, gateway error code, message.
type Denied = (StatusCode, &'static str, &'static str);

fn authorize(shared: &Shared, headers: &HeaderMap, scope: Option<&str>) -> Result<(), Denied> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match text("x-api-key") {
        None => {
            return Err((StatusCode::FORBIDDEN, "403000", "Api Key is required"));
        }
        Some(k) if k != shared.cfg.client_id => {
            return Err((StatusCode::FORBIDDEN, "403003", "Api Key is invalid"));
        }
        Some(_) => {}
    }
    let token = text(header::AUTHORIZATION.as_str())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, t)| scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty())
        .map(|(_, t)| t.trim());
    let Some(scopes) = token.and_then(|t| shared.token_scopes(t)) else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "401013",
            "Oauth token is not valid",
        ));
    };
    match scope {
        Some(s) if !scopes.iter().any(|have| have == s) => {
            Err((StatusCode::FORBIDDEN, "403025", "Profile is not valid"))
        }
        _ => Ok(()),
    }
}

fn bad_request(message: &str) -> (u16, usize, Response) {
    (400, 0, problem(StatusCode::BAD_REQUEST, "400", message))
}

/// The journal's answer to an authorized request: status, events listed, response.
fn answer(
    publisher: &crate::publish::Publisher,
    path: &str,
    query: Option<&str>,
) -> (u16, usize, Response) {
    let (mut since, mut limit, mut latest, mut seek) = (None, None, false, None);
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "since" => since = Some(v.into_owned()),
            "limit" => match v.parse::<usize>() {
                Ok(n) if n > 0 => limit = Some(n),
                _ => return bad_request("limit must be a positive integer"),
            },
            "latest" => latest = v == "true",
            "seek" => match parse_duration(&v) {
                Some(d) => seek = Some(d),
                None => return bad_request("seek must be an ISO 8601 duration"),
            },
            _ => {}
        }
    }
    let start = match (since, seek) {
        (Some(_), Some(_)) => return bad_request("seek and since cannot be used together"),
        (Some(p), None) => Start::Since(p),
        (None, Some(d)) => Start::Seek(d),
        (None, None) if latest => Start::Latest,
        (None, None) => Start::Oldest,
    };
    let (page, retry_after) = {
        let mut s = publisher.lock();
        let retry_after = s.journal.retry_after_secs;
        (s.journal.page(&start, limit, now_ms()), retry_after)
    };
    // Positions are `[a-z0-9:]` only, written raw as Adobe's links show them.
    let link = |rel: &str, suffix: &str, since: Option<&str>| {
        let mut q: Vec<String> = Vec::new();
        if let Some(p) = since {
            q.push(format!("since={p}"));
        }
        if let Some(n) = limit {
            q.push(format!("limit={n}"));
        }
        let sep = if q.is_empty() { "" } else { "?" };
        format!("<{path}{suffix}{sep}{}>; rel=\"{rel}\"", q.join("&"))
    };
    let with_links = |mut resp: Response, links: Vec<String>| {
        for l in links {
            if let Ok(v) = HeaderValue::try_from(l) {
                resp.headers_mut().append(header::LINK, v);
            }
        }
        resp
    };
    match page {
        Page::Events { body, last, count } => {
            let resp = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response();
            (
                200,
                count,
                with_links(resp, vec![link("next", "", Some(&last))]),
            )
        }
        Page::Nothing {
            next_since,
            empty_journal,
        } => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            if !empty_journal {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            let links = vec![
                link("next", "", next_since.as_deref()),
                link("validate", "/validate", next_since.as_deref()),
            ];
            (204, 0, with_links(resp, links))
        }
        Page::Gone(p) => (
            410,
            0,
            (
                StatusCode::GONE,
                [(header::CONTENT_TYPE, "text/plain")],
                format!("Events at position {p} have expired."),
            )
                .into_response(),
        ),
        Page::BadPosition => bad_request("invalid position"),
    }
}
