//! A dead letter sent again: its event to its target now, the same
//! `webhook-id`, a fresh timestamp and signature. The route
//! (`POST /v1/dead-letters/{id}/replay`) and the retry job share it; it sits
//! apart from `dead.rs` (the letters) and `deliver.rs` (the sending), which
//! it joins, so neither imports the other.

use super::dead::{DeadError, DeadLetters, Letter};
use crate::ports::Ports;

/// What a replay did.
#[derive(Debug)]
pub enum Replayed {
    /// The target answered 2xx: the letter is removed.
    Delivered { status: u16 },
    /// It failed again: the letter as updated.
    Failed { letter: Letter },
    /// No letter by this id.
    NotFound,
    /// The letter cannot be sent: its body was not kept, or its target is
    /// no longer in `forward_targets`.
    NotReplayable { why: &'static str },
}

/// Forwards a letter's event to its target now (same `webhook-id`, a fresh
/// timestamp and signature): a 2xx removes the letter, anything else counts
/// one more attempt on it. Callable by the route and by a retry job.
pub async fn replay<P: Ports>(
    ctx: &crate::accs::Ctx<'_, P>,
    dead: &DeadLetters,
    id: &str,
) -> Result<Replayed, DeadError> {
    let Some(letter) = dead.letter(ctx.ports, id).await? else {
        return Ok(Replayed::NotFound);
    };
    let Some(target) = ctx.settings.forward.target(&letter.target) else {
        return Ok(Replayed::NotReplayable {
            why: "its target is no longer in `forward_targets`",
        });
    };
    let Some(body) = dead.body(ctx.ports, &letter).await? else {
        return Ok(Replayed::NotReplayable {
            why: "its event's body was larger than a dead letter keeps (256 KiB), so it was not kept",
        });
    };
    let attempt = super::deliver::send_once(ctx, target, &letter.event_id, &body).await;
    match attempt {
        Some(super::outcome::Attempt::Delivered(status)) => {
            dead.delete(ctx.ports, id).await?;
            Ok(Replayed::Delivered { status })
        }
        other => {
            let (status, reason) = match &other {
                Some(super::outcome::Attempt::Refused(s)) => (
                    Some(*s),
                    format!("replayed: the target refused it with {s}"),
                ),
                Some(super::outcome::Attempt::Transient { status, reason, .. }) => {
                    (*status, format!("replayed: {reason}"))
                }
                _ => (
                    None,
                    "replayed: no time left in this request to send it".into(),
                ),
            };
            match dead.failed_again(ctx.ports, id, status, &reason).await? {
                Some(letter) => Ok(Replayed::Failed { letter }),
                None => Ok(Replayed::NotFound),
            }
        }
    }
}
