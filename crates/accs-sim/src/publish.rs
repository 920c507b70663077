//! The I/O Events side of the simulator's ACCS: one event registration
//! (a [`Subscription`]) that the simulated Commerce publishes its events to,
//! its journal (`journal.rs`), and the queue of push deliveries still owed
//! to its webhook.
//!
//! Publishing is off until a subscription is set. An event whose type the
//! subscription names goes into the journal and, when the subscription has
//! a webhook URL, into the push queue; [`crate::io_events::IoEvents::deliver_pending`]
//! then makes the attempts, one per call, so tests decide when I/O Events
//! "retries".
//!
//! Lock order: the simulator's state may be locked when this is; this never
//! locks the simulator's state.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::journal::Journal;

/// An event registration: who receives Commerce's events and which.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Subscription {
    /// The webhook I/O Events pushes to; `None`: journal only.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The registration's client id (`recipient_client_id` of each event).
    pub recipient_client_id: String,
    /// Full event types (`com.adobe.commerce.observer.…`); a type ending in
    /// `*` matches every type with that prefix.
    pub event_types: Vec<String>,
    /// The webhook's delivery style: `false` single (one event per
    /// request), `true` batch (a JSON array of up to
    /// [`crate::io_events::BATCH_MAX_EVENTS`] events).
    #[serde(default)]
    pub batch: bool,
}

impl Subscription {
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| match t.strip_suffix('*') {
            Some(prefix) => event_type.starts_with(prefix),
            None => t == event_type,
        })
    }
}

/// A push delivery not yet settled.
#[derive(Clone, Debug, Serialize)]
pub struct Pending {
    pub event_id: String,
    pub event_type: String,
    pub url: String,
    /// The body every attempt sends (the CloudEvent JSON).
    pub body: String,
    /// Attempts made so far; the next one carries it as `x-adobe-retry-count`.
    pub attempts: u32,
    /// The last attempt's status; `None`: no attempt yet, or no answer.
    pub last_status: Option<u16>,
}

/// How the journal was called: requests and their answers, for tests that
/// count calls.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct JournalCounters {
    pub requests: u64,
    /// Answers by status.
    pub by_status: BTreeMap<u16, u64>,
    /// Events listed in 200 answers, summed.
    pub events_served: u64,
}

/// One journal request: its query (never its headers, which hold the
/// token) and answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JournalRequest {
    pub query: Option<String>,
    pub status: u16,
    pub events: usize,
}

pub(crate) struct State {
    pub subscription: Option<Subscription>,
    pub journal: Journal,
    pub pending: Vec<Pending>,
    pub next_event: u64,
    pub counters: JournalCounters,
    pub requests: Vec<JournalRequest>,
    /// A scope the journal wants in the token (`None`: any valid token).
    pub require_scope: Option<String>,
    /// Whether a source-items save at the default source publishes the
    /// stock-item event (`crate::commerce_events::STOCK_ITEM_SAVED`).
    pub source_item_stock_events: bool,
}

pub(crate) struct Publisher {
    /// The registration id: the last segment of the journal path.
    pub registration: String,
    state: Mutex<State>,
}

/// The journal path's fixed part; the registration id follows.
pub const JOURNAL_PREFIX: &str = "/events/organizations/sim-org/integrations/sim-integration/";

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("OS randomness");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Publisher {
    pub fn new() -> Self {
        let h = random_hex(16);
        let registration = format!(
            "{}-{}-4{}-8{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        );
        Publisher {
            state: Mutex::new(State {
                subscription: None,
                journal: Journal::new(random_hex(4)),
                pending: Vec::new(),
                next_event: 1,
                counters: JournalCounters::default(),
                requests: Vec::new(),
                require_scope: None,
                source_item_stock_events: true,
            }),
            registration,
        }
    }

    /// Poisoning ignored, as the simulator's own state does.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The journal's path on the simulator.
    pub fn journal_path(&self) -> String {
        format!("{JOURNAL_PREFIX}{}", self.registration)
    }

    /// Whether the subscription (if any) takes `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.lock()
            .subscription
            .as_ref()
            .is_some_and(|s| s.wants(event_type))
    }

    /// Publishes a Commerce event of `event_type` with payload `value`, if
    /// the subscription wants it: into the journal and the push queue.
    /// Returns the event id.
    pub fn publish(&self, event_type: &str, value: Value) -> Option<String> {
        let mut s = self.lock();
        let sub = s.subscription.clone().filter(|sub| sub.wants(event_type))?;
        let n = s.next_event;
        s.next_event += 1;
        let event_id = format!(
            "{}-{}-4{}-8{}-{:012x}",
            random_hex(4),
            random_hex(2),
            &random_hex(2)[1..],
            &random_hex(2)[1..],
            n
        );
        let at = now_ms();
        let event = crate::commerce_events::cloud_event(
            &event_id,
            event_type,
            &sub.recipient_client_id,
            value,
            at,
        );
        if let Some(url) = &sub.webhook_url {
            s.pending.push(Pending {
                event_id: event_id.clone(),
                event_type: event_type.to_owned(),
                url: url.clone(),
                body: event.to_string(),
                attempts: 0,
                last_status: None,
            });
        }
        s.journal.push(event, at);
        Some(event_id)
    }
}
