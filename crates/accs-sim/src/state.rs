//! The one piece of mutable state behind both the Rust API and the HTTP handlers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::bulk::{self, Bulks};
use crate::config::SimConfig;
use crate::seed::Catalog;
use crate::types::{
    Counters, Faults, RecordedRequest, RecordedTokenRequest, RecordedValidation, ScriptedResponse,
};

pub(crate) struct Shared {
    pub cfg: SimConfig,
    inner: Mutex<Inner>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub counters: Counters,
    pub requests: Vec<RecordedRequest>,
    pub token_requests: Vec<RecordedTokenRequest>,
    pub validations: Vec<RecordedValidation>,
    pub faults: Faults,
    pub receipts: BTreeMap<(String, String), u32>,
    pub catalog: Catalog,
    /// Accepted bulk requests and their consumers (`crate::bulk`).
    pub bulks: Bulks,
    tokens: HashMap<String, IssuedToken>,
    /// ACCS calls being answered now (the peak is in `counters`).
    in_flight: u64,
}

struct IssuedToken {
    scopes: Vec<String>,
    expires_at: Option<Instant>,
    revoked: bool,
}

/// What ACCS makes of a bearer token.
pub(crate) enum TokenStatus {
    Valid,
    /// Unknown, revoked or expired: 401.
    Rejected,
    /// Valid but without the required scope: 403.
    MissingScope,
}

impl Shared {
    pub fn new(cfg: SimConfig) -> Self {
        Shared {
            cfg,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// A panicking handler must not wedge every later test, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn reset(&self) {
        let mut inner = self.lock();
        let tokens = std::mem::take(&mut inner.tokens);
        // Issued tokens stay, revoked ones revoked: IMS never brings a
        // revoked token back, so a reset between a test's phases must not.
        *inner = Inner {
            tokens,
            ..Inner::default()
        };
    }

    /// Every token issued since start; resets keep them.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().tokens.keys().cloned().collect()
    }

    pub fn revoke_tokens(&self) {
        for token in self.lock().tokens.values_mut() {
            token.revoked = true;
        }
    }

    pub fn issue_token(&self, scopes: Vec<String>) -> String {
        let mut bytes = [0u8; 30];
        getrandom::fill(&mut bytes).expect("OS randomness");
        let token: String = std::iter::once("eyJ".to_owned())
            .chain(bytes.iter().map(|b| format!("{b:02x}")))
            .collect();
        let expires_at = self
            .cfg
            .expires_in
            .map(|secs| Instant::now() + Duration::from_secs(secs));
        self.lock().tokens.insert(
            token.clone(),
            IssuedToken {
                scopes,
                expires_at,
                revoked: false,
            },
        );
        token
    }

    pub fn token_status(&self, token: &str) -> TokenStatus {
        let inner = self.lock();
        let Some(t) = inner.tokens.get(token) else {
            return TokenStatus::Rejected;
        };
        if t.revoked || t.expires_at.is_some_and(|at| Instant::now() >= at) {
            TokenStatus::Rejected
        } else if self.cfg.require_scope.is_empty() || t.scopes.contains(&self.cfg.require_scope) {
            TokenStatus::Valid
        } else {
            TokenStatus::MissingScope
        }
    }
}

impl Inner {
    /// Replaces the faults. The bulk consumers first catch up under the old
    /// ones, so a change (latency, consumers, hold) applies from now on.
    pub fn set_faults(&mut self, faults: Faults) {
        let now = Instant::now();
        bulk::advance(&mut self.bulks, &mut self.catalog, &self.faults, now);
        let was_held = self.faults.bulk_hold;
        self.faults = faults;
        if was_held && !self.faults.bulk_hold {
            self.bulks.resumed(now);
        }
    }

    /// Applies the bulk operations the consumers have finished by now.
    pub fn advance_bulks(&mut self) {
        bulk::advance(
            &mut self.bulks,
            &mut self.catalog,
            &self.faults,
            Instant::now(),
        );
    }

    /// An ACCS call arrived: counts it in flight until [`Inner::call_ended`].
    pub fn call_started(&mut self) {
        self.in_flight += 1;
        self.counters.accs_peak_in_flight = self.counters.accs_peak_in_flight.max(self.in_flight);
    }

    /// Saturating: a reset while calls are in flight starts the count over.
    pub fn call_ended(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    pub fn record_request(&mut self, request: RecordedRequest) {
        self.counters.accs_requests += 1;
        *self
            .counters
            .by_route
            .entry(request.route.clone())
            .or_default() += 1;
        self.requests.push(request);
    }

    pub fn record_token_request(&mut self, request: RecordedTokenRequest) {
        self.counters.token_requests += 1;
        if request.status != 200 {
            self.counters.token_failures += 1;
        }
        self.token_requests.push(request);
    }

    pub fn record_validation(&mut self, v: RecordedValidation) {
        self.counters.token_validations += 1;
        self.validations.push(v);
    }

    /// The first script entry matching the request, consuming one of its `times`.
    pub fn take_scripted(&mut self, method: &str, path: &str) -> Option<ScriptedResponse> {
        let script = &mut self.faults.script;
        let idx = script.iter().position(|s| s.matches(method, path))?;
        let entry = script[idx].clone();
        if entry.times == 1 {
            script.remove(idx);
        } else if entry.times > 1 {
            script[idx].times -= 1;
        }
        Some(entry)
    }
}
