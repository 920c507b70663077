//! The IMS access token: fetched with the server-to-server credentials, kept in
//! instance memory and, sealed, in the key-value store, refreshed ahead of
//! expiry by one caller at a time.
//!
//! A warm request finds a fresh token in memory and touches nothing else.

pub mod seal;
pub mod token;

use crate::config::Settings;
use crate::host::{OutRequest, Ports};
use crate::problem::{Code, Problem};
use crate::trace::{TokenSource, Trace};
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::time::Duration;
use token::{Freshness, ImsError, Token};

const IMS_TIMEOUT: Duration = Duration::from_secs(10);
/// While a valid token is held, a failed refresh is retried at most this often.
const REFRESH_RETRY_MS: u64 = 30_000;
/// What a caller is told to wait when IMS is down and no token is held.
const IMS_RETRY_AFTER_S: u64 = 10;

#[derive(Clone, Debug)]
struct Held {
    token: Token,
    jitter_ms: u64,
    source: TokenSource,
}

/// Per-instance token state. Interior mutability because concurrent requests
/// on one instance share it; no borrow is held across an `.await`.
#[derive(Default)]
pub struct Tokens {
    kv_key: String,
    fingerprint: String,
    held: RefCell<Option<Held>>,
    /// Set while one caller talks to the store or IMS: the single flight.
    refreshing: Cell<bool>,
    last_failure: RefCell<Option<(u64, ImsError)>>,
    /// The token ACCS last refused: a stale copy of it in the store is a miss.
    revoked: RefCell<Option<String>>,
    /// Which of the rotation secrets worked last.
    secret_index: Cell<usize>,
    kv_warned: Cell<bool>,
}

/// `GET /v1/token`: everything about the token but the token.
#[derive(Debug, Serialize, PartialEq)]
pub struct TokenStatus {
    pub cached: bool,
    pub seconds_left: u64,
    pub source: Option<TokenSource>,
    pub refresh_due: bool,
    pub last_refresh_error: Option<String>,
}

impl Tokens {
    pub fn new(settings: &Settings) -> Self {
        let fingerprint = settings.token_fingerprint();
        Tokens {
            kv_key: format!("accs-edge/ims-token/v1/{fingerprint}"),
            fingerprint,
            ..Tokens::default()
        }
    }

    pub fn kv_key(&self) -> &str {
        &self.kv_key
    }

    pub fn status(&self, now_ms: u64) -> TokenStatus {
        let held = self.held.borrow();
        let last_refresh_error = self.last_failure.borrow().as_ref().map(|(_, e)| match e {
            ImsError::Rejected { error, .. } => error.clone(),
            ImsError::Unavailable(_) => "ims_unavailable".to_owned(),
        });
        match held.as_ref() {
            Some(h) if h.token.freshness(now_ms, h.jitter_ms) != Freshness::Unusable => {
                TokenStatus {
                    cached: true,
                    seconds_left: h.token.seconds_left(now_ms),
                    source: Some(h.source),
                    refresh_due: h.token.freshness(now_ms, h.jitter_ms) == Freshness::Refresh,
                    last_refresh_error,
                }
            }
            _ => TokenStatus {
                cached: false,
                seconds_left: 0,
                source: None,
                refresh_due: false,
                last_refresh_error,
            },
        }
    }

    /// ACCS refused `sent`: forget it, unless a newer token already replaced it.
    pub fn invalidate(&self, sent: &str) {
        let mut held = self.held.borrow_mut();
        if held.as_ref().is_some_and(|h| h.token.access_token == sent) {
            *held = None;
        }
        *self.revoked.borrow_mut() = Some(sent.to_owned());
    }

    /// A token that may be sent now.
    pub async fn get<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
    ) -> Result<String, Problem> {
        let now = ports.now_ms();
        let held = self.held.borrow().clone();
        if let Some(h) = held {
            match h.token.freshness(now, h.jitter_ms) {
                Freshness::Fresh => {
                    trace.token(TokenSource::Memory);
                    return Ok(h.token.access_token);
                }
                Freshness::Refresh => {
                    trace.token(TokenSource::Memory);
                    if self.recently_failed(now) {
                        return Ok(h.token.access_token);
                    }
                    // Only one caller refreshes; the others keep the valid token.
                    let Some(_flight) = Flight::try_start(&self.refreshing) else {
                        return Ok(h.token.access_token);
                    };
                    return match self.fetch(settings, ports, trace).await {
                        Ok(fresh) => Ok(fresh),
                        Err(_) => Ok(h.token.access_token),
                    };
                }
                Freshness::Unusable => {}
            }
        }

        let _flight = Flight::start(&self.refreshing, ports).await;
        let now = ports.now_ms();
        if let Some(h) = self.held.borrow().as_ref()
            && h.token.freshness(now, h.jitter_ms) != Freshness::Unusable
        {
            trace.token(TokenSource::Memory);
            return Ok(h.token.access_token.clone());
        }
        // Whoever held the lock before us just failed: share the answer
        // instead of queueing another call to a failing IMS.
        if let Some((at, e)) = self.last_failure.borrow().as_ref()
            && *at >= now.saturating_sub(1_000)
        {
            return Err(problem(e));
        }
        if let Some(token) = self.read_kv(settings, ports, now).await {
            trace.token(TokenSource::Kv);
            return Ok(token);
        }
        self.fetch(settings, ports, trace)
            .await
            .map_err(|e| problem(&e))
    }

    fn recently_failed(&self, now: u64) -> bool {
        self.last_failure
            .borrow()
            .as_ref()
            .is_some_and(|(at, _)| now.saturating_sub(*at) < REFRESH_RETRY_MS)
    }

    async fn read_kv<P: Ports>(&self, settings: &Settings, ports: &P, now: u64) -> Option<String> {
        let value = match ports.kv_get(&self.kv_key).await {
            Ok(v) => v?,
            Err(e) => {
                self.warn_kv(ports, &e.0);
                return None;
            }
        };
        let token = settings.ims_client_secrets.iter().find_map(|secret| {
            seal::open(
                &seal::derive_key(secret.expose(), &self.fingerprint),
                &self.kv_key,
                &value,
            )
        })?;
        if self.revoked.borrow().as_deref() == Some(token.access_token.as_str()) {
            return None;
        }
        let jitter_ms = random_u64(ports);
        if token.freshness(now, jitter_ms) == Freshness::Unusable {
            return None;
        }
        let access = token.access_token.clone();
        *self.held.borrow_mut() = Some(Held {
            token,
            jitter_ms,
            source: TokenSource::Kv,
        });
        Some(access)
    }

    /// Asks IMS, trying the rotation secrets in order from the last one that
    /// worked while IMS answers `invalid_client`.
    async fn fetch<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
    ) -> Result<String, ImsError> {
        let secrets = &settings.ims_client_secrets;
        let first = self.secret_index.get() % secrets.len();
        let mut outcome = Err(ImsError::Unavailable("no secret".into()));
        for i in 0..secrets.len() {
            let index = (first + i) % secrets.len();
            outcome = self
                .request(settings, ports, trace, secrets[index].expose())
                .await
                .map(|t| (index, t));
            match &outcome {
                Err(e) if e.is_invalid_client() => continue,
                _ => break,
            }
        }
        let now = ports.now_ms();
        match outcome {
            Ok((index, token)) => {
                self.secret_index.set(index);
                *self.last_failure.borrow_mut() = None;
                let access = token.access_token.clone();
                let sealed = seal::seal(
                    &seal::derive_key(secrets[index].expose(), &self.fingerprint),
                    &self.kv_key,
                    &token,
                    random_nonce(ports),
                );
                *self.held.borrow_mut() = Some(Held {
                    token,
                    jitter_ms: random_u64(ports),
                    source: TokenSource::Ims,
                });
                trace.token(TokenSource::Ims);
                if let Err(e) = ports.kv_set(&self.kv_key, sealed).await {
                    self.warn_kv(ports, &e.0);
                }
                Ok(access)
            }
            Err(e) => {
                *self.last_failure.borrow_mut() = Some((now, e.clone()));
                Err(e)
            }
        }
    }

    async fn request<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        secret: &str,
    ) -> Result<Token, ImsError> {
        let req = OutRequest {
            method: "POST",
            url: settings.ims_token_url.to_string(),
            headers: vec![
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("accept", "application/json".into()),
            ],
            body: token::request_body(&settings.ims_client_id, secret, &settings.ims_scopes)
                .into_bytes(),
        };
        let started = ports.now_ms();
        let res = ports.send(req, IMS_TIMEOUT).await;
        let took = ports.now_ms().saturating_sub(started);
        match res {
            Ok(resp) => {
                trace.upstream("ims", resp.status, took);
                token::parse_response(resp.status, &resp.body, ports.now_ms())
            }
            Err(e) => {
                trace.upstream("ims", 0, took);
                Err(ImsError::Unavailable(e.to_string()))
            }
        }
    }

    fn warn_kv<P: Ports>(&self, ports: &P, reason: &str) {
        if !self.kv_warned.replace(true) {
            let line = serde_json::json!({
                "level": "warn",
                "message": "key-value store unavailable; keeping the token in memory only",
                "reason": reason,
            });
            ports.log(&line.to_string());
        }
    }
}

/// The single flight: one refresh at a time per instance.
///
/// Waiters poll the flag on the host clock rather than park on a Rust lock:
/// concurrent requests are separate component-model tasks, and waking one
/// task from another needs wit-bindgen's `inter-task-wakeup`, which traps
/// under wasmtime 48 ("waitable cannot be used synchronously"). A cold start
/// waits on IMS for tens of milliseconds, so a 5 ms poll costs nothing.
struct Flight<'a>(&'a Cell<bool>);

impl<'a> Flight<'a> {
    const POLL: Duration = Duration::from_millis(5);

    fn try_start(flag: &'a Cell<bool>) -> Option<Self> {
        (!flag.replace(true)).then(|| Flight(flag))
    }

    async fn start<P: Ports>(flag: &'a Cell<bool>, ports: &P) -> Self {
        loop {
            if let Some(f) = Self::try_start(flag) {
                return f;
            }
            ports.sleep(Self::POLL).await;
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

fn problem(e: &ImsError) -> Problem {
    match e {
        ImsError::Rejected { error, .. } => Problem::new(
            Code::ImsAuthFailed,
            format!(
                "Adobe IMS refused the token request with `{error}`: check ims_client_id, ims_client_secret and ims_scopes"
            ),
        ),
        ImsError::Unavailable(_) => Problem::new(
            Code::ImsUnavailable,
            "Adobe IMS could not issue a token; try again shortly",
        )
        .with_retry_after(IMS_RETRY_AFTER_S),
    }
}

fn random_u64<P: Ports>(ports: &P) -> u64 {
    let mut b = [0u8; 8];
    ports.fill_random(&mut b);
    u64::from_le_bytes(b)
}

fn random_nonce<P: Ports>(ports: &P) -> [u8; 12] {
    let mut b = [0u8; 12];
    ports.fill_random(&mut b);
    b
}
