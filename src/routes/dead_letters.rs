//! `GET /v1/dead-letters`, `POST /v1/dead-letters/{id}/replay`,
//! `DELETE /v1/dead-letters/{id}`: the forwarded events no target took
//! (docs/FORWARDING.md), under the `dead_letters.manage` scope.
//!
//! - The list is paged oldest first: `?limit=1..100` (default 100) and
//!   `?after=<cursor>`, the `next` of the previous page.
//! - A replay forwards the letter's event now, with the same `webhook-id`:
//!   a 2xx removes the letter (200, `delivered`); anything else counts an
//!   attempt on it and answers 502 `failed` with the letter as it is now.
//! - A delete answers 204; an unknown id 404 `dead_letter_not_found`.
//!
//! Where no store outlives an instance (`wasmtime serve` without
//! `token_cache_dir`), or the store fails, 503 `dead_letters_unavailable`.

use super::responses::json;
use crate::accs::Ctx;
use crate::forward::dead::{self, DeadError, DeadLetters, MAX_PAGE};
use crate::forward::replay::{self, Replayed};
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use crate::wire::{InRequest, InResponse};
use serde_json::json;
use url::form_urlencoded;

fn unavailable(e: &DeadError) -> Problem {
    let p = Problem::new(Code::DeadLettersUnavailable, e.to_string());
    match e {
        DeadError::Missing => p,
        _ => p.with_retry_after(30),
    }
}

fn not_found() -> Problem {
    Problem::new(Code::DeadLetterNotFound, "no dead letter by this id")
}

/// The deployment's dead letters on this host's store (keys derived per
/// request, on these routes only).
fn store<P: Ports>(ctx: &Ctx<'_, P>) -> DeadLetters {
    DeadLetters::new(ctx.settings, ctx.ports.kv_shared())
}

pub async fn list<P: Ports>(ctx: &Ctx<'_, P>, req: &InRequest) -> Result<InResponse, Problem> {
    let letters_here = store(ctx);
    let (mut limit, mut after) = (MAX_PAGE, None);
    for (key, value) in form_urlencoded::parse(req.query.as_deref().unwrap_or("").as_bytes()) {
        match &*key {
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        Problem::bad_request(format!(
                            "`limit` must be a whole number from 1 to {MAX_PAGE}"
                        ))
                    })?;
            }
            "after" => {
                // The document's form exactly: 1 to 19 digits, so every
                // cursor it allows fits, and nothing else (`+5`) is read.
                let digits =
                    (1..=19).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
                after = Some(
                    value
                        .parse::<u64>()
                        .ok()
                        .filter(|_| digits)
                        .ok_or_else(|| {
                            Problem::bad_request(
                                "`after` must be the `next` cursor of a previous page (1 to 19 digits)",
                            )
                        })?,
                );
            }
            _ => {
                return Err(Problem::bad_request(
                    "unknown query parameter; use `limit` and `after`",
                ));
            }
        }
    }
    let page = letters_here
        .list(ctx.ports, after, limit)
        .await
        .map_err(|e| unavailable(&e))?;
    let letters: Vec<_> = page.letters.iter().map(dead::Letter::to_json).collect();
    let body = json!({
        "dead_letters": letters,
        "next": page.next.map(|n| n.to_string()),
        "total": page.total,
        "max_letters": dead::MAX_LETTERS,
    });
    Ok(json(200, serde_json::to_vec(&body).unwrap_or_default()))
}

pub async fn replay<P: Ports>(ctx: &Ctx<'_, P>, id: &str) -> Result<InResponse, Problem> {
    match replay::replay(ctx, &store(ctx), id)
        .await
        .map_err(|e| unavailable(&e))?
    {
        Replayed::NotFound => Err(not_found()),
        Replayed::NotReplayable { why } => Err(Problem::new(
            Code::DeadLetterNotReplayable,
            format!("this dead letter cannot be replayed: {why}"),
        )),
        Replayed::Delivered { status } => {
            let body = json!({"id": id, "result": "delivered", "status": status});
            Ok(json(200, serde_json::to_vec(&body).unwrap_or_default()))
        }
        Replayed::Failed { letter } => {
            let body = json!({"id": id, "result": "failed", "dead_letter": letter.to_json()});
            Ok(json(502, serde_json::to_vec(&body).unwrap_or_default()))
        }
    }
}

pub async fn delete<P: Ports>(ctx: &Ctx<'_, P>, id: &str) -> Result<InResponse, Problem> {
    match store(ctx).delete(ctx.ports, id).await {
        Ok(true) => Ok(InResponse {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }),
        Ok(false) => Err(not_found()),
        Err(e) => Err(unavailable(&e)),
    }
}

#[cfg(test)]
mod tests {
    use crate::forward::dead::{DeadLetters, NewLetter};
    use crate::routes::App;
    use crate::testing::{FakePorts, TEST_API_KEY, respond, settings};
    use crate::wire::InRequest;
    use futures::executor::block_on;
    use serde_json::Value;

    const S1: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn app(status: u16) -> App<FakePorts> {
        let ports = FakePorts::new(move |_, _| respond(status, ""));
        let targets = format!("erp=https://erp.example/in {S1}");
        App::new(ports, settings(&[("forward_targets", &targets)]))
    }

    fn call(app: &App<FakePorts>, method: &str, path: &str, query: Option<&str>) -> (u16, Value) {
        let req = InRequest {
            method: method.into(),
            path: path.into(),
            query: query.map(str::to_owned),
            headers: vec![("authorization".into(), format!("Bearer {TEST_API_KEY}"))],
            body: Vec::new(),
            ..Default::default()
        };
        let r = block_on(app.handle(req));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    fn plant(app: &App<FakePorts>, event_id: &str, target: &str) -> String {
        let s = app.edge.as_ref().unwrap();
        let dead = DeadLetters::new(&s.settings, true);
        block_on(dead.put(
            &app.ports,
            NewLetter {
                event_id,
                event_type: "com.adobe.commerce.observer.sales_order_save_commit_after",
                target,
                attempts: 5,
                first_attempt_ms: 1,
                last_attempt_ms: 2,
                last_status: Some(503),
                reason: "the target answered 503",
                body: br#"{"eventid":"x"}"#,
            },
        ))
        .unwrap()
    }

    #[test]
    fn the_list_pages_and_refuses_bad_parameters() {
        let app = app(200);
        for i in 0..3 {
            plant(&app, &format!("ev-{i}"), "erp");
        }
        let (status, v) = call(&app, "GET", "/v1/dead-letters", Some("limit=2"));
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["dead_letters"].as_array().unwrap().len(), 2);
        assert_eq!(v["total"], 3);
        let next = v["next"].as_str().unwrap().to_owned();
        let (_, v) = call(
            &app,
            "GET",
            "/v1/dead-letters",
            Some(&format!("after={next}")),
        );
        assert_eq!(v["dead_letters"][0]["event_id"], "ev-2");
        assert_eq!(v["next"], Value::Null);
        for bad in [
            "limit=0",
            "limit=101",
            "limit=x",
            "after=x",
            "after=+5",
            "after=12345678901234567890",
            "page=2",
        ] {
            let (status, v) = call(&app, "GET", "/v1/dead-letters", Some(bad));
            assert_eq!(
                (status, v["code"].as_str()),
                (400, Some("invalid_request")),
                "{bad}"
            );
        }
        assert_eq!(
            call(&app, "GET", "/v1/dead-letters", Some("limit=100")).0,
            200
        );
    }

    #[test]
    fn replay_delivers_or_counts_an_attempt_and_delete_removes() {
        let ok = app(204);
        let id = plant(&ok, "ev-1", "erp");
        let (status, v) = call(&ok, "POST", &format!("/v1/dead-letters/{id}/replay"), None);
        assert_eq!(
            (status, v["result"].as_str()),
            (200, Some("delivered")),
            "{v}"
        );
        let sent = ok.ports.sent.borrow();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].headers.contains(&("webhook-id", "ev-1".to_owned())));
        drop(sent);
        let (_, v) = call(&ok, "GET", "/v1/dead-letters", None);
        assert_eq!(v["total"], 0);
        assert_eq!(
            call(&ok, "POST", &format!("/v1/dead-letters/{id}/replay"), None).0,
            404
        );

        let down = app(500);
        let id = plant(&down, "ev-2", "erp");
        let (status, v) = call(
            &down,
            "POST",
            &format!("/v1/dead-letters/{id}/replay"),
            None,
        );
        assert_eq!((status, v["result"].as_str()), (502, Some("failed")), "{v}");
        assert_eq!(v["dead_letter"]["attempts"], 6);
        assert_eq!(v["dead_letter"]["last_status"], 500);
        let (status, _) = call(&down, "DELETE", &format!("/v1/dead-letters/{id}"), None);
        assert_eq!(status, 204);
        let (status, v) = call(&down, "DELETE", &format!("/v1/dead-letters/{id}"), None);
        assert_eq!(
            (status, v["code"].as_str()),
            (404, Some("dead_letter_not_found"))
        );
        // A target no longer configured: not replayable, nothing sent.
        let gone = plant(&down, "ev-3", "crm");
        let (status, v) = call(
            &down,
            "POST",
            &format!("/v1/dead-letters/{gone}/replay"),
            None,
        );
        assert_eq!(
            (status, v["code"].as_str()),
            (409, Some("dead_letter_not_replayable"))
        );
        assert_eq!(down.ports.sent.borrow().len(), 1);
    }

    #[test]
    fn without_a_store_the_routes_say_so() {
        let ports = FakePorts::new(|_, _| respond(200, ""));
        ports.kv_shared.set(false);
        let app = App::new(ports, settings(&[]));
        let (status, v) = call(&app, "GET", "/v1/dead-letters", None);
        assert_eq!(
            (status, v["code"].as_str()),
            (503, Some("dead_letters_unavailable"))
        );
        assert!(
            v["detail"].as_str().unwrap().contains("token_cache_dir"),
            "{v}"
        );
    }
}
