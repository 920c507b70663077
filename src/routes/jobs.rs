//! `GET` and `POST /v1/jobs/{name}`: one named job run within a budget, for
//! a schedule outside the edge (Akamai's `spin aka cron`, a Kubernetes
//! CronJob, a systemd timer: docs/DEPLOY.md). The edge has no scheduler of
//! its own; a job does what one budget allows and says when to call again.
//!
//! - **The registry.** [`registry`] lists the jobs: a name, whether it can
//!   run on this deployment, and its run. Adding a job is one entry there.
//! - **The budget.** `jobs_timeout_ms` (20 s by default, at most 25 s:
//!   Akamai Functions ends a request at 30 s), and never more than
//!   `accs_timeout_ms`.
//! - **One run at a time.** A job runs under its lease in the store
//!   (`lease.rs`: exact with `kv-cas` and with files, best effort on the
//!   default build); a second run meanwhile answers 409 `job_running` with
//!   `Retry-After`.
//! - **The answer.** A JSON summary: the job, its `result`, what it
//!   handled, and `retry_after_s`, when calling again is useful (0: now,
//!   there is more). A run that could not do its work answers a problem
//!   (RFC 9457) carrying the same members.
//! - **Auth.** API key with `jobs.run`, in `Authorization`, or as `?key=`
//!   for an `api_keys` entry marked `+query` (routes/mod.rs, auth.rs).

pub mod dead_letters;
pub mod journal;
pub mod lease;
pub mod link;
pub mod store;

use crate::accs::Ctx;
use crate::config::Settings;
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use crate::webhook::ledger::{Ledger, Where};
use crate::wire::{InRequest, InResponse};
use serde_json::{Map, Value, json};
use std::future::Future;
use std::pin::Pin;

/// What the jobs may use of the instance's state.
pub struct Needs<'a> {
    /// The I/O Events ledger: the journal's events are deduplicated in it.
    pub events_ledger: Option<&'a Ledger>,
}

/// A job's run, boxed so that the registry is a plain table.
pub type Run<P> = for<'c> fn(
    &'c Ctx<'c, P>,
    &'c Needs<'c>,
    &'c store::Store,
) -> Pin<Box<dyn Future<Output = Report> + 'c>>;

/// One job of the registry.
pub struct Job<P> {
    pub name: &'static str,
    /// Why it cannot run on this deployment, if it cannot (answered before
    /// the lease is taken).
    pub ready: fn(&Settings, &Needs<'_>) -> Option<Problem>,
    pub run: Run<P>,
}

/// Every job. One entry per job.
pub fn registry<P: Ports>() -> [Job<P>; 2] {
    [
        Job {
            name: journal::NAME,
            ready: journal::ready,
            run: |ctx, needs, store| Box::pin(journal::run(ctx, needs, store)),
        },
        Job {
            name: dead_letters::NAME,
            ready: dead_letters::ready,
            run: |ctx, needs, _store| Box::pin(dead_letters::run(ctx, needs)),
        },
    ]
}

/// The jobs' names, for the 404's detail and the docs.
pub fn names<P: Ports>() -> Vec<&'static str> {
    registry::<P>().iter().map(|j| j.name).collect()
}

/// A run's budget: `jobs_timeout_ms`, or `accs_timeout_ms` when shorter.
pub fn budget_ms(settings: &Settings) -> u64 {
    settings.jobs.timeout_ms.min(settings.accs_timeout_ms)
}

/// What a run did.
pub struct Report {
    /// `nothing_new`, `caught_up`, `more`, `pending`, or the problem's code.
    pub result: &'static str,
    /// When calling again is useful, in seconds (0: now).
    pub retry_after_s: u64,
    /// The job's counts.
    pub counts: Map<String, Value>,
    /// Why the run could not do its work.
    pub problem: Option<Failure>,
}

/// A run's problem: one of ours ([`Problem`]), or one of a job's own codes.
pub enum Failure {
    Shared(Problem),
    Own {
        code: &'static str,
        title: &'static str,
        status: u16,
        detail: String,
    },
}

impl Report {
    pub fn ok(result: &'static str, retry_after_s: u64) -> Report {
        Report {
            result,
            retry_after_s,
            counts: Map::new(),
            problem: None,
        }
    }

    pub fn problem(p: Problem) -> Report {
        Report {
            result: p.code.as_str(),
            retry_after_s: p.retry_after.unwrap_or(0),
            counts: Map::new(),
            problem: Some(Failure::Shared(p)),
        }
    }

    pub fn job_problem(
        code: &'static str,
        title: &'static str,
        status: u16,
        detail: String,
    ) -> Report {
        Report {
            result: code,
            retry_after_s: 0,
            counts: Map::new(),
            problem: Some(Failure::Own {
                code,
                title,
                status,
                detail,
            }),
        }
    }
}

pub async fn run<P: Ports>(
    ctx: &Ctx<'_, P>,
    needs: &Needs<'_>,
    name: &str,
    req: &InRequest,
) -> Result<InResponse, Problem> {
    // GET (a cron can only GET) and POST do the same; neither reads a body.
    let _ = req;
    let jobs = registry::<P>();
    let Some(job) = jobs.iter().find(|j| j.name == name) else {
        return Err(Problem::new(
            Code::NotFound,
            format!("no such job; the jobs are: {}", names::<P>().join(", ")),
        ));
    };
    if let Some(p) = (job.ready)(ctx.settings, needs) {
        return Err(p);
    }
    let place = needs
        .events_ledger
        .map_or(Where::Missing, |l| l.place().clone());
    if place == Where::Missing {
        return Err(Problem::new(
            Code::WebhookNotConfigured,
            "set `token_cache_dir` to run jobs here: this host's key-value store keeps nothing beyond one instance, and a job's lease and position live in that directory",
        ));
    }
    let Some(store) = store::Store::new(ctx.settings, place) else {
        return Err(Problem::new(Code::ConfigInvalid, "no IMS client secret"));
    };
    let hold = budget_ms(ctx.settings).saturating_add(lease::MARGIN_MS);
    let held = match lease::take(&store, ctx.ports, job.name, hold).await {
        Ok(Ok(held)) => held,
        Ok(Err(retry_after_s)) => {
            let mut r = Report::job_problem(
                "job_running",
                "Job already running",
                409,
                "another run of this job holds its lease; this one did nothing".into(),
            );
            r.retry_after_s = retry_after_s;
            return Ok(answer(ctx, job.name, None, r));
        }
        Err(e) => {
            return Err(Problem::new(
                Code::LedgerUnavailable,
                format!(
                    "the job's lease could not be taken ({}); nothing was done",
                    e.describe()
                ),
            )
            .with_retry_after(30));
        }
    };
    let report = (job.run)(ctx, needs, &store).await;
    lease::release(&store, ctx.ports, &held).await;
    Ok(answer(ctx, job.name, Some(held.exact), report))
}

/// The run's answer: 200 and the summary, or the problem with the summary's
/// members beside its own.
fn answer<P: Ports>(ctx: &Ctx<'_, P>, job: &str, exact: Option<bool>, r: Report) -> InResponse {
    let mut body = match &r.problem {
        None => Map::new(),
        Some(Failure::Shared(p)) => match serde_json::from_slice(&p.to_json(&ctx.trace.request_id))
        {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        },
        Some(Failure::Own {
            code,
            title,
            status,
            detail,
        }) => match json!({
            "type": format!("https://accs-edge.dev/problems/{code}"),
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "request_id": ctx.trace.request_id,
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    };
    body.insert("job".into(), job.into());
    body.insert("result".into(), r.result.into());
    body.insert("retry_after_s".into(), r.retry_after_s.into());
    if let Some(exact) = exact {
        body.insert(
            "lease".into(),
            if exact { "exact" } else { "best_effort" }.into(),
        );
    }
    for (k, v) in r.counts {
        body.insert(k, v);
    }
    let bytes = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
    let (status, content_type) = match &r.problem {
        None => (200, "application/json"),
        Some(Failure::Shared(p)) => (p.status, "application/problem+json"),
        Some(Failure::Own { status, .. }) => (*status, "application/problem+json"),
    };
    let mut headers = vec![
        ("content-type", content_type.to_owned()),
        ("cache-control", "no-store".to_owned()),
    ];
    if r.problem.is_some() && r.retry_after_s > 0 {
        headers.push(("retry-after", r.retry_after_s.to_string()));
    }
    InResponse {
        status,
        headers,
        body: bytes,
    }
}

#[cfg(test)]
mod tests;
