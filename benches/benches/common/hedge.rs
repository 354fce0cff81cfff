//! The hedging contenders: tower's `hedge` and steadfast's hedge layer, around the bare
//! service. On the success path every answer arrives at once, before any hedge is due.

use std::sync::Arc;
use std::time::Duration;

use steadfast::hedge::{Hedge, HedgeDelay, HedgeLayer};
use steadfast::retry::TokenBucket;
use tower::Layer;

use super::Bare;

/// tower's hedge policy: every request may be copied and hedged.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CloneAll;

impl tower::hedge::Policy<u64> for CloneAll {
    fn clone_request(&self, req: &u64) -> Option<u64> {
        Some(*req)
    }

    fn can_retry(&self, _req: &u64) -> bool {
        true
    }
}

/// `tower::hedge::Hedge` at the 95th percentile of a 10 s histogram, after 10 data points:
/// it records every answer's latency in a histogram behind a mutex, and makes a timer per
/// call. Needs a tokio runtime with time (entered) to make its timer.
pub(crate) fn tower_hedge() -> tower::hedge::Hedge<Bare, CloneAll> {
    tower::hedge::Hedge::new::<u64>(Bare, CloneAll, 10, 0.95, Duration::from_secs(10))
}

/// steadfast's hedge layer without a budget: it never hedges.
pub(crate) fn steadfast_no_budget() -> Hedge<Bare> {
    HedgeLayer::builder()
        .build()
        .expect("valid layer")
        .layer(Bare)
}

/// steadfast's hedge layer with a token bucket and `delay`.
pub(crate) fn steadfast_with(delay: impl Into<HedgeDelay>) -> Hedge<Bare> {
    HedgeLayer::builder()
        .delay(delay)
        .budget(Arc::new(
            TokenBucket::builder().build().expect("valid budget"),
        ))
        .build()
        .expect("valid layer")
        .layer(Bare)
}

/// steadfast's hedge layer with a token bucket and a fixed 10 ms delay.
pub(crate) fn steadfast_fixed() -> Hedge<Bare> {
    steadfast_with(HedgeDelay::fixed(Duration::from_millis(10)))
}

/// steadfast's hedge layer with a token bucket, at the 95th percentile of what it observes
/// (as tower's is): it records every winning latency in its lock-free histogram.
pub(crate) fn steadfast_percentile() -> Hedge<Bare> {
    steadfast_with(HedgeDelay::percentile(0.95).min_samples(10))
}
