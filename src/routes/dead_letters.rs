//! `GET /v1/dead-letters`, `POST /v1/dead-letters/{id}/replay`,
//! `DELETE /v1/dead-letters/{id}`: the forwarded events no target took
//! (docs/FORWARDING.md). Filled in by issue #33.

use crate::accs::Ctx;
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use crate::wire::{InRequest, InResponse};

fn not_yet() -> Problem {
    Problem::new(
        Code::WebhookNotConfigured,
        "dead letters are not available on this build yet",
    )
}

pub async fn list<P: Ports>(ctx: &Ctx<'_, P>, req: &InRequest) -> Result<InResponse, Problem> {
    let _ = (ctx, req);
    Err(not_yet())
}

pub async fn replay<P: Ports>(ctx: &Ctx<'_, P>, id: &str) -> Result<InResponse, Problem> {
    let _ = (ctx, id);
    Err(not_yet())
}

pub async fn delete<P: Ports>(ctx: &Ctx<'_, P>, id: &str) -> Result<InResponse, Problem> {
    let _ = (ctx, id);
    Err(not_yet())
}
