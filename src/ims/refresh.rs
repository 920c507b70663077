//! Getting a new token across instances, under the lease (`lease.rs`, held
//! in the shared stores by `shared.rs`): inside the refresh window, on a
//! cold start, and after ACCS refused the token. The holder of the lease
//! asks IMS; the others keep their valid token, or wait a little for the one
//! the holder stores.

use super::flight::Flight;
use super::shared::{Claim, Need};
use super::token::{Freshness, ImsError};
use super::{Held, Look, Tokens, problem, random_u64};
use crate::config::Settings;
use crate::ports::Ports;
use crate::problem::Problem;
use crate::trace::Trace;
use std::time::Duration;

/// How long a cold instance waits for the holder of the lease file to write
/// its token before asking IMS itself. IMS answers in well under a second.
pub(super) const COLD_WAIT_MS: u64 = 2_000;
/// How often it looks at the token file meanwhile.
const COLD_POLL: Duration = Duration::from_millis(20);
/// How long a renewal waits for another instance that holds the lease to
/// store its token, polling the store this often.
const RENEW_WAIT_MS: u64 = 2_000;
const RENEW_POLL: Duration = Duration::from_millis(50);

impl Tokens {
    /// Takes the store's token when it is another usable one than `sent`:
    /// an instance running beside this one (a host may run several of one
    /// component at once) renewed after this one read the store, so the
    /// token ACCS refused is already replaced, and asking IMS about it
    /// would only fail the request while IMS is down. `true` when the call
    /// may go once more with the token now held.
    pub async fn take_newer_shared<P: Ports>(
        &self,
        sent: &str,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
    ) -> bool {
        let now = ports.now_ms();
        match self
            .read_shared(settings, ports, now, 0, Look::Everywhere)
            .await
        {
            Some(found) if found.token.access_token != sent => {
                self.take(found, trace);
                true
            }
            _ => false,
        }
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
        let fetched = self.fetch(settings, ports, trace, deadline_ms).await;
        if claim == Claim::Taken {
            self.shared.release(ports, owner).await;
        }
        fetched.map(|_| ()).map_err(|e| problem(&e))
    }

    /// Inside the refresh window, by the one caller holding the flight: take
    /// a newer token another instance stored (`reread`: the stores were not
    /// just read), else refresh under the lease, else keep `held`, which is
    /// still valid.
    pub(super) async fn refresh_early<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        held: Held,
        reread: bool,
        deadline_ms: u64,
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
        let fetched = self.fetch(settings, ports, trace, deadline_ms).await;
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
    pub(super) async fn cold<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        deadline_ms: u64,
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
                    .refresh_early(settings, ports, trace, held, false, deadline_ms)
                    .await;
            }
            return Ok(self.take(found, trace));
        }
        self.cold_fetch(settings, ports, trace, now, deadline_ms)
            .await
            .map_err(|e| problem(&e))
    }

    /// Nothing usable stored: IMS, under the lease file where there is one.
    pub(super) async fn cold_fetch<P: Ports>(
        &self,
        settings: &Settings,
        ports: &P,
        trace: &Trace,
        now: u64,
        deadline_ms: u64,
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
                    None => self.fetch(settings, ports, trace, deadline_ms).await,
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
                self.fetch(settings, ports, trace, deadline_ms).await
            }
            Claim::None => self.fetch(settings, ports, trace, deadline_ms).await,
        }
    }

    pub(super) fn owner<P: Ports>(&self, ports: &P) -> u64 {
        if self.owner.get() == 0 {
            self.owner.set(random_u64(ports).max(1));
        }
        self.owner.get()
    }
}
