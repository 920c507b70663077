//! The single flight: one refresh (or one validation) at a time per
//! instance.

use crate::ports::Ports;
use std::cell::Cell;
use std::time::Duration;

/// Held by the one caller that runs; dropping it lets the next one in.
///
/// Waiters poll the flag on the host clock rather than park on a Rust lock:
/// concurrent requests are separate component-model tasks, and waking one
/// task from another needs wit-bindgen's `inter-task-wakeup`, which traps
/// under wasmtime 48 ("waitable cannot be used synchronously"). A cold start
/// waits on IMS for tens of milliseconds, so a 5 ms poll costs nothing.
pub struct Flight<'a>(&'a Cell<bool>);

impl<'a> Flight<'a> {
    const POLL: Duration = Duration::from_millis(5);

    pub fn try_start(flag: &'a Cell<bool>) -> Option<Self> {
        (!flag.replace(true)).then(|| Flight(flag))
    }

    /// Waits for the flight until `deadline_ms` (wall clock); `None` when
    /// it is still taken then.
    pub async fn start<P: Ports>(
        flag: &'a Cell<bool>,
        ports: &P,
        deadline_ms: u64,
    ) -> Option<Self> {
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
