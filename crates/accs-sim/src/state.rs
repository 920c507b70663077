//! The one piece of mutable state behind both the Rust API and the HTTP handlers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::bulk::{self, Bulks};
use crate::commerce_events::{self as ce, StockItem};
use crate::config::SimConfig;
use crate::publish::Publisher;
use crate::seed::Catalog;
use crate::types::{
    Counters, Faults, RecordedRequest, RecordedTokenRequest, RecordedValidation, ScriptedResponse,
};

pub(crate) struct Shared {
    pub cfg: SimConfig,
    inner: Mutex<Inner>,
    /// The I/O Events double, for the admin routes that drive it; set once
    /// at start (it is built after this, on the bound address).
    pub io: std::sync::OnceLock<Arc<crate::io_events::IoEvents>>,
}

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
    /// Where Commerce's events go (`crate::publish`); kept across resets,
    /// like the I/O Events registration it stands for.
    pub publisher: Arc<Publisher>,
    /// The legacy stock item of each SKU as the last `default`-source save
    /// left it, for the next stock event's `_origData`.
    pub stock: BTreeMap<String, StockItem>,
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
    pub fn new(cfg: SimConfig, publisher: Arc<Publisher>) -> Self {
        Shared {
            cfg,
            inner: Mutex::new(Inner {
                publisher,
                ..Inner::default()
            }),
            io: std::sync::OnceLock::new(),
        }
    }

    /// A panicking handler must not wedge every later test, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn reset(&self) {
        let mut inner = self.lock();
        let tokens = std::mem::take(&mut inner.tokens);
        let publisher = inner.publisher.clone();
        // Issued tokens stay, revoked ones revoked: IMS never brings a
        // revoked token back, so a reset between a test's phases must not.
        *inner = Inner {
            tokens,
            publisher,
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

impl Shared {
    /// The scopes of a token the simulator's IMS issued, still valid (not
    /// revoked, not expired); `None` otherwise. For APIs other than ACCS
    /// (the I/O Events journal), which do not want ACCS's scope.
    pub fn token_scopes(&self, token: &str) -> Option<Vec<String>> {
        let inner = self.lock();
        let t = inner.tokens.get(token)?;
        let live = !t.revoked && t.expires_at.is_none_or(|at| Instant::now() < at);
        live.then(|| t.scopes.clone())
    }
}

impl Inner {
    /// Publishes the legacy stock item's save for a source item saved at
    /// the `default` source (the one it mirrors); other sources have no
    /// event in ACCS's reference (`crate::commerce_events`). A SKU with no
    /// product has no stock item: nothing.
    pub fn publish_source_item(&mut self, sku: &str, source: &str, qty: f64, status: u64) {
        let on = self.publisher.lock().source_item_stock_events;
        if !on || source != ce::DEFAULT_SOURCE || !self.publisher.wants(ce::STOCK_ITEM_SAVED) {
            return;
        }
        let Some(product) = self.catalog.product(sku) else {
            return;
        };
        let stock = &product["extension_attributes"]["stock_item"];
        let product_id = product["id"].as_u64().unwrap_or(0);
        let seeded = StockItem {
            item_id: stock["item_id"].as_u64().unwrap_or(product_id),
            product_id,
            qty: stock["qty"].as_f64().unwrap_or(0.0),
            is_in_stock: stock["is_in_stock"].as_bool().unwrap_or(false),
        };
        let before = self.stock.get(sku).cloned().unwrap_or(seeded);
        let after = StockItem {
            qty,
            is_in_stock: status == 1,
            ..before.clone()
        };
        self.publisher.publish(
            ce::STOCK_ITEM_SAVED,
            ce::stock_item_saved_value(&after, Some(&before)),
        );
        self.stock.insert(sku.to_owned(), after);
    }
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            counters: Counters::default(),
            requests: Vec::new(),
            token_requests: Vec::new(),
            validations: Vec::new(),
            faults: Faults::default(),
            receipts: BTreeMap::new(),
            catalog: Catalog::default(),
            bulks: Bulks::default(),
            tokens: HashMap::new(),
            publisher: Arc::new(Publisher::new()),
            stock: BTreeMap::new(),
            in_flight: 0,
        }
    }
}

impl Inner {
    /// Publishes a product-saved event for each save since the last call
    /// (`Catalog::saved`, which `crate::save::save` fills), in save order.
    pub fn publish_saves(&mut self) {
        if !self.publisher.wants(ce::PRODUCT_SAVED) {
            self.catalog.saved.clear();
            return;
        }
        for (before, after) in self.catalog.saved.drain(..) {
            self.publisher.publish(
                ce::PRODUCT_SAVED,
                ce::product_saved_value(&after, before.as_ref()),
            );
        }
    }

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
        self.publish_saves();
    }

    /// Applies the bulk operations the consumers have finished by now.
    pub fn advance_bulks(&mut self) {
        bulk::advance(
            &mut self.bulks,
            &mut self.catalog,
            &self.faults,
            Instant::now(),
        );
        self.publish_saves();
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
