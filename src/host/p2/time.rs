//! A sleep on `wasi:clocks/monotonic-clock` driven by spin-sdk 5.2's
//! executor (the one `#[http_component]` runs the handler on).

use spin_executor::CancelOnDropToken;
use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;
use wasi::clocks::monotonic_clock;

pub async fn sleep(duration: Duration) {
    let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    let deadline = monotonic_clock::now().saturating_add(ns);
    // Dropping the future (a lost race) cancels the pending registration.
    let mut registered: Option<CancelOnDropToken> = None;
    poll_fn(|cx| {
        if monotonic_clock::now() >= deadline {
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
