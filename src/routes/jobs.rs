//! `GET` and `POST /v1/jobs/{name}`: one named job run within the host's
//! budget, for a schedule outside the edge (Akamai cron, a Kubernetes
//! CronJob, a systemd timer). Filled in by issue #34.

use crate::accs::Ctx;
use crate::ports::Ports;
use crate::problem::Problem;
use crate::wire::{InRequest, InResponse};

pub async fn run<P: Ports>(
    ctx: &Ctx<'_, P>,
    name: &str,
    req: &InRequest,
) -> Result<InResponse, Problem> {
    let _ = (ctx, req, name);
    Err(Problem::not_found())
}
