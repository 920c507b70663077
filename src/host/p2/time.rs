//! A sleep on `wasi:clocks/monotonic-clock` driven by spin-sdk 5.2's
//! executor (the one `#[http_component]` runs the handler on).

use spin_executor::CancelOnDropToken;
use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;
use wasi::clocks::monotonic_clock;

/// The deadline is fixed at the first poll, from the clock read that poll
/// makes anyway: two host calls when the sleep is raced and lost (each
/// about 5k instructions on Spin 3.6.3), not three.
pub async fn sleep(duration: Duration) {
    let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    let mut deadline: Option<u64> = None;
    // Dropping the future (a lost race) cancels the pending registration.
    let mut registered: Option<CancelOnDropToken> = None;
    poll_fn(|cx| {
        let now = monotonic_clock::now();
        let deadline = *deadline.get_or_insert(now.saturating_add(ns));
        if now >= deadline {
            return Poll::Ready(());
        }
        // The executor drops a pollable once it fired: register anew each time.
        let pollable = monotonic_clock::subscribe_instant(deadline);
        registered =
            Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        Poll::Pending
    })
    .await
}
