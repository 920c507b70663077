//! What the component sent ACCS, held to Adobe's published schema
//! (`tests/reference/accs-schema.yaml`): each PUT and POST body the simulator
//! recorded on an endpoint it models, against the operation's `in: body`
//! schema with every object closed (`accs_sim::contract::check_request_body`).
//! The simulator already refuses what Magento's input processor refuses;
//! this is stricter: JSON types as the schema writes them, no key it lacks.

use accs_sim::Sim;
use accs_sim::contract::{check_request_body, operation_of};

/// Panics naming the first body the schema does not take; returns how many
/// were checked, so a test can say its writes were among them.
pub fn assert_outbound_bodies_match(sim: &Sim) -> usize {
    let mut checked = 0;
    for r in sim.requests() {
        if r.method != "PUT" && r.method != "POST" {
            continue;
        }
        let Some((method, path)) = operation_of(&r.route) else {
            continue;
        };
        if let Err(why) = check_request_body(method, path, r.body.as_bytes()) {
            panic!(
                "{} {}: {why}\n{}",
                r.method,
                r.raw_path,
                r.body.chars().take(2000).collect::<String>()
            );
        }
        checked += 1;
    }
    checked
}
