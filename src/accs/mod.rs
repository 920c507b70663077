//! The ACCS client every route uses: the URL guard, headers, the token and
//! the 401 rule, retries within a time budget, and the mapping of ACCS
//! answers to our problem codes.
//!
//! `Ctx::call` is the one way out to ACCS. It checks the URL (`guard`), then
//! tries up to [`retry::MAX_ATTEMPTS`] times within `accs_timeout_ms`,
//! waiting by `Retry-After` or full-jitter backoff (`retry`, `retry_after`),
//! and maps what it got (`problems`).

pub mod bulk;
mod guard;
pub mod limits;
mod operation;
pub mod path;
mod problems;
pub mod product_schema;
pub mod retry;
pub mod retry_after;

#[cfg(test)]
pub use problems::answered_from_memory;
pub use problems::map_status;

use crate::config::Settings;
use crate::denials::{self, Refusal};
use crate::ims::Tokens;
use crate::ims::validate::Verdict;
use crate::ports::{OutRequest, OutResponse, Ports, SendError};
use crate::problem::Code;
use crate::problem::Problem;
use crate::trace::Trace;
use retry::{Budget, Outcome, Step, Stop};
use std::cell::Cell;
use std::time::Duration;

/// Everything a route needs to call upstream, borrowed for one request.
pub struct Ctx<'a, P> {
    pub settings: &'a Settings,
    pub ports: &'a P,
    pub tokens: &'a Tokens,
    pub trace: &'a Trace,
    /// The inbound route template: what a denial is remembered under only
    /// for an ACCS path no route builds (`operation.rs`).
    pub route: &'static str,
    /// The whole inbound request's ACCS time (`accs_timeout_ms`), shared by
    /// every call it makes: a sync of many batches gets one budget, not one
    /// per batch.
    pub budget: Budget,
    /// The request's latest wall-clock reading (ms): its start, then the end
    /// of each call. Checks between two host calls use it instead of asking
    /// the host again (a warm read asks 3 times instead of 9).
    pub clock: Cell<u64>,
    /// How many calls of this request a remembered denial answered, ACCS
    /// never asked: an I/O Events event refused so is not final.
    pub denied_from_memory: Cell<u32>,
}

/// One ACCS call: `path_and_query` starts with `/V1/` and is already encoded.
/// Whether it may be retried after ACCS may have acted on it follows from
/// `method` ([`retry::is_idempotent`]).
pub struct Call {
    pub method: &'static str,
    pub path_and_query: String,
    pub body: Option<Vec<u8>>,
}

impl Call {
    pub fn new(method: &'static str, path_and_query: String, body: Option<Vec<u8>>) -> Self {
        Call {
            method,
            path_and_query,
            body,
        }
    }

    pub fn get(path_and_query: String) -> Self {
        Call::new("GET", path_and_query, None)
    }

    /// A JSON body sent with `PUT`: retried like a `GET`.
    pub fn put(path_and_query: String, body: Vec<u8>) -> Self {
        Call::new("PUT", path_and_query, Some(body))
    }

    /// A JSON body sent with `POST`: retried only when nothing was sent (or
    /// on a 429, which ACCS answers before doing anything).
    pub fn post(path_and_query: String, body: Vec<u8>) -> Self {
        Call::new("POST", path_and_query, Some(body))
    }

    pub fn delete(path_and_query: String) -> Self {
        Call::new("DELETE", path_and_query, None)
    }
}

impl<'a, P: Ports> Ctx<'a, P> {
    /// A request's context, its budget and clock starting at `started`
    /// (wall-clock ms).
    pub fn new(
        settings: &'a Settings,
        ports: &'a P,
        tokens: &'a Tokens,
        trace: &'a Trace,
        route: &'static str,
        started: u64,
    ) -> Self {
        Ctx {
            settings,
            ports,
            tokens,
            trace,
            route,
            budget: Budget::new(started, settings.accs_timeout_ms),
            clock: Cell::new(started),
            denied_from_memory: Cell::new(0),
        }
    }

    /// Sends `call` with a token, retrying by the rules of [`retry`] within
    /// what is left of the request's budget. A URL outside the tenant's
    /// `/V1/` is a 400 before anything, even a token request, goes out.
    ///
    /// A 401 ([`denials`]): to an older token never refused here before, the
    /// token is renewed once (kept until the new one is in hand) and the call
    /// sent once more, not counted as an attempt. To a token seconds old, or
    /// again after the renewal, IMS is asked whether the token is valid
    /// (once per token and route; `ims/validate.rs`): valid, it is the
    /// integration's role lacking the resource: 403 `accs_forbidden`, the
    /// token kept, the denial remembered for [`denials::REMEMBER_MS`] in
    /// memory and in the store, so repeats cost no upstream call at all, on
    /// any build; not valid, the token is renewed once and the call sent
    /// once more. A denial is remembered per deployment (`accs_base_url`)
    /// and ACCS operation (method and Magento's path template).
    pub async fn call(&self, call: &Call) -> Result<OutResponse, Problem> {
        self.call_in(call, None).await
    }

    /// [`Ctx::call`] for the passthrough: a denial is remembered under the
    /// `passthrough_allow` rule that let the call through (`rule`), so a `*`
    /// in a rule cannot make one remembered scope per path.
    pub async fn call_as(&self, call: &Call, rule: &str) -> Result<OutResponse, Problem> {
        self.call_in(call, Some(rule)).await
    }

    async fn call_in(&self, call: &Call, rule: Option<&str>) -> Result<OutResponse, Problem> {
        let url = guard::upstream_url(&self.settings.accs_base_url, &call.path_and_query)?;
        // Built only when a denial is at stake: most calls never need it.
        let scope_cell = std::cell::OnceCell::new();
        let scope = || scope_cell.get_or_init(|| self.scope(call, rule)).as_str();
        // The wall clock is read when something may have taken time (a
        // token from a store or IMS, a send, a backoff): the latest reading
        // of this request serves every check in between.
        let mut now = self.clock.get();
        let denied = |now| {
            let d = &self.tokens.denials;
            if d.is_empty() {
                return None;
            }
            // ACCS never sees this request: marked so in the detail, and
            // counted for the I/O Events route.
            let p = d.active(scope(), now).map(|r| problems::remembered(&r));
            if p.is_some() {
                self.denied_from_memory
                    .set(self.denied_from_memory.get().saturating_add(1));
            }
            p
        };
        if let Some(p) = denied(now) {
            return Err(p);
        }
        let budget = self.budget;
        let mut repaired = false;
        let mut attempts = 0;
        loop {
            if budget.attempt_timeout(now).is_zero() {
                return Err(crate::problem::budget_spent());
            }
            let (token, started) = match self.tokens.fresh(now, self.trace) {
                Some(token) => (token, now),
                None => {
                    let token = self
                        .tokens
                        .get_within(self.settings, self.ports, self.trace, now, self.deadline())
                        .await?;
                    let started = self.ports.now_ms();
                    // A token from the store brings the denials its record
                    // remembers (the WASI 0.2 build learns them only so).
                    if let Some(p) = denied(started) {
                        return Err(p);
                    }
                    (token, started)
                }
            };
            let timeout = budget.attempt_timeout(started);
            if timeout.is_zero() {
                return Err(crate::problem::budget_spent());
            }
            let res;
            (res, now) = self.send(call, &url, &token, timeout, started).await;
            if let Ok(r) = &res
                && r.status == 401
            {
                self.after_401(scope(), &token, repaired, &r.body).await?;
                now = self.clock.get();
                repaired = true;
                continue;
            }
            attempts += 1;
            let res = match res {
                Ok(r) if (200..300).contains(&r.status) => return Ok(r),
                other => other,
            };
            let outcome = match &res {
                Ok(r) => Outcome::Status(r.status),
                Err(SendError::Connect(_)) => Outcome::NotSent,
                Err(SendError::Timeout) => Outcome::TimedOut,
                Err(SendError::TooLarge(_)) => Outcome::TooLarge,
                Err(SendError::Other(_)) => Outcome::Broken,
            };
            let asked = res
                .as_ref()
                .ok()
                .and_then(|r| r.header("retry-after"))
                .and_then(|v| retry_after::parse(v, now));
            let step = retry::next(
                call.method,
                outcome,
                attempts,
                asked,
                self.random(),
                &budget,
                now,
            );
            match step {
                Step::Wait(wait) => {
                    self.ports.sleep(wait).await;
                    now = self.ports.now_ms();
                    self.clock.set(now);
                }
                Step::Stop(stop) => return Err(give_up(&res, stop, asked, now)),
            }
        }
    }

    /// ACCS answered 401 to `token` on `scope`: `Ok` when the token was
    /// renewed and the call may go once more, else the problem to answer.
    /// `repaired`: this call renewed its token for a 401 already.
    async fn after_401(
        &self,
        scope: &str,
        token: &str,
        repaired: bool,
        body: &[u8],
    ) -> Result<(), Problem> {
        let tokens = self.tokens;
        let now = self.clock.get();
        let before = tokens.denials.refused(scope, token);
        // Refused here before while IMS held it valid, or IMS called it
        // valid under 30 s ago (here or, through the record, in another
        // instance): the role, without asking IMS again.
        if before || tokens.held_valid(token, now) {
            return Err(self.deny(scope, token, body).await);
        }
        // Before IMS is asked about the refused token: another instance may
        // have replaced it in the store already.
        if !repaired
            && tokens
                .take_newer_shared(token, self.settings, self.ports, self.trace)
                .await
        {
            self.clock.set(self.ports.now_ms());
            return Ok(());
        }
        let renew = || async {
            tokens
                .renew(
                    token,
                    self.settings,
                    self.ports,
                    self.trace,
                    self.deadline(),
                )
                .await?;
            self.clock.set(self.ports.now_ms());
            Ok(())
        };
        if denials::classify(repaired, tokens.is_young(token, now), before) == Refusal::Token {
            return renew().await;
        }
        let left = self.budget.remaining(now);
        match tokens
            .validate(token, self.settings, self.ports, self.trace, left)
            .await
        {
            Verdict::Valid => Err(self.deny(scope, token, body).await),
            Verdict::Invalid if !repaired => renew().await,
            // A token IMS issued moments ago and already disowns.
            Verdict::Invalid => Err(problems::auth_failed()),
            Verdict::Unknown => {
                self.clock.set(self.ports.now_ms());
                Err(Problem::new(
                    Code::ImsUnavailable,
                    "ACCS refused the token and Adobe IMS could not say whether it is still valid; try again shortly",
                )
                .with_retry_after(tokens.ims_down_for_s(self.ports.now_ms())))
            }
        }
    }

    /// The role lacks the resource ACCS names: 403, remembered. Without
    /// Magento's ACL message the credential itself is refused (scope,
    /// product profile), and nothing is remembered.
    async fn deny(&self, scope: &str, token: &str, body: &[u8]) -> Problem {
        let p = match problems::denied_resource(body) {
            Some(resource) => {
                self.tokens
                    .remember_denial(scope, &resource, token, self.settings, self.ports)
                    .await;
                problems::forbidden(&resource)
            }
            None => problems::auth_failed(),
        };
        self.clock.set(self.ports.now_ms());
        p
    }

    /// When the request's budget ends (wall-clock ms).
    fn deadline(&self) -> u64 {
        let now = self.clock.get();
        now.saturating_add(self.budget.remaining(now).as_millis() as u64)
    }

    /// What a denial is remembered under: this deployment's
    /// `accs_base_url` (the record is shared by every deployment with the
    /// same IMS credential, staging and production on one store included),
    /// then the ACCS operation: the method and Magento's path template (one
    /// ACCS route, one ACL resource), the passthrough's allow rule, or, for a
    /// path no route builds, the method and the inbound route.
    fn scope(&self, call: &Call, rule: Option<&str>) -> String {
        let base = self.settings.accs_base_url.as_str();
        match (rule, operation::template(&call.path_and_query)) {
            (Some(rule), _) => format!("{base} passthrough {rule}"),
            (None, Some(template)) => format!("{base} {} {template}", call.method),
            (None, None) => format!("{base} {} route {}", call.method, self.route),
        }
    }

    /// Whether the request's budget still has room for a call.
    pub fn budget_left(&self) -> bool {
        !self.budget.attempt_timeout(self.ports.now_ms()).is_zero()
    }

    /// One attempt, sent at `started` (wall-clock ms); returns its result
    /// and the time it ended.
    async fn send(
        &self,
        call: &Call,
        url: &str,
        token: &str,
        timeout: Duration,
        started: u64,
    ) -> (Result<OutResponse, SendError>, u64) {
        let s = self.settings;
        let mut headers = vec![
            ("authorization", format!("Bearer {token}")),
            ("x-api-key", s.ims_client_id.clone()),
            ("store", s.accs_store_code.clone()),
            ("accept", "application/json".to_owned()),
            ("x-request-id", self.trace.request_id.clone()),
        ];
        headers.extend(self.trace.upstream_headers(self.ports));
        if let Some(org) = &s.ims_org_id {
            headers.push(("x-gw-ims-org-id", org.clone()));
        }
        if call.body.is_some() {
            headers.push(("content-type", "application/json".to_owned()));
        }
        let req = OutRequest {
            method: call.method,
            url: url.to_owned(),
            headers,
            body: call.body.clone().unwrap_or_default(),
        };
        let res = self.ports.send(req, timeout).await;
        let ended = self.ports.now_ms();
        self.clock.set(ended);
        self.trace.upstream(
            "accs",
            res.as_ref().map_or(0, |r| r.status),
            ended.saturating_sub(started),
        );
        (res, ended)
    }

    /// One draw for the backoff jitter.
    fn random(&self) -> u64 {
        let mut b = [0u8; 8];
        self.ports.fill_random(&mut b);
        u64::from_le_bytes(b)
    }
}

/// The problem for the last attempt's result once retrying stops.
fn give_up(
    last: &Result<OutResponse, SendError>,
    stop: Stop,
    asked: Option<Duration>,
    now_ms: u64,
) -> Problem {
    match (last, stop) {
        // ACCS gave no Retry-After and our own backoff did not fit: tell the
        // caller that wait instead.
        (Ok(r), Stop::NoTime { wait }) if r.status == 429 && asked.is_none() => {
            problems::rate_limited(retry_after::caller_seconds(wait))
        }
        (Ok(r), _) => map_status(r, now_ms),
        (Err(e), _) => problems::send_error(e),
    }
}

#[cfg(test)]
mod tests;
