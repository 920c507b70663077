//! The `dead-letters` job: replays the dead letters of targets that are
//! back, oldest first, within the run's budget (#34; docs/FORWARDING.md,
//! "Dead letters"). A schedule (Akamai cron, a CronJob, a systemd timer)
//! calling it every few minutes empties the letters a target's outage left,
//! with nobody calling `POST /v1/dead-letters/{id}/replay` by hand.
//!
//! - **Oldest first**, as `GET /v1/dead-letters` lists them, at most
//!   [`MAX_PER_RUN`] a run and only while the budget lasts: each replay is one
//!   forward attempt (`forward_timeout_ms` at most).
//! - **A target still down is asked once a run**: after its first failed
//!   replay its other letters wait for the next run, so a dead ERP costs
//!   one attempt per run, not one per letter. A failed replay counts one
//!   more attempt on its letter, as the route's does.
//! - A letter that cannot be sent (its body was not kept, or its target left
//!   `forward_targets`) is left for a person to see and delete: never
//!   removed unsent.

use super::{Needs, Report};
use crate::accs::Ctx;
use crate::forward::dead::{self, DeadLetters};
use crate::forward::replay::{self, Replayed};
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use serde_json::json;
use std::collections::BTreeSet;

pub const NAME: &str = "dead-letters";
/// Letters looked at in one run: the store's bound (`dead::MAX_LETTERS`)
/// at most, so one run can see every letter.
pub const MAX_PER_RUN: usize = dead::MAX_LETTERS;
/// When to call again after a target failed a replay: its outage is
/// likely to last minutes.
const FAILED_RETRY_AFTER_S: u64 = 300;

/// Why the job cannot run here: no forward targets, or no store for the letters.
pub fn ready(settings: &crate::config::Settings, _needs: &Needs<'_>) -> Option<Problem> {
    if settings.forward.targets.is_empty() {
        return Some(Problem::new(
            Code::WebhookNotConfigured,
            "set `forward_targets` (and `forward_rules`) to forward events: there are no dead letters to replay without them",
        ));
    }
    None
}

pub async fn run<P: Ports>(ctx: &Ctx<'_, P>, _needs: &Needs<'_>) -> Report {
    let letters = DeadLetters::new(ctx.settings, ctx.ports.kv_shared());
    let ids = match letters.oldest(ctx.ports, MAX_PER_RUN).await {
        Ok(ids) => ids,
        Err(e) => {
            return Report::problem(
                Problem::new(Code::DeadLettersUnavailable, e.to_string()).with_retry_after(30),
            );
        }
    };
    let (mut delivered, mut failed, mut waiting, mut unsendable) = (0u64, 0u64, 0u64, 0u64);
    let mut down: BTreeSet<String> = BTreeSet::new();
    let mut left = 0u64;
    for (i, id) in ids.iter().enumerate() {
        if !ctx.budget_left() {
            left = (ids.len() - i) as u64;
            break;
        }
        let target = match letters.letter(ctx.ports, id).await {
            Ok(Some(l)) => l.target,
            Ok(None) => continue,
            Err(e) => {
                return Report::problem(
                    Problem::new(Code::DeadLettersUnavailable, e.to_string()).with_retry_after(30),
                );
            }
        };
        if down.contains(&target) {
            waiting += 1;
            continue;
        }
        match replay::replay(ctx, &letters, id).await {
            Ok(Replayed::Delivered { .. }) => delivered += 1,
            Ok(Replayed::Failed { .. }) => {
                failed += 1;
                down.insert(target);
            }
            Ok(Replayed::NotReplayable { .. }) => unsendable += 1,
            Ok(Replayed::NotFound) => {}
            Err(e) => {
                return Report::problem(
                    Problem::new(Code::DeadLettersUnavailable, e.to_string()).with_retry_after(30),
                );
            }
        }
    }
    let (result, retry_after_s) = if left > 0 {
        ("more", 0)
    } else if failed > 0 || waiting > 0 {
        ("pending", FAILED_RETRY_AFTER_S)
    } else if delivered == 0 {
        ("nothing_new", FAILED_RETRY_AFTER_S)
    } else {
        ("caught_up", FAILED_RETRY_AFTER_S)
    };
    let mut r = Report::ok(result, retry_after_s);
    for (k, v) in [
        ("delivered", delivered),
        ("failed", failed),
        ("waiting_for_target", waiting),
        ("not_replayable", unsendable),
        ("left", left),
    ] {
        r.counts.insert(k.into(), json!(v));
    }
    r
}
