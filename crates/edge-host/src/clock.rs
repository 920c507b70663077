//! The wall clock the guest reads (`wasi:clocks/wall-clock` of WASI 0.2 and
//! `system-clock` of WASI 0.3): the host's own, or one a test moves, so that
//! minutes pass for the component (a token reaching its refresh window, a
//! lease running out) without the test waiting them, and a test's steps
//! land at the times it names however slow the machine is.
//!
//! Only the wall clock moves. The monotonic clock, and with it every sleep
//! and timeout of the guest, keeps real time: a guest that sleeps 20 ms
//! still sleeps 20 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A settable wall clock shared by every instance of a host (and by the
/// test that holds a clone). By default it is the host's own; [`set_ms`]
/// moves it and it runs on at real pace; [`hold_ms`] stops it at a time
/// until the test moves it again (a guest that polls until the wall clock
/// passes a deadline then polls until the test moves the clock past it).
///
/// [`set_ms`]: Clock::set_ms
/// [`hold_ms`]: Clock::hold_ms
#[derive(Clone, Debug)]
pub struct Clock {
    /// Added to real time while the clock runs.
    offset_ms: Arc<AtomicI64>,
    /// Where the clock stands while held; negative while it runs.
    held_ms: Arc<AtomicI64>,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            offset_ms: Arc::default(),
            held_ms: Arc::new(AtomicI64::new(-1)),
        }
    }
}

fn real() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the host clock is after 1970")
}

impl Clock {
    /// The host's own time.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the guest reads now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.now().as_millis() as u64
    }

    fn now(&self) -> Duration {
        let held = self.held_ms.load(Ordering::SeqCst);
        if held >= 0 {
            return Duration::from_millis(held as u64);
        }
        let offset = self.offset_ms.load(Ordering::SeqCst);
        let by = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 {
            real() + by
        } else {
            real().saturating_sub(by)
        }
    }

    /// Moves the clock to `ms` (since the Unix epoch); it runs on from there
    /// at real pace.
    pub fn set_ms(&self, ms: u64) {
        self.offset_ms
            .store(ms as i64 - real().as_millis() as i64, Ordering::SeqCst);
        self.held_ms.store(-1, Ordering::SeqCst);
    }

    /// Stops the clock at `ms` (since the Unix epoch) until it is moved again.
    pub fn hold_ms(&self, ms: u64) {
        self.held_ms.store(ms as i64, Ordering::SeqCst);
    }

    /// Moves the clock forward by `by` (held or running, it stays so).
    pub fn advance(&self, by: Duration) {
        let by = by.as_millis() as i64;
        let held = self.held_ms.load(Ordering::SeqCst);
        if held >= 0 {
            self.held_ms.store(held + by, Ordering::SeqCst);
        } else {
            self.offset_ms.fetch_add(by, Ordering::SeqCst);
        }
    }

    pub(crate) fn wall(&self) -> GuestWallClock {
        GuestWallClock(self.clone())
    }
}

/// [`Clock`] as wasmtime-wasi's wall clock.
pub(crate) struct GuestWallClock(Clock);

impl wasmtime_wasi::HostWallClock for GuestWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0.now()
    }
}
