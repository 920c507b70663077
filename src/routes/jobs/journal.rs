//! The `journal` job: pulls the registration's I/O Events journal
//! (`journal_url`) and applies its events as pushed ones are applied
//! (`routes::events::apply`, `Source::Pulled`: the same actions, the same
//! ledger, so an event both pushed and pulled lands once).
//!
//! The Journaling API (AdobeDocs/adobe-io-events
//! `src/pages/guides/api/journaling-api.md`):
//! - the journal URL alone reads the oldest events; every answer carries
//!   `Link: <…?since=<position>>; rel="next"` (relative), which the job
//!   follows and never builds (`since` is exclusive: the link after a page
//!   starts after its last event); `limit` (`journal_limit`) is kept in it;
//! - `204 No Content` with `retry-after`: nothing newer yet; the run stops
//!   and says when to call again;
//! - `410 Gone`: the position's events expired (7 days); the position is
//!   reset as `journal_on_gone` says (`seek=-PT23H` or `latest=true`) and
//!   the answer is the `journal_gone` problem;
//! - auth: `Authorization: Bearer` with the OAuth server-to-server token
//!   accs-edge already holds for ACCS, `x-api-key` (the client id) and
//!   `x-ims-org-id`; the project needs the I/O Management API (its
//!   `adobeio_api` scope: docs/CONFIGURATION.md).
//!
//! The next link is kept in the store and moved only past a page whose
//! events are all settled (`Fate::settled`); a page with an event still
//! pending is read again by the next run, its settled events then being
//! duplicates the ledger answers without ACCS.
//!
//! Events older than the ledger's memory (`events::MAX_AGE_MS`, 23 h 55 min;
//! the journal keeps 7 days) are settled as `expired`, never applied: the
//! ledger may have forgotten that such an event was pushed and applied, and
//! an older upsert landing again could roll a newer one back. The journal
//! is a backstop for the last day; schedule the job every few minutes.

use super::link::{self, LinkError};
use super::store::{Store, StoreError};
use super::{Needs, Report};
use crate::accs::Ctx;
use crate::config::jobs::{OnGone, SEEK_BACK};
use crate::events::delivery::{self, Event};
use crate::ports::{OutRequest, OutResponse, Ports, SendError};
use crate::problem::{Code, Problem};
use crate::routes::events::{self, Fate, Source};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

pub const NAME: &str = "journal";
/// No page is asked for with less of the budget left: a page of events
/// needs a fetch and a ledger round per event.
const MIN_PAGE_MS: u64 = 2_000;
/// Pages one run reads at most, whatever the clock says: a journal that
/// kept answering pages without end (or a clock that stood still) stops
/// here, with `more`. 500 pages of `journal_limit` events is more than any
/// budget gets through.
const MAX_PAGES: u64 = 500;
/// `retry-after` of a 204 when Adobe sends none (its examples say 10).
const DEFAULT_RETRY_AFTER_S: u64 = 10;
/// When a failing journal should be asked again.
const UNAVAILABLE_RETRY_AFTER_S: u64 = 30;
/// When pending events should be tried again, if no event says.
const PENDING_RETRY_AFTER_S: u64 = 60;

/// Where the next run starts reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// Never read: the oldest events (the journal URL alone).
    Oldest,
    /// After a 410 with `journal_on_gone = latest`: `latest=true`.
    Latest,
    /// After a 410 with `journal_on_gone = seek`: `seek=-PT23H`.
    Seek,
    /// Adobe's `next` link, resolved on the journal's origin.
    Next(Url),
}

impl Position {
    /// The URL to ask. Only the journal URL and Adobe's query parameters:
    /// `limit`, `latest`, `seek`; a position is never built.
    pub fn url(&self, journal: &Url, limit: u32) -> Url {
        let mut url = match self {
            Position::Next(next) => return next.clone(),
            _ => journal.clone(),
        };
        {
            let mut q = url.query_pairs_mut();
            match self {
                Position::Latest => {
                    q.append_pair("latest", "true");
                }
                Position::Seek => {
                    q.append_pair("seek", SEEK_BACK);
                }
                _ => {}
            }
            q.append_pair("limit", &limit.to_string());
        }
        url
    }

    fn encode(&self, journal: &Url) -> Vec<u8> {
        let (kind, next) = match self {
            Position::Oldest => ("oldest", None),
            Position::Latest => ("latest", None),
            Position::Seek => ("seek", None),
            Position::Next(u) => ("next", Some(u.as_str())),
        };
        json!({"u": url_digest(journal), "p": kind, "n": next})
            .to_string()
            .into_bytes()
    }

    /// A stored position for this journal URL; `None` for anything else (a
    /// position of another journal URL is never followed).
    fn decode(bytes: &[u8], journal: &Url) -> Option<Position> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        if v["u"].as_str()? != url_digest(journal) {
            return None;
        }
        Some(match v["p"].as_str()? {
            "oldest" => Position::Oldest,
            "latest" => Position::Latest,
            "seek" => Position::Seek,
            "next" => Position::Next(link::resolve(journal, v["n"].as_str()?).ok()?),
            _ => return None,
        })
    }
}

fn url_digest(url: &Url) -> String {
    crate::config::hex(&Sha256::digest(url.as_str().as_bytes())[..8])
}

/// The stored position (`Oldest` when there is none, or it does not open).
pub async fn load<P: Ports>(
    store: &Store,
    ports: &P,
    journal: &Url,
) -> Result<Position, StoreError> {
    let name = store.name(NAME, "position");
    Ok(store
        .get(ports, &name)
        .await?
        .and_then(|b| {
            store
                .open(&name, &b)
                .and_then(|v| Position::decode(v, journal))
        })
        .unwrap_or(Position::Oldest))
}

async fn save<P: Ports>(
    store: &Store,
    ports: &P,
    journal: &Url,
    position: &Position,
) -> Result<(), StoreError> {
    let name = store.name(NAME, "position");
    let sealed = store.seal(&name, &position.encode(journal));
    store.put(ports, &name, sealed).await
}

/// Whether the job can run here; the problem to answer if not.
pub fn ready(settings: &crate::config::Settings, needs: &Needs<'_>) -> Option<Problem> {
    if settings.jobs.journal_url.is_none() {
        return Some(Problem::new(
            Code::WebhookNotConfigured,
            "set `journal_url` (the event registration's journaling endpoint, Developer Console) to run the journal job",
        ));
    }
    events::not_configured(settings, needs.events_ledger)
}

/// What the run counted.
#[derive(Default)]
struct Counts {
    pages: u64,
    events: u64,
    by_result: std::collections::BTreeMap<&'static str, u64>,
    unreadable: u64,
}

impl Counts {
    fn add(&mut self, fate: &Fate) {
        *self.by_result.entry(fate.result()).or_default() += 1;
    }

    fn json(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("pages".into(), self.pages.into());
        m.insert("events".into(), self.events.into());
        for r in [
            "landed",
            "accepted",
            "duplicate",
            "ignored",
            "expired",
            "refused",
            "pending",
        ] {
            let key = if r == "duplicate" { "duplicates" } else { r };
            m.insert(
                key.into(),
                self.by_result.get(r).copied().unwrap_or(0).into(),
            );
        }
        m.insert("unreadable".into(), self.unreadable.into());
        m
    }
}

pub async fn run<P: Ports>(ctx: &Ctx<'_, P>, needs: &Needs<'_>, store: &Store) -> Report {
    let settings = ctx.settings;
    let (Some(journal), Some(ledger)) = (settings.jobs.journal_url.as_ref(), needs.events_ledger)
    else {
        // `ready` refused this before the lease.
        return Report::problem(Problem::new(Code::WebhookNotConfigured, "no journal here"));
    };
    let mut counts = Counts::default();
    let finish = |counts: &Counts, mut r: Report| {
        r.counts = counts.json();
        r
    };
    let mut position = match load(store, ctx.ports, journal).await {
        Ok(p) => p,
        Err(e) => return finish(&counts, store_failed(&e)),
    };
    let mut renewed = false;
    loop {
        let now = ctx.ports.now_ms();
        if ctx.budget.remaining(now).as_millis() < u128::from(MIN_PAGE_MS)
            || counts.pages >= MAX_PAGES
        {
            return finish(&counts, Report::ok("more", 0));
        }
        let url = position.url(journal, settings.jobs.journal_limit);
        let (token, resp) = match fetch(ctx, &url).await {
            Ok(r) => r,
            Err(p) => return finish(&counts, Report::problem(p)),
        };
        let resp = match resp {
            Ok(resp) => resp,
            Err(e) => return finish(&counts, unavailable(&format!("{e}"), None)),
        };
        let next = link::next(
            journal,
            resp.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("link"))
                .map(|(_, v)| v.as_str()),
        );
        match resp.status {
            200 => {}
            204 => {
                let retry = resp
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(DEFAULT_RETRY_AFTER_S)
                    .clamp(1, 3600);
                // After `latest=true` or `seek`, the link holds the position
                // to go on from; at the end it is the same as the request's.
                if let Ok(next) = next {
                    let next = Position::Next(next);
                    if next != position
                        && let Err(e) = save(store, ctx.ports, journal, &next).await
                    {
                        return finish(&counts, store_failed(&e));
                    }
                }
                let result = if counts.events == 0 {
                    "nothing_new"
                } else {
                    "caught_up"
                };
                return finish(&counts, Report::ok(result, retry));
            }
            401 if !renewed => {
                renewed = true;
                let now = ctx.ports.now_ms();
                let deadline = now.saturating_add(ctx.budget.remaining(now).as_millis() as u64);
                if let Err(p) = ctx
                    .tokens
                    .renew(&token, settings, ctx.ports, ctx.trace, deadline)
                    .await
                {
                    return finish(&counts, Report::problem(p));
                }
                continue;
            }
            401 | 403 => return finish(&counts, forbidden(resp.status)),
            410 => return finish(&counts, gone(ctx, store, journal).await),
            429 | 500..=599 => {
                let retry = resp
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok());
                return finish(
                    &counts,
                    unavailable(&format!("the journal answered {}", resp.status), retry),
                );
            }
            status => {
                return finish(
                    &counts,
                    Report::job_problem(
                        "journal_refused",
                        "I/O Events journal refused the request",
                        502,
                        format!(
                            "the journal answered {status}: check `journal_url` (the registration's journaling endpoint); the stored position was kept"
                        ),
                    ),
                );
            }
        }
        let Some(page) = page_events(&resp.body) else {
            return finish(
                &counts,
                Report::job_problem(
                    "journal_malformed",
                    "I/O Events journal answer unreadable",
                    502,
                    "the journal's 200 answer is not `{\"events\":[{\"position\",\"event\"}]}`; the stored position was kept".into(),
                ),
            );
        };
        counts.pages += 1;
        counts.events += page.len() as u64;
        let mut readable = Vec::with_capacity(page.len());
        for event in page {
            match event {
                Some(e) => readable.push(e),
                None => {
                    counts.unreadable += 1;
                    unreadable_line(ctx);
                }
            }
        }
        let fates = events::apply(ctx, ledger, &readable, Source::Pulled, ctx.ports.now_ms()).await;
        for f in &fates {
            counts.add(f);
        }
        if let Some(stop) = fates.iter().find(|f| !f.settled()) {
            // Not past this page: the next run reads it again.
            let _ = stop;
            if !ctx.budget_left() {
                return finish(&counts, Report::ok("more", 0));
            }
            let retry = fates
                .iter()
                .filter(|f| !f.settled())
                .filter_map(Fate::retry_after)
                .max()
                .unwrap_or(PENDING_RETRY_AFTER_S)
                .clamp(1, 900);
            return finish(&counts, Report::ok("pending", retry));
        }
        let next = match next {
            Ok(next) => next,
            Err(e) => return finish(&counts, link_refused(e)),
        };
        position = Position::Next(next);
        if let Err(e) = save(store, ctx.ports, journal, &position).await {
            return finish(&counts, store_failed(&e));
        }
    }
}

/// One journal request with the token: the token sent, and the answer.
async fn fetch<P: Ports>(
    ctx: &Ctx<'_, P>,
    url: &Url,
) -> Result<(String, Result<OutResponse, SendError>), Problem> {
    let s = ctx.settings;
    let now = ctx.ports.now_ms();
    let deadline = now.saturating_add(ctx.budget.remaining(now).as_millis() as u64);
    let token = ctx
        .tokens
        .get_within(s, ctx.ports, ctx.trace, now, deadline)
        .await?;
    let mut headers = vec![
        ("authorization", format!("Bearer {token}")),
        ("x-api-key", s.ims_client_id.clone()),
        ("accept", "application/json".to_owned()),
        ("x-request-id", ctx.trace.request_id.clone()),
    ];
    if let Some(org) = &s.ims_org_id {
        headers.push(("x-ims-org-id", org.clone()));
    }
    headers.extend(ctx.trace.upstream_headers(ctx.ports));
    let started = ctx.ports.now_ms();
    let timeout = ctx.budget.attempt_timeout(started);
    let req = OutRequest {
        method: "GET",
        url: url.as_str().to_owned(),
        headers,
        body: Vec::new(),
    };
    let res = ctx.ports.send(req, timeout).await;
    let ended = ctx.ports.now_ms();
    ctx.clock.set(ended);
    ctx.trace.upstream(
        "io_events_journal",
        res.as_ref().map_or(0, |r| r.status),
        ended.saturating_sub(started),
    );
    Ok((token, res))
}

/// A page's events, in order; `None` for an entry that is not a CloudEvent
/// with an id (it cannot be deduplicated, so it is never applied).
fn page_events(body: &[u8]) -> Option<Vec<Option<Event>>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let list = v.get("events")?.as_array()?;
    Some(
        list.iter()
            .map(|entry| {
                let event = entry.get("event").filter(|e| e.is_object())?;
                let bytes = serde_json::to_vec(event).ok()?;
                delivery::parse(&bytes, None).ok()?.pop()
            })
            .collect(),
    )
}

fn unreadable_line<P: Ports>(ctx: &Ctx<'_, P>) {
    let line = json!({
        "level": "warn",
        "message": "a journal entry is not a CloudEvent with an id: skipped, never applied (it could not be deduplicated)",
        "request_id": ctx.trace.request_id,
    });
    ctx.ports.log(&line.to_string());
}

/// The position expired: reset it as `journal_on_gone` says, log, answer.
async fn gone<P: Ports>(ctx: &Ctx<'_, P>, store: &Store, journal: &Url) -> Report {
    let on_gone = ctx.settings.jobs.on_gone;
    let reset = match on_gone {
        OnGone::Latest => Position::Latest,
        OnGone::Seek => Position::Seek,
    };
    let saved = save(store, ctx.ports, journal, &reset).await;
    let what = match on_gone {
        OnGone::Latest => {
            "the next run starts at the end of the journal (`latest=true`): events published meanwhile that no push delivered are skipped"
        }
        OnGone::Seek => {
            "the next run starts 23 hours back (`seek=-PT23H`): events of the ledger's window are read again, duplicates are known"
        }
    };
    let line = json!({
        "level": "warn",
        "message": "I/O Events journal position expired (410 Gone: events are kept 7 days); position reset by journal_on_gone",
        "request_id": ctx.trace.request_id,
        "journal_on_gone": on_gone.as_str(),
        "reset_saved": saved.is_ok(),
    });
    ctx.ports.log(&line.to_string());
    if let Err(e) = saved {
        return store_failed(&e);
    }
    Report::job_problem(
        "journal_gone",
        "I/O Events journal position expired",
        502,
        format!(
            "the journal answered 410 Gone: the stored position is older than the journal's 7 days; journal_on_gone = {}: {what}",
            on_gone.as_str()
        ),
    )
}

fn forbidden(status: u16) -> Report {
    Report::job_problem(
        "journal_forbidden",
        "I/O Events journal refused the credential",
        502,
        format!(
            "the journal answered {status} to this credential's token: add the I/O Management API to the Developer Console project (Add to project > API > I/O Management API) and `adobeio_api` to `ims_scopes`"
        ),
    )
}

fn unavailable(why: &str, retry: Option<u64>) -> Report {
    let mut r = Report::job_problem(
        "journal_unavailable",
        "I/O Events journal unavailable",
        503,
        format!("{why}; the stored position was kept, events applied so far stay applied"),
    );
    r.retry_after_s = retry.unwrap_or(UNAVAILABLE_RETRY_AFTER_S).clamp(1, 3600);
    r
}

fn link_refused(e: LinkError) -> Report {
    let why = match e {
        LinkError::Missing => "the journal's answer has no `Link: <…>; rel=\"next\"`",
        LinkError::Malformed => "the journal's `next` link is not a URI reference",
        LinkError::OffOrigin => {
            "the journal's `next` link leads off journal_url's origin, and the token is never sent elsewhere"
        }
    };
    Report::job_problem(
        "journal_link_refused",
        "I/O Events journal link not followed",
        502,
        format!("{why}; the page's events were applied, the stored position was kept"),
    )
}

fn store_failed(e: &StoreError) -> Report {
    let mut r = Report::problem(Problem::new(
        Code::LedgerUnavailable,
        format!(
            "the store holding the job's position could not be used ({}); nothing more was done",
            e.describe()
        ),
    ));
    r.retry_after_s = 30;
    r
}
