//! The job routes' variables (`/v1/jobs/{name}`, docs/ROUTES.md): the
//! journal's URL from the Developer Console (`journal_url`), the run's time
//! budget (`jobs_timeout_ms`), events per journal page (`journal_limit`) and
//! what a `410 Gone` does to the stored position (`journal_on_gone`).
//!
//! Errors name the variable, never the value.

use super::error::{ConfigError, err};
use super::parse::number;
use super::urls::upstream_url;
use super::variables::Number;
use url::Url;

/// One run's budget. Akamai Functions ends a request at 30 s; 20 s leaves
/// the answer, the lease's release and a slow last page well inside it.
pub const JOBS_TIMEOUT_MS: Number = Number {
    name: "jobs_timeout_ms",
    default: 20_000,
    min: 1_000,
    max: 25_000,
};

/// Events asked per journal page (`limit`, which Adobe keeps in the `next`
/// link: AdobeDocs/adobe-io-events `src/pages/guides/api/journaling-api.md`,
/// "Limiting the size of the batch"). 20 is what one batch push delivery
/// holds; each event costs the ledger about 4 to 6 writes, so a page of 20
/// stays near Akamai's 50 writes/s per app even when every event is new.
pub const JOURNAL_LIMIT: Number = Number {
    name: "journal_limit",
    default: 20,
    min: 1,
    max: 500,
};

/// How far back `journal_on_gone = seek` starts again: inside the ledger's
/// memory (`routes::events::MAX_AGE_MS`, 23 h 55 min), so what it re-reads
/// is either a duplicate the ledger knows or an event it may apply.
pub const SEEK_BACK: &str = "-PT23H";

/// What the journal job does when the stored position has expired (`410
/// Gone`: events are kept 7 days, journaling-api.md "Fetching expired
/// events"; Adobe's answer is to reset the position "from the oldest
/// available position or the latest").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnGone {
    /// Start again from the end of the journal (`latest=true`): what was
    /// published meanwhile and not pushed is skipped.
    Latest,
    /// Start again [`SEEK_BACK`] ago (`seek=-PT23H`): the events of the
    /// ledger's window are read again; duplicates are known, the rest land.
    Seek,
}

impl OnGone {
    pub fn as_str(self) -> &'static str {
        match self {
            OnGone::Latest => "latest",
            OnGone::Seek => "seek",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobsConfig {
    /// The registration's journaling endpoint; `None`: no journal job.
    pub journal_url: Option<Url>,
    pub timeout_ms: u64,
    pub journal_limit: u32,
    pub on_gone: OnGone,
}

/// From `get` (trimmed, `None` when unset or blank).
pub fn from_lookup(
    get: impl Fn(&'static str) -> Option<String>,
    allow_http: bool,
) -> Result<JobsConfig, ConfigError> {
    let journal_url = match get("journal_url") {
        None => None,
        Some(raw) => Some(journal_url(&raw, allow_http)?),
    };
    let on_gone = match get("journal_on_gone").as_deref() {
        None | Some("seek") => OnGone::Seek,
        Some("latest") => OnGone::Latest,
        Some(_) => return Err(err("journal_on_gone", "must be `seek` or `latest`")),
    };
    Ok(JobsConfig {
        journal_url,
        timeout_ms: number(get(JOBS_TIMEOUT_MS.name), &JOBS_TIMEOUT_MS)?,
        journal_limit: number(get(JOURNAL_LIMIT.name), &JOURNAL_LIMIT)? as u32,
        on_gone,
    })
}

/// The journaling endpoint as the Developer Console shows it
/// (`https://events.adobe.io/events/organizations/<org>/integrations/<integration>/<registration id>`):
/// an https URL with a path and no query, which the job extends with
/// `limit` and later replaces with Adobe's `next` links of the same origin.
fn journal_url(raw: &str, allow_http: bool) -> Result<Url, ConfigError> {
    const NAME: &str = "journal_url";
    let url = upstream_url(NAME, raw, allow_http)?;
    if url.query().is_some() {
        return Err(err(
            NAME,
            "must not have a query: the job adds `limit` and follows Adobe's `next` links",
        ));
    }
    if url.path().trim_matches('/').is_empty() {
        return Err(err(
            NAME,
            "must be the registration's journaling endpoint from the Developer Console (https://events.adobe.io/events/organizations/.../integrations/.../<registration id>)",
        ));
    }
    Ok(url)
}
