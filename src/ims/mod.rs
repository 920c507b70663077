//! The IMS access token: fetched with the server-to-server credentials, kept in
//! instance memory and, sealed, where other instances find it (the key-value
//! store, and the token file when `token_cache_dir` is set), refreshed ahead
//! of expiry by one caller at a time, and across instances by the holder of
//! a short lease.
//!
//! A warm request finds a fresh token in memory and touches nothing else.
//!
//! This file is the manager: what is held, when it may be sent, which stored
//! copy is taken. Beside it: `refresh.rs` (a new token across instances,
//! under the lease), `exchange.rs` (the calls to IMS), `notes.rs` (what the
//! record carries besides the token) and `flight.rs` (one caller at a time).

mod exchange;
mod flight;
pub mod lease;
mod notes;
mod refresh;
pub mod seal;
pub mod shared;
pub mod token;
pub mod validate;

use crate::config::Settings;
use crate::denials::Denials;
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use crate::trace::{TokenSource, Trace};
use flight::Flight;
use serde::Serialize;
use shared::Shared;
use std::cell::{Cell, RefCell};
use token::{Freshness, ImsError, Token};

/// While a valid token is held, a failed refresh is retried at most this often.
const REFRESH_RETRY_MS: u64 = 30_000;
/// What a caller is told to wait when IMS is down and no token is held.
const IMS_RETRY_AFTER_S: u64 = 10;
/// A token issued less than this long ago is unlikely to be stale: a 401 to
/// it is first put to IMS (`validate`) rather than answered with a new token.
pub const YOUNG_MS: u64 = 60_000;
/// At most this many tokens IMS called not valid are remembered.
const MAX_INVALID: usize = 8;

/// Where `read_shared` looks: waiting on a lease file, only the file can
/// change, so the key-value store is not asked again and again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Look {
    Everywhere,
    FileOnly,
}

/// `Debug` prints no token: [`Token`]'s own leaves it out, and the notes
/// are digests.
#[derive(Clone, Debug)]
struct Held {
    token: Token,
    jitter_ms: u64,
    source: TokenSource,
    /// What the record it came in carried; taken in by [`Tokens::hold`].
    notes: seal::Notes,
}

/// Per-instance token state. Interior mutability because concurrent requests
/// on one instance share it; no borrow is held across an `.await`.
pub struct Tokens {
    fingerprint: String,
    shared: Shared,
    held: RefCell<Option<Held>>,
    /// Set while one caller talks to the stores or IMS: the single flight.
    refreshing: Cell<bool>,
    last_failure: RefCell<Option<(u64, ImsError)>>,
    /// The token ACCS last refused: a stale copy of it in a store is a miss.
    revoked: RefCell<Option<String>>,
    /// Which of the rotation secrets worked last.
    secret_index: Cell<usize>,
    /// Another instance holds the lease until then: keep the valid token and
    /// look again afterwards, without touching the store on every request.
    deferred_until: Cell<u64>,
    /// This instance's name in leases, drawn on first use (0: not yet).
    owner: Cell<u64>,
    /// Denials ACCS answered (memory copy of the record's notes).
    pub denials: Denials,
    /// Digests of tokens IMS called not valid.
    invalid: RefCell<Vec<[u8; 16]>>,
    /// IMS failed a validation: none is tried again before then (ms).
    ims_down_until: Cell<u64>,
    /// One validation at a time per instance, and the last token IMS held
    /// valid (its digest) with until when that verdict stands: concurrent
    /// 401s to one token ask IMS once. It rides in the record's notes, so an
    /// instance per request does not ask again either.
    validating: Cell<bool>,
    validated: Cell<Option<([u8; 16], u64)>>,
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
            shared: Shared::new(&fingerprint, settings.token_cache_dir.as_deref()),
            fingerprint,
            held: RefCell::default(),
            refreshing: Cell::new(false),
            last_failure: RefCell::default(),
            revoked: RefCell::default(),
            secret_index: Cell::new(0),
            deferred_until: Cell::new(0),
            owner: Cell::new(0),
            denials: Denials::default(),
            invalid: RefCell::default(),
            ims_down_until: Cell::new(0),
            validating: Cell::new(false),
            validated: Cell::new(None),
        }
    }

    /// The KV key of the sealed token (also the associated data of every
    /// sealed copy, the file's included).
    pub fn kv_key(&self) -> &str {
        self.shared.kv_key()
    }

    /// The KV key of the refresh lease.
    pub fn lease_key(&self) -> &str {
        self.shared.kv_lease_key()
    }

    /// The token file, when `token_cache_dir` is set.
    pub fn file_path(&self) -> Option<&str> {
        self.shared.file_path()
    }

    /// The lease file, when `token_cache_dir` is set.
    pub fn lease_path(&self) -> Option<&str> {
        self.shared.lease_path()
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

    /// Like [`Tokens::status`], but a fresh instance with nothing in memory
    /// looks in the shared stores (read only: nothing is taken or written),
    /// so a valid token another instance shares is reported as cached.
    pub async fn status_shared<P: Ports>(&self, settings: &Settings, ports: &P) -> TokenStatus {
        let now = ports.now_ms();
        let status = self.status(now);
        if status.cached {
            return status;
        }
        match self
            .read_shared(settings, ports, now, 0, Look::Everywhere)
            .await
        {
            Some(h) => TokenStatus {
                cached: true,
                seconds_left: h.token.seconds_left(now),
                source: Some(h.source),
                refresh_due: h.token.freshness(now, h.jitter_ms) == Freshness::Refresh,
                ..status
            },
            None => status,
        }
    }

    /// Whether IMS called `sent` valid under [`crate::denials::REMEMBER_MS`]
    /// ago (here, or in an instance whose record this one read): a 401 to it
    /// is the role.
    pub fn held_valid(&self, sent: &str, now_ms: u64) -> bool {
        self.validated
            .get()
            .is_some_and(|(d, until)| now_ms < until && d == crate::denials::digest(sent))
    }

    /// Whether `sent` is the token held and was issued under [`YOUNG_MS`] ago.
    pub fn is_young(&self, sent: &str, now_ms: u64) -> bool {
        self.held.borrow().as_ref().is_some_and(|h| {
            h.token.access_token == sent && now_ms.saturating_sub(h.token.issued_at_ms()) < YOUNG_MS
        })
    }

    /// A token that may be sent now.
    pub async fn get<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
    ) -> Result<String, Problem> {
        self.get_at(settings, ports, trace, ports.now_ms()).await
    }

    /// The held token when it is fresh at `now` (not yet in its refresh
    /// window): no I/O at all, so the caller's reading of the clock is still
    /// good after it. Anything else goes through [`Tokens::get_at`].
    pub fn fresh(&self, now: u64, trace: &Trace) -> Option<String> {
        let held = self.held.borrow();
        let h = held.as_ref()?;
        if h.token.freshness(now, h.jitter_ms) != Freshness::Fresh {
            return None;
        }
        trace.token(TokenSource::Memory);
        Some(h.token.access_token.clone())
    }

    /// [`Tokens::get`] with the caller's reading of the clock, taken moments
    /// before: a warm read then asks the host for the time once less.
    pub async fn get_at<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        now: u64,
    ) -> Result<String, Problem> {
        self.get_within(settings, ports, trace, now, u64::MAX).await
    }

    /// [`Tokens::get_at`] for a request whose budget ends at `deadline_ms`:
    /// waiting for another caller's flight ends there too, with 504
    /// `accs_timeout`, and so does this caller's own call to IMS (a slow IMS
    /// must not hold a request past its budget: on the I/O Events route
    /// that is 8 s, under I/O Events' 10 s delivery timeout).
    pub async fn get_within<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        now: u64,
        deadline_ms: u64,
    ) -> Result<String, Problem> {
        if let Some(token) = self.fresh(now, trace) {
            return Ok(token);
        }
        let held = self.held.borrow().clone();
        if let Some(h) = held
            && h.token.freshness(now, h.jitter_ms) == Freshness::Refresh
        {
            trace.token(TokenSource::Memory);
            if self.recently_failed(now) || now < self.deferred_until.get() {
                return Ok(h.token.access_token);
            }
            // Only one caller refreshes; the others keep the valid token.
            let Some(_flight) = Flight::try_start(&self.refreshing) else {
                return Ok(h.token.access_token);
            };
            return self
                .refresh_early(settings, ports, trace, h, true, deadline_ms)
                .await;
        }

        let Some(_flight) = Flight::start(&self.refreshing, ports, deadline_ms).await else {
            return Err(crate::problem::budget_spent());
        };
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
        self.cold(settings, ports, trace, deadline_ms).await
    }

    fn take(&self, found: Held, trace: &Trace) -> String {
        trace.token(found.source);
        self.hold(found).token.access_token
    }

    /// Holds `h` and takes in the notes its record carried.
    fn hold(&self, mut h: Held) -> Held {
        let notes = std::mem::take(&mut h.notes);
        self.absorb(&notes);
        *self.held.borrow_mut() = Some(h.clone());
        h
    }

    fn recently_failed(&self, now: u64) -> bool {
        self.last_failure
            .borrow()
            .as_ref()
            .is_some_and(|(at, _)| now.saturating_sub(*at) < REFRESH_RETRY_MS)
    }

    /// A usable token that expires after `after_ms`, from the key-value store
    /// or else the token file.
    async fn read_shared<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        now: u64,
        after_ms: u64,
        look: Look,
    ) -> Option<Held> {
        if look == Look::Everywhere
            && let Some(value) = self.shared.read_kv(ports).await
            && let Some(h) = self.open(settings, ports, &value, now, after_ms, TokenSource::Kv)
        {
            return Some(h);
        }
        let value = self.shared.read_file(ports).await?;
        self.open(settings, ports, &value, now, after_ms, TokenSource::File)
    }

    /// A sealed value that opens under one of the secrets, is not the token
    /// ACCS refused, can still be sent and expires after `after_ms`.
    fn open<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        value: &[u8],
        now: u64,
        after_ms: u64,
        source: TokenSource,
    ) -> Option<Held> {
        let (token, notes) = settings.ims_client_secrets.iter().find_map(|secret| {
            seal::open_record(
                &seal::derive_key(secret.expose(), &self.fingerprint),
                self.shared.kv_key(),
                value,
            )
        })?;
        if self.revoked.borrow().as_deref() == Some(token.access_token.as_str())
            || token.expires_at_ms <= after_ms
        {
            return None;
        }
        let jitter_ms = random_u64(ports);
        if token.freshness(now, jitter_ms) == Freshness::Unusable {
            return None;
        }
        Some(Held {
            token,
            jitter_ms,
            source,
            notes,
        })
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

#[cfg(test)]
impl Tokens {
    /// Takes the single flight, as a caller stuck on IMS would, until the
    /// guard drops.
    pub(crate) fn hold_flight_for_test(&self) -> impl Drop + '_ {
        Flight::try_start(&self.refreshing).expect("the flight is free")
    }

    /// Forgets `sent` as if ACCS had refused it, unless a newer token already
    /// replaced it (the tests' shortcut to a cold cache with a revoked token).
    pub(crate) fn invalidate(&self, sent: &str) {
        let mut held = self.held.borrow_mut();
        if held.as_ref().is_some_and(|h| h.token.access_token == sent) {
            *held = None;
        }
        *self.revoked.borrow_mut() = Some(sent.to_owned());
    }

    /// When the held token enters its refresh window, jitter included.
    fn refresh_at_ms(&self) -> Option<u64> {
        let held = self.held.borrow();
        held.as_ref().map(|h| h.token.refresh_at_ms(h.jitter_ms))
    }

    /// When the held token may no longer be sent.
    fn unusable_at_ms(&self) -> Option<u64> {
        let held = self.held.borrow();
        held.as_ref().map(|h| h.token.unusable_at_ms())
    }
}

#[cfg(test)]
mod tests;
