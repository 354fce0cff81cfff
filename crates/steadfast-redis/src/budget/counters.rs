//! The counters a shared budget's request path and its background task share.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};

use tokio::sync::Notify;

use super::tally::Tally;

/// What the request path and the background task share.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) online: AtomicBool,
    pub(super) lease: AtomicI64,
    /// Requests and successes, counted per thread without a locked instruction.
    pub(super) tally: Tally,
    pub(super) dropped: AtomicBool,
    pub(super) leased: AtomicU64,
    /// Retries the local budget granted while the fleet's balance could not decide (Redis
    /// not answering, or before the first round): taken from the fleet's balance when Redis
    /// answers again.
    pub(super) spent_alone: AtomicU64,
    /// Counts made since the last round, kept only with `sync_every_calls`.
    pub(super) pending: AtomicU64,
    /// Wakes the background task early, when `pending` reaches `sync_every_calls`.
    pub(super) wake: Notify,
}
