//! The exchanges with IMS: a token for the credentials (trying the rotation
//! secrets), and whether IMS holds a token valid. What the answers mean is
//! decided in `token.rs` and `validate.rs`; this is the calling and what the
//! manager keeps of it.

use super::flight::Flight;
use super::token::{ImsError, Token};
use super::validate::{self, Verdict};
use super::{Held, IMS_RETRY_AFTER_S, MAX_INVALID, Tokens, random_nonce, random_u64, seal, token};
use crate::config::Settings;
use crate::denials;
use crate::ports::{OutRequest, Ports};
use crate::trace::{TokenSource, Trace};
use std::time::Duration;

const IMS_TIMEOUT: Duration = Duration::from_secs(10);

impl Tokens {
    /// Whether IMS holds `token` valid, asked at most once per token: a
    /// token IMS disowned is remembered (and goes into the record with the
    /// next write), and while IMS failed a validation under
    /// [`IMS_RETRY_AFTER_S`] ago (here or, through the record, in another
    /// instance) it is not asked again: [`Verdict::Unknown`]. `timeout` is
    /// what the caller's budget leaves.
    pub async fn validate<P: Ports>(
        &self,
        token: &str,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        timeout: Duration,
    ) -> Verdict {
        let d = denials::digest(token);
        let deadline = ports.now_ms().saturating_add(timeout.as_millis() as u64);
        // Concurrent 401s to one token (requests sharing a WASI 0.3
        // instance): one asks, the others take its answer.
        let Some(_flight) = Flight::start(&self.validating, ports, deadline).await else {
            return Verdict::Unknown;
        };
        if self.invalid.borrow().contains(&d) {
            return Verdict::Invalid;
        }
        let now = ports.now_ms();
        if self.held_valid(token, now) {
            return Verdict::Valid;
        }
        let timeout = Duration::from_millis(deadline.saturating_sub(now)).min(IMS_TIMEOUT);
        if now < self.ims_down_until.get() || timeout.is_zero() {
            return Verdict::Unknown;
        }
        let req = OutRequest {
            method: "POST",
            url: validate::url(&settings.ims_token_url),
            headers: [
                ("authorization", format!("Bearer {token}")),
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("accept", "application/json".into()),
            ]
            .into_iter()
            .chain(trace.upstream_headers(ports))
            .collect(),
            body: validate::request_body(&settings.ims_client_id).into_bytes(),
        };
        let res = ports.send(req, timeout).await;
        let ended = ports.now_ms();
        trace.upstream(
            "ims",
            res.as_ref().map_or(0, |r| r.status),
            ended.saturating_sub(now),
        );
        let verdict = match res {
            Ok(r) => validate::parse(r.status, &r.body),
            Err(_) => Verdict::Unknown,
        };
        match verdict {
            Verdict::Invalid => {
                let mut invalid = self.invalid.borrow_mut();
                if invalid.len() >= MAX_INVALID {
                    invalid.remove(0);
                }
                invalid.push(d);
            }
            Verdict::Unknown => {
                self.ims_down_until
                    .set(ended.saturating_add(IMS_RETRY_AFTER_S * 1_000));
                self.persist(settings, ports).await;
            }
            // Written to the record with the denial that follows.
            Verdict::Valid => self
                .validated
                .set(Some((d, ended.saturating_add(denials::REMEMBER_MS)))),
        }
        verdict
    }

    /// Asks IMS, trying the rotation secrets in order from the last one that
    /// worked while IMS answers `invalid_client`, and shares what it got.
    /// Every call ends by `deadline_ms`, the caller's budget (the I/O Events
    /// route has 8 s, under I/O Events' 10 s, less than [`IMS_TIMEOUT`]).
    pub(super) async fn fetch<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        deadline_ms: u64,
    ) -> Result<String, ImsError> {
        let secrets = &settings.ims_client_secrets;
        let first = self.secret_index.get() % secrets.len();
        let mut outcome = Err(ImsError::Unavailable("no secret".into()));
        for i in 0..secrets.len() {
            let index = (first + i) % secrets.len();
            outcome = self
                .request(settings, ports, trace, secrets[index].expose(), deadline_ms)
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
                self.deferred_until.set(0);
                let access = token.access_token.clone();
                // The notes go on with the new token: a denial is the
                // role's, whatever token meets it.
                let sealed = seal::seal_record(
                    &seal::derive_key(secrets[index].expose(), &self.fingerprint),
                    self.shared.kv_key(),
                    &token,
                    &self.notes(),
                    random_nonce(ports),
                );
                self.hold(Held {
                    token,
                    jitter_ms: random_u64(ports),
                    source: TokenSource::Ims,
                    notes: seal::Notes::default(),
                });
                trace.token(TokenSource::Ims);
                self.shared.write(ports, sealed).await;
                Ok(access)
            }
            Err(e) => {
                *self.last_failure.borrow_mut() = Some((now, e.clone()));
                Err(e)
            }
        }
    }

    pub(super) async fn request<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        secret: &str,
        deadline_ms: u64,
    ) -> Result<Token, ImsError> {
        let started = ports.now_ms();
        let timeout = Duration::from_millis(deadline_ms.saturating_sub(started)).min(IMS_TIMEOUT);
        if timeout.is_zero() {
            return Err(ImsError::Unavailable(
                "not asked: the request's budget is spent".into(),
            ));
        }
        let req = OutRequest {
            method: "POST",
            url: settings.ims_token_url.to_string(),
            headers: [
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("accept", "application/json".into()),
            ]
            .into_iter()
            .chain(trace.upstream_headers(ports))
            .collect(),
            body: token::request_body(&settings.ims_client_id, secret, &settings.ims_scopes)
                .into_bytes(),
        };
        let res = ports.send(req, timeout).await;
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
}
