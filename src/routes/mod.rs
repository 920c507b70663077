//! The inbound API: routing, authentication, and one log line per request.

pub mod bulk;
pub mod dead_letters;
pub mod events;
pub mod inventory;
pub mod jobs;
pub mod orders;
pub mod passthrough;
pub mod products;
mod responses;
pub mod search;
pub mod webhooks;

use crate::accs::Ctx;
use crate::config::{ConfigError, Settings};
use crate::ims::Tokens;
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use crate::scopes::Scope;
use crate::trace::Trace;
use crate::webhook::ledger::Ledger;
use crate::wire::{InRequest, InResponse};
use responses::{json, problem_response};
use std::cell::{Cell, OnceCell};

/// The per-instance state: validated settings and the token (with what
/// ACCS and IMS said about it: `Tokens::denials`), built once.
pub struct Edge {
    pub settings: Settings,
    pub tokens: Tokens,
    /// The warning about `api_keys` entries without scopes went out.
    pub warned_unscoped: Cell<bool>,
    /// The ledgers, derived on first use (each is several HMACs, and most
    /// routes use neither): [`Edge::ledger`], [`Edge::events_ledger`].
    ledger: OnceCell<Option<Ledger>>,
    events_ledger: OnceCell<Option<Ledger>>,
    /// Whether the host's store is shared ([`Ports::kv_shared`]), for them.
    kv_shared: bool,
    /// I/O Events key paths the origin refused lately (this instance's memory).
    pub key_refusals: crate::events::keys::Refusals,
}

impl Edge {
    /// The webhook ledger, when `webhook_secrets` holds a usable secret.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger
            .get_or_init(|| Ledger::new(&self.settings, self.kv_shared))
            .as_ref()
    }

    /// The Adobe I/O Events ledger: the same mechanism, its own namespace.
    pub fn events_ledger(&self) -> Option<&Ledger> {
        self.events_ledger
            .get_or_init(|| Ledger::for_events(&self.settings, self.kv_shared))
            .as_ref()
    }
}

pub struct App<P> {
    pub ports: P,
    pub edge: Result<Edge, ConfigError>,
}

impl<P: Ports> App<P> {
    pub fn new(ports: P, settings: Result<Settings, ConfigError>) -> Self {
        let edge = settings.map(|settings| Edge {
            tokens: Tokens::new(&settings),
            warned_unscoped: Cell::new(false),
            ledger: OnceCell::new(),
            events_ledger: OnceCell::new(),
            kv_shared: ports.kv_shared(),
            key_refusals: Default::default(),
            settings,
        });
        App { ports, edge }
    }

    pub async fn handle(&self, req: InRequest) -> InResponse {
        let started = self.ports.now_ms();
        let trace = Trace::inbound(&req, &self.ports, request_id(&req, &self.ports));
        let (template, result) = self.dispatch(&req, &trace, started).await;
        self.finish(&req, &trace, template, started, result)
    }

    /// What can be refused from the head alone, before the body is read
    /// (hosts call this first): on API-key routes a missing or unknown key
    /// (401) or a key without the route's scope (403); on webhook routes no
    /// `webhook_secrets`, or a missing or malformed `webhook-id`,
    /// `webhook-timestamp` or `webhook-signature`, or a timestamp outside
    /// 300 s (401). The body of a caller that cannot be let in is then never
    /// read: up to 4 MiB of work an unauthenticated client could make us do.
    /// The answers are the ones [`App::handle`] gives.
    pub fn before_body(&self, head: &InRequest) -> Option<InResponse> {
        // No host call on the way in (a warm read asks the clock 3 times):
        // the clock only where a timestamp is checked or an answer given.
        let Ok(route) = Route::find(&head.method, &head.path) else {
            return None;
        };
        let edge = self.edge.as_ref().ok()?;
        // The trace (ids drawn from the host's randomness) only for an
        // answer: a request let in gets its own in `handle`.
        let (key, refused) = match route {
            Route::Health | Route::OpenApi => return None,
            Route::Webhook(_) => (None, webhooks_head(edge, head, self.ports.now_ms())?),
            Route::Events => (
                None,
                events::head_refusal(&edge.settings, edge.events_ledger(), head)?,
            ),
            _ => match self.authorize(edge, head, &route) {
                (_, Ok(())) => return None,
                (key, Err(p)) => (key, p),
            },
        };
        let started = self.ports.now_ms();
        let trace = Trace::inbound(head, &self.ports, request_id(head, &self.ports));
        if let Some(name) = key {
            trace.key(name);
        }
        Some(self.finish(head, &trace, route.template(), started, Err(refused)))
    }

    /// Headers, the log line.
    fn finish(
        &self,
        req: &InRequest,
        trace: &Trace,
        template: &'static str,
        started: u64,
        result: Result<InResponse, Problem>,
    ) -> InResponse {
        let mut resp = match result {
            Ok(resp) => resp,
            Err(p) => problem_response(&p, &trace.request_id),
        };
        resp.headers
            .push(("x-request-id", trace.request_id.clone()));
        resp.headers
            .push(("traceparent", trace.context.traceparent()));
        let took = self.ports.now_ms().saturating_sub(started);
        self.ports
            .log(&trace.log_line(&req.method, template, resp.status, took));
        resp
    }

    /// The API key and its scope, for every route but health, the document
    /// and webhooks: the entry's name when a key matched, and whether it may
    /// go on.
    fn authorize<'e>(
        &self,
        edge: &'e Edge,
        req: &InRequest,
        route: &Route<'_>,
    ) -> (Option<&'e str>, Result<(), Problem>) {
        let keys = &edge.settings.api_keys;
        let query = req.query.as_deref();
        let header = req.header("authorization");
        // A key in the query: on the job routes, for entries marked `+query`,
        // and only without a header; anywhere else a refusal (a key in a URL
        // is never silently ignored, so a wrong schedule shows at once).
        let key = match (header, route) {
            (None, Route::Job(_)) if crate::auth::has_query_key(query) => {
                crate::auth::query_key(query, keys).ok_or(
                    "the `key` query parameter is not a key of an api_keys entry marked for the query (`name:key:jobs.run+query`)",
                )
            }
            (_, Route::Job(_)) => crate::auth::api_key_once(header, keys, &req.key_digest)
                .ok_or("send `Authorization: Bearer <key>` with a key from api_keys, or `?key=` with a key marked `+query`"),
            _ if crate::auth::has_query_key(query) => Err(
                "a key in the query (`?key=`) is accepted on the job routes (/v1/jobs/{name}) alone; send `Authorization: Bearer <key>`",
            ),
            _ => crate::auth::api_key_once(header, keys, &req.key_digest)
                .ok_or("send `Authorization: Bearer <key>` with a key from api_keys"),
        };
        let key = match key {
            Ok(key) => key,
            Err(detail) => return (None, Err(Problem::new(Code::Unauthorized, detail))),
        };
        let name = Some(key.name.as_str());
        if let Some(scope) = route.scope(&req.method)
            && !key.scopes.allows(scope)
        {
            let mut p = Problem::new(
                Code::InsufficientScope,
                format!(
                    "this key's api_keys entry lacks the `{}` scope this route needs",
                    scope.as_str()
                ),
            );
            p.scope = Some(scope.as_str());
            return (name, Err(p));
        }
        if !key.scoped && !edge.warned_unscoped.replace(true) {
            self.ports.log(&unscoped_warning(&edge.settings));
        }
        (name, Ok(()))
    }

    /// Routes `req`; `started` (wall-clock ms) starts the request's budget.
    async fn dispatch(
        &self,
        req: &InRequest,
        trace: &Trace,
        started: u64,
    ) -> (&'static str, Result<InResponse, Problem>) {
        let route = match Route::find(&req.method, &req.path) {
            Ok(route) => route,
            Err((template, p)) => {
                // A broken deployment says so before anything else but health.
                return match &self.edge {
                    Err(e) if template != "/healthz" => (template, Err(config_problem(e))),
                    _ => (template, Err(p)),
                };
            }
        };
        let template = route.template();
        match route {
            Route::Health => return (template, Ok(json(200, br#"{"status":"ok"}"#.to_vec()))),
            Route::OpenApi => return (template, Ok(json(200, OPENAPI.as_bytes().to_vec()))),
            _ => {}
        }
        let edge = match &self.edge {
            Ok(edge) => edge,
            Err(e) => return (template, Err(config_problem(e))),
        };
        let ctx = Ctx::new(
            &edge.settings,
            &self.ports,
            &edge.tokens,
            trace,
            template,
            started,
        );
        // Adobe I/O Events: Adobe's signature is the authentication, and the
        // route's budget (`io_events_timeout_ms`) answers inside I/O Events' 10 s.
        if route == Route::Events {
            let mut ctx = ctx;
            ctx.budget =
                crate::accs::retry::Budget::new(started, events::budget_ms(&edge.settings));
            let ledger = edge.events_ledger();
            let result = if req.method == "GET" {
                events::get(&ctx, ledger, req)
            } else {
                events::post(&ctx, ledger, &edge.key_refusals, req).await
            };
            return (template, result);
        }
        // Webhooks authenticate by signature only: an API key never opens them,
        // and a signature never opens anything else.
        if let Route::Webhook(topic) = route {
            return (
                template,
                webhooks::post(&ctx, edge.ledger(), req, topic).await,
            );
        }
        let (key, admitted) = self.authorize(edge, req, &route);
        if let Some(name) = key {
            trace.key(name);
        }
        if let Err(p) = admitted {
            return (template, Err(p));
        }
        let ok = |body: Vec<u8>| json(200, body);
        let query = req.query.as_deref();
        let result = match route {
            Route::Health | Route::OpenApi => unreachable!("answered above"),
            Route::Token => {
                let status = edge.tokens.status_shared(&edge.settings, &self.ports).await;
                Ok(ok(serde_json::to_vec(&status).unwrap_or_default()))
            }
            Route::Products => products::list(&ctx, query).await.map(ok),
            Route::Product(sku) if req.method == "PUT" => {
                products::put(&ctx, sku, &req.body).await.map(ok)
            }
            Route::Product(sku) => products::get_one(&ctx, sku).await.map(ok),
            Route::ProductsBulk => bulk::post(&ctx, &req.body).await,
            Route::Bulk(uuid) => bulk::get(&ctx, uuid, query).await.map(ok),
            Route::SourceItems => inventory::post(&ctx, &req.body).await,
            Route::Orders => orders::list(&ctx, query).await.map(ok),
            Route::Order(id) => orders::get_one(&ctx, id).await.map(ok),
            Route::Passthrough(rest) => passthrough::forward(&ctx, req, rest).await,
            // The dead letters' keys are derived here, on demand: no other
            // route pays for them.
            Route::DeadLetters => dead_letters::list(&ctx, req).await,
            Route::DeadLetter(id) => dead_letters::delete(&ctx, id).await,
            Route::DeadLetterReplay(id) => dead_letters::replay(&ctx, id).await,
            Route::Job(name) => {
                // A job's budget is its own (`jobs_timeout_ms`, under
                // Akamai's 30 s), and never more than the ACCS budget.
                let mut ctx = ctx;
                ctx.budget =
                    crate::accs::retry::Budget::new(started, jobs::budget_ms(&edge.settings));
                let needs = jobs::Needs {
                    events_ledger: edge.events_ledger(),
                };
                jobs::run(&ctx, &needs, name, req).await
            }
            Route::Webhook(_) | Route::Events => unreachable!("answered above"),
        };
        (template, result)
    }
}

/// A webhook's refusal from its headers alone: what `webhooks::post` would
/// answer before it looks at the body (no secrets configured; the
/// Standard Webhooks headers missing or malformed; a timestamp outside the
/// tolerance). `None`: the signature is left to check over the body.
fn webhooks_head(edge: &Edge, req: &InRequest, now_ms: u64) -> Option<Problem> {
    use crate::webhook::signature::{self, SignatureError};
    if edge.settings.webhook_secrets.is_empty() {
        return Some(Problem::new(
            Code::WebhookNotConfigured,
            "set `webhook_secrets` to receive webhooks",
        ));
    }
    // The header checks `verify` makes before it computes anything: with no
    // body and no key, a sound head ends at `NoMatch`.
    let head = signature::verify(
        req.header("webhook-id"),
        req.header("webhook-timestamp"),
        req.header("webhook-signature"),
        b"",
        &[],
        (now_ms / 1000) as i64,
    );
    match head {
        Err(SignatureError::NoMatch) | Ok(_) => None,
        Err(e) => Some(Problem::new(Code::Unauthorized, e.to_string())),
    }
}

/// The variables a request to `path` needs, for hosts that build the app
/// per request (WASI 0.2: an instance per request, and every variable read
/// is a host call). Health and the OpenAPI document read none; an optional
/// variable a route does not use keeps its default; `token_cache_dir` is the
/// wasmtime flavour's alone. Anything else, a new variable included, is read.
pub fn variables_for(method: &str, path: &str) -> impl Iterator<Item = &'static str> + use<> {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    let none = matches!(path, "/healthz" | "/v1/openapi.json");
    let webhooks = under("/v1/webhooks");
    let events = path == "/v1/events";
    let passthrough = under("/v1/accs");
    // A job runs what the I/O Events route runs (the journal's events go
    // through the same actions and syncs).
    let jobs = under("/v1/jobs");
    let events = events || jobs;
    let sync = webhooks || events || path == "/v1/inventory/source-items";
    // The path a `POST` makes the bulk upsert (and a `GET` or `PUT` the
    // product with SKU `bulk`: the variables are read by path alone).
    let bulk = path == "/v1/products/bulk";
    // A replay forwards again: the targets, their secrets and the cap.
    let dead_letters = under("/v1/dead-letters");
    // Only a write notes itself: a product read has no use for the window.
    let product_write = under("/v1/products") && method != "GET";
    crate::config::VARIABLES
        .iter()
        .copied()
        .filter(move |name| match *name {
            _ if none => false,
            "token_cache_dir" => false,
            "webhook_secrets" => webhooks,
            "io_events_key_origin" | "io_events_actions" | "io_events_timeout_ms" => events,
            "journal_url" | "journal_limit" | "journal_on_gone" | "jobs_timeout_ms" => jobs,
            "passthrough_allow" => passthrough,
            "sync_batch_size" => sync,
            "sync_concurrency" => sync || bulk,
            "bulk_chunk_size" => bulk || webhooks || events,
            "products_bulk_above" => webhooks || events,
            "forward_targets" | "forward_timeout_ms" => events || dead_letters,
            "forward_rules" | "forward_max_attempts" => events,
            // Writes note themselves for echo suppression, and events are
            // checked against it.
            "echo_window_s" => sync || bulk || events || product_write,
            _ => true,
        })
}

/// The OpenAPI document: `docs/openapi.yaml` is written in YAML's JSON form,
/// so its bytes are valid JSON; it is served without the whitespace between
/// tokens (removed at compile time), which keeps 26 KB out of the `.wasm`.
pub const OPENAPI: &str = {
    const SRC: &[u8] = include_bytes!("../../docs/openapi.yaml");
    const LEN: usize = minify_json::<0>(SRC).1;
    // Used once, here: its bytes reach the binary once, as OPENAPI's. (A
    // `static`, as the lint suggests, crashes clippy 1.95 in this const.)
    #[allow(clippy::large_const_arrays)]
    const OUT: [u8; LEN] = minify_json::<LEN>(SRC).0;
    match std::str::from_utf8(&OUT) {
        Ok(s) => s,
        Err(_) => panic!("docs/openapi.yaml is not UTF-8"),
    }
};

/// `src` (JSON) without whitespace outside strings, into `N` bytes, and the
/// length that takes; with `N` too small only the length is right.
const fn minify_json<const N: usize>(src: &[u8]) -> ([u8; N], usize) {
    let mut out = [0u8; N];
    let (mut i, mut n) = (0, 0);
    let (mut in_string, mut escaped) = (false, false);
    while i < src.len() {
        let b = src[i];
        i += 1;
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        } else if b == b'"' {
            in_string = true;
        }
        if n < N {
            out[n] = b;
        }
        n += 1;
    }
    (out, n)
}

#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Health,
    OpenApi,
    Token,
    Products,
    Product(&'a str),
    /// `POST /v1/products/bulk`; any other method there is `Product("bulk")`.
    ProductsBulk,
    /// The raw uuid segment of `/v1/bulk/{uuid}`.
    Bulk(&'a str),
    SourceItems,
    Orders,
    Order(&'a str),
    /// The raw path after `/v1/accs`.
    Passthrough(&'a str),
    Webhook(&'a str),
    /// Adobe I/O Events deliveries and their registration challenge.
    Events,
    /// The forwarded events' dead letters, paged.
    DeadLetters,
    /// The raw id segment of `DELETE /v1/dead-letters/{id}`.
    DeadLetter(&'a str),
    /// The raw id segment of `POST /v1/dead-letters/{id}/replay`.
    DeadLetterReplay(&'a str),
    /// The raw name segment of `/v1/jobs/{name}`.
    Job(&'a str),
}

impl<'a> Route<'a> {
    /// Matches on the raw path, so an encoded `/` inside a segment stays inside it.
    fn find(method: &str, path: &'a str) -> Result<Self, (&'static str, Problem)> {
        if let Some(rest) = path.strip_prefix("/v1/accs")
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return Ok(Route::Passthrough(rest));
        }
        let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("").split('/').collect();
        let (route, allow) = match segments.as_slice() {
            ["healthz"] => (Route::Health, "GET"),
            ["v1", "openapi.json"] => (Route::OpenApi, "GET"),
            ["v1", "token"] => (Route::Token, "GET"),
            ["v1", "products"] => (Route::Products, "GET"),
            // Only a POST on exactly this path is the bulk upsert; GET and
            // PUT keep addressing the product whose SKU is `bulk`.
            ["v1", "products", "bulk"] if method == "POST" => (Route::ProductsBulk, "POST"),
            ["v1", "products", "bulk"] => (Route::Product("bulk"), "GET, PUT, POST"),
            ["v1", "products", sku] => (Route::Product(sku), "GET, PUT"),
            ["v1", "bulk", uuid] => (Route::Bulk(uuid), "GET"),
            ["v1", "inventory", "source-items"] => (Route::SourceItems, "POST"),
            ["v1", "orders"] => (Route::Orders, "GET"),
            ["v1", "orders", id] => (Route::Order(id), "GET"),
            ["v1", "events"] => (Route::Events, "GET, POST"),
            ["v1", "dead-letters"] => (Route::DeadLetters, "GET"),
            ["v1", "dead-letters", id] => (Route::DeadLetter(id), "DELETE"),
            ["v1", "dead-letters", id, "replay"] => (Route::DeadLetterReplay(id), "POST"),
            ["v1", "jobs", name] => (Route::Job(name), "GET, POST"),
            ["v1", "webhooks", topic] if webhooks::TOPICS.contains(topic) => {
                (Route::Webhook(topic), "POST")
            }
            _ => return Err(("unmatched", Problem::not_found())),
        };
        let method_ok =
            allow.split(", ").any(|m| m == method) || (method == "HEAD" && route == Route::Health);
        if !method_ok {
            return Err((route.template(), Problem::method_not_allowed(allow)));
        }
        Ok(route)
    }

    /// The scope a key needs here; `None` for routes no API key opens
    /// (health, the document, webhooks).
    fn scope(&self, method: &str) -> Option<Scope> {
        Some(match self {
            Route::Health | Route::OpenApi | Route::Webhook(_) | Route::Events => return None,
            Route::Token => Scope::TokenRead,
            Route::Products => Scope::ProductsRead,
            Route::Product(_) if method == "PUT" => Scope::ProductsWrite,
            Route::Product(_) => Scope::ProductsRead,
            Route::ProductsBulk | Route::Bulk(_) => Scope::ProductsWrite,
            Route::SourceItems => Scope::InventoryWrite,
            Route::Orders | Route::Order(_) => Scope::OrdersRead,
            Route::Passthrough(_) => Scope::Passthrough,
            Route::DeadLetters | Route::DeadLetter(_) | Route::DeadLetterReplay(_) => {
                Scope::DeadLettersManage
            }
            Route::Job(_) => Scope::JobsRun,
        })
    }

    fn template(&self) -> &'static str {
        match self {
            Route::Health => "/healthz",
            Route::OpenApi => "/v1/openapi.json",
            Route::Token => "/v1/token",
            Route::Products => "/v1/products",
            Route::Product(_) => "/v1/products/{sku}",
            Route::ProductsBulk => "/v1/products/bulk",
            Route::Bulk(_) => "/v1/bulk/{uuid}",
            Route::SourceItems => "/v1/inventory/source-items",
            Route::Orders => "/v1/orders",
            Route::Order(_) => "/v1/orders/{id}",
            Route::Passthrough(_) => "/v1/accs/{path}",
            Route::Webhook(_) => "/v1/webhooks/{topic}",
            Route::Events => "/v1/events",
            Route::DeadLetters => "/v1/dead-letters",
            Route::DeadLetter(_) => "/v1/dead-letters/{id}",
            Route::DeadLetterReplay(_) => "/v1/dead-letters/{id}/replay",
            Route::Job(_) => "/v1/jobs/{name}",
        }
    }
}

/// Names the entries with full access, never their keys: once per instance,
/// on the first request such a key authenticates.
fn unscoped_warning(settings: &Settings) -> String {
    let names: Vec<&str> = settings
        .api_keys
        .iter()
        .filter(|k| !k.scoped)
        .map(|k| k.name.as_str())
        .collect();
    serde_json::json!({
        "level": "warn",
        "message": "api_keys entries without scopes have full access; give each system only what it needs (name:key:scope+scope)",
        "entries": names,
    })
    .to_string()
}

fn config_problem(e: &ConfigError) -> Problem {
    Problem::new(Code::ConfigInvalid, e.to_string())
}

/// The caller's `x-request-id` when it is sane, else a new random one.
fn request_id<P: Ports>(req: &InRequest, ports: &P) -> String {
    match req.header("x-request-id") {
        Some(id)
            if (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) =>
        {
            id.to_owned()
        }
        _ => {
            let mut b = [0u8; 16];
            ports.fill_random(&mut b);
            crate::config::hex(&b)
        }
    }
}

impl<P: Ports> App<P> {
    /// Answers a request that never reached routing (an unreadable or
    /// oversized body), with the same headers and log line as any other,
    /// echoing the caller's `x-request-id` from `headers` (lower-case names)
    /// when it is sane.
    pub fn reject(&self, p: &Problem, headers: &[(String, String)]) -> InResponse {
        let req = InRequest {
            headers: headers.to_vec(),
            ..InRequest::default()
        };
        let trace = Trace::inbound(&req, &self.ports, request_id(&req, &self.ports));
        let mut resp = problem_response(p, &trace.request_id);
        resp.headers
            .push(("x-request-id", trace.request_id.clone()));
        resp.headers
            .push(("traceparent", trace.context.traceparent()));
        self.ports.log(&trace.log_line("-", "-", resp.status, 0));
        resp
    }
}

#[cfg(test)]
mod tests;
