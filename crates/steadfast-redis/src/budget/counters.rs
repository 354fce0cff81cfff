//! The counters a shared budget's request path and its background task share.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};

/// What the request path and the background task share.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) online: AtomicBool,
    pub(super) lease: AtomicI64,
    pub(super) requests: AtomicU64,
    pub(super) successes: AtomicU64,
    pub(super) dropped: AtomicBool,
    pub(super) leased: AtomicU64,
}
