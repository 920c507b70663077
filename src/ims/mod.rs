//! The IMS access token: fetched with the server-to-server credentials, kept in
//! instance memory and, sealed, where other instances find it (the key-value
//! store, and the token file when `token_cache_dir` is set), refreshed ahead
//! of expiry by one caller at a time, and across instances by the holder of
//! a short lease.
//!
//! A warm request finds a fresh token in memory and touches nothing else.

pub mod lease;
pub mod seal;
pub mod shared;
pub mod token;
pub mod validate;

use crate::config::Settings;
use crate::denials::{self, Denials};
use crate::ports::{OutRequest, Ports};
use crate::problem::{Code, Problem};
use crate::trace::{TokenSource, Trace};
use serde::Serialize;
use shared::{Claim, Need, Shared};
use std::cell::{Cell, RefCell};
use std::time::Duration;
use token::{Freshness, ImsError, Token};
use validate::Verdict;

const IMS_TIMEOUT: Duration = Duration::from_secs(10);
/// While a valid token is held, a failed refresh is retried at most this often.
const REFRESH_RETRY_MS: u64 = 30_000;
/// What a caller is told to wait when IMS is down and no token is held.
const IMS_RETRY_AFTER_S: u64 = 10;
/// How long a cold instance waits for the holder of the lease file to write
/// its token before asking IMS itself. IMS answers in well under a second.
const COLD_WAIT_MS: u64 = 2_000;
/// How often it looks at the token file meanwhile.
const COLD_POLL: Duration = Duration::from_millis(20);
/// A token issued less than this long ago is unlikely to be stale: a 401 to
/// it is first put to IMS (`validate`) rather than answered with a new token.
pub const YOUNG_MS: u64 = 60_000;
/// How long a renewal waits for another instance that holds the lease to
/// store its token, polling the store this often.
const RENEW_WAIT_MS: u64 = 2_000;
const RENEW_POLL: Duration = Duration::from_millis(50);
/// At most this many tokens IMS called not valid are remembered.
const MAX_INVALID: usize = 8;

/// Where `read_shared` looks: waiting on a lease file, only the file can
/// change, so the key-value store is not asked again and again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Look {
    Everywhere,
    FileOnly,
}

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
    /// valid with when: concurrent 401s to one token ask IMS once.
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

    /// Whether `sent` is the token held and was issued under [`YOUNG_MS`] ago.
    pub fn is_young(&self, sent: &str, now_ms: u64) -> bool {
        self.held.borrow().as_ref().is_some_and(|h| {
            h.token.access_token == sent && now_ms.saturating_sub(h.token.issued_at_ms()) < YOUNG_MS
        })
    }

    /// ACCS answered 401 to `sent` and it may be stale: get another one,
    /// keeping `sent` in hand until it arrives. One renewal at a time per
    /// instance (the single flight, waited for until `deadline_ms`):
    /// callers that refused the same token meanwhile find the new one and
    /// fetch nothing. Across instances, the one that takes the lease asks
    /// IMS and the others wait up to 2 s for the token it stores. A stale
    /// copy of `sent` in a store is a miss. When IMS fails, `sent` stays
    /// held, so other routes keep working with it, and this caller gets the
    /// IMS problem.
    pub async fn renew<P: Ports>(
        &self,
        sent: &str,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        deadline_ms: u64,
    ) -> Result<(), Problem> {
        let Some(_flight) = Flight::start(&self.refreshing, ports, deadline_ms).await else {
            return Err(crate::problem::budget_spent());
        };
        let now = ports.now_ms();
        if self.held.borrow().as_ref().is_some_and(|h| {
            h.token.access_token != sent
                && h.token.freshness(now, h.jitter_ms) != Freshness::Unusable
        }) {
            return Ok(());
        }
        *self.revoked.borrow_mut() = Some(sent.to_owned());
        if let Some(found) = self
            .read_shared(settings, ports, now, 0, Look::Everywhere)
            .await
        {
            self.take(found, trace);
            return Ok(());
        }
        if let Some((at, e)) = self.last_failure.borrow().as_ref()
            && *at >= now.saturating_sub(1_000)
        {
            return Err(problem(e));
        }
        let owner = self.owner(ports);
        let claim = self.shared.claim(ports, now, owner, Need::Early).await;
        if let Claim::HeldBy(until) = claim {
            let until = until
                .min(now.saturating_add(RENEW_WAIT_MS))
                .min(deadline_ms);
            while ports.now_ms() < until {
                ports.sleep(RENEW_POLL).await;
                if let Some(found) = self
                    .read_shared(settings, ports, ports.now_ms(), 0, Look::Everywhere)
                    .await
                {
                    self.take(found, trace);
                    return Ok(());
                }
            }
        }
        let fetched = self.fetch(settings, ports, trace).await;
        if claim == Claim::Taken {
            self.shared.release(ports, owner).await;
        }
        fetched.map(|_| ()).map_err(|e| problem(&e))
    }

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
        if let Some((valid, at)) = self.validated.get()
            && valid == d
            && now.saturating_sub(at) < denials::REMEMBER_MS
        {
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
            Verdict::Valid => self.validated.set(Some((d, ended))),
        }
        verdict
    }

    /// ACCS refused `token` on `scope` for want of `resource` while IMS held
    /// it valid: remembered here and in the record, for every instance.
    pub async fn remember_denial<P: Ports>(
        &self,
        scope: &str,
        resource: &str,
        token: &str,
        settings: &Settings,
        ports: &P,
    ) {
        self.denials
            .remember(scope, resource, token, ports.now_ms());
        self.persist(settings, ports).await;
    }

    /// When IMS failed a validation last, for the caller's `Retry-After`.
    pub fn ims_down_for_s(&self, now_ms: u64) -> u64 {
        self.ims_down_until
            .get()
            .saturating_sub(now_ms)
            .div_ceil(1_000)
            .max(1)
    }

    /// The notes as the record keeps them.
    fn notes(&self) -> seal::Notes {
        seal::Notes {
            denials: self.denials.export(),
            invalid: self
                .invalid
                .borrow()
                .iter()
                .map(|d| crate::config::hex(d))
                .collect(),
            ims_down_until: self.ims_down_until.get(),
        }
    }

    /// Takes in what a record carried.
    fn absorb(&self, notes: &seal::Notes) {
        self.denials.absorb(&notes.denials);
        let mut invalid = self.invalid.borrow_mut();
        for d in notes.invalid.iter().filter_map(|h| denials::unhex(h)) {
            if !invalid.contains(&d) {
                if invalid.len() >= MAX_INVALID {
                    invalid.remove(0);
                }
                invalid.push(d);
            }
        }
        self.ims_down_until
            .set(self.ims_down_until.get().max(notes.ims_down_until));
    }

    /// Writes the held token again with the notes as they are now. The
    /// store is read first: a newer token another instance stored is taken
    /// (with its notes), so this write never puts an older token back.
    async fn persist<P: Ports>(&self, settings: &Settings, ports: &P) {
        let now = ports.now_ms();
        if let Some(found) = self
            .read_shared(settings, ports, now, 0, Look::Everywhere)
            .await
        {
            let newer = self
                .held
                .borrow()
                .as_ref()
                .is_none_or(|h| found.token.expires_at_ms > h.token.expires_at_ms);
            if newer {
                self.hold(found);
            } else {
                self.absorb(&found.notes);
            }
        }
        let Some(h) = self.held.borrow().clone() else {
            return;
        };
        let secrets = &settings.ims_client_secrets;
        let secret = &secrets[self.secret_index.get() % secrets.len()];
        let sealed = seal::seal_record(
            &seal::derive_key(secret.expose(), &self.fingerprint),
            self.shared.kv_key(),
            &h.token,
            &self.notes(),
            random_nonce(ports),
        );
        self.shared.write(ports, sealed).await;
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
    /// `accs_timeout` (a slow IMS must not hold a request past its
    /// `accs_timeout_ms`).
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
            return self.refresh_early(settings, ports, trace, h, true).await;
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
        self.cold(settings, ports, trace).await
    }

    /// Inside the refresh window, by the one caller holding the flight: take
    /// a newer token another instance stored (`reread`: the stores were not
    /// just read), else refresh under the lease, else keep `held`, which is
    /// still valid.
    async fn refresh_early<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        held: Held,
        reread: bool,
    ) -> Result<String, Problem> {
        let now = ports.now_ms();
        let mut current = held;
        if reread
            && let Some(newer) = self
                .read_shared(
                    settings,
                    ports,
                    now,
                    current.token.expires_at_ms,
                    Look::Everywhere,
                )
                .await
        {
            let fresh = newer.token.freshness(now, newer.jitter_ms) == Freshness::Fresh;
            current = self.hold(newer);
            if fresh {
                trace.token(current.source);
                return Ok(current.token.access_token);
            }
        }
        let owner = self.owner(ports);
        let claim = self.shared.claim(ports, now, owner, Need::Early).await;
        if let Claim::HeldBy(until) = claim {
            self.deferred_until.set(until);
            return Ok(current.token.access_token);
        }
        let fetched = self.fetch(settings, ports, trace).await;
        if claim == Claim::Taken {
            self.shared.release(ports, owner).await;
        }
        match fetched {
            Ok(token) => Ok(token),
            // IMS failed: the token in hand, if it may still be sent now
            // (a slow failure can outlast what it had left).
            Err(e) => {
                let now = ports.now_ms();
                if current.token.freshness(now, current.jitter_ms) == Freshness::Unusable {
                    Err(problem(&e))
                } else {
                    Ok(current.token.access_token)
                }
            }
        }
    }

    /// No valid token in memory: the shared stores, else IMS, waiting a
    /// little for an instance that holds the lease file to write its token.
    async fn cold<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
    ) -> Result<String, Problem> {
        let now = ports.now_ms();
        if let Some(found) = self
            .read_shared(settings, ports, now, 0, Look::Everywhere)
            .await
        {
            // A stored token inside its refresh window is refreshed here too:
            // a WASI 0.2 instance lives for one request, so every request
            // starts cold, and without this the token would only be renewed
            // once it can no longer be sent, by every instance at once.
            if found.token.freshness(now, found.jitter_ms) == Freshness::Refresh {
                // A refresh that succeeds names IMS as the source instead.
                trace.token(found.source);
                let held = self.hold(found);
                return self
                    .refresh_early(settings, ports, trace, held, false)
                    .await;
            }
            return Ok(self.take(found, trace));
        }
        self.cold_fetch(settings, ports, trace, now)
            .await
            .map_err(|e| problem(&e))
    }

    /// Nothing usable stored: IMS, under the lease file where there is one.
    async fn cold_fetch<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        now: u64,
    ) -> Result<String, ImsError> {
        let owner = self.owner(ports);
        match self.shared.claim(ports, now, owner, Need::Cold).await {
            Claim::Taken => {
                // The holder before us may have finished just now.
                let found = self
                    .read_shared(settings, ports, ports.now_ms(), 0, Look::FileOnly)
                    .await;
                let result = match found {
                    Some(found) => Ok(self.take(found, trace)),
                    None => self.fetch(settings, ports, trace).await,
                };
                self.shared.release(ports, owner).await;
                result
            }
            Claim::HeldBy(until) => {
                let deadline = until.min(now.saturating_add(COLD_WAIT_MS));
                while ports.now_ms() < deadline {
                    ports.sleep(COLD_POLL).await;
                    if let Some(found) = self
                        .read_shared(settings, ports, ports.now_ms(), 0, Look::FileOnly)
                        .await
                    {
                        return Ok(self.take(found, trace));
                    }
                }
                self.fetch(settings, ports, trace).await
            }
            Claim::None => self.fetch(settings, ports, trace).await,
        }
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

    fn owner<P: Ports>(&self, ports: &P) -> u64 {
        if self.owner.get() == 0 {
            self.owner.set(random_u64(ports).max(1));
        }
        self.owner.get()
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

    /// Asks IMS, trying the rotation secrets in order from the last one that
    /// worked while IMS answers `invalid_client`, and shares what it got.
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

    /// Waits for the flight until `deadline_ms` (wall clock); `None` when
    /// it is still taken then.
    async fn start<P: Ports>(flag: &'a Cell<bool>, ports: &P, deadline_ms: u64) -> Option<Self> {
        loop {
            if let Some(f) = Self::try_start(flag) {
                return Some(f);
            }
            if ports.now_ms() >= deadline_ms {
                return None;
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
