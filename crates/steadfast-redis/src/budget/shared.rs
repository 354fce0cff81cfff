//! [`SharedBudget`]: a retry budget whose balance is the fleet's, spent from a local lease.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use steadfast::retry::RetryBudget;

use super::counters::Counters;
use super::sync::BudgetSync;
use crate::fleet::Fleet;

/// A retry budget shared across the fleet.
///
/// Each instance leases a few retries from the fleet's balance in Redis and spends them
/// locally, so [`withdraw`](RetryBudget::withdraw) is one atomic operation and never waits on
/// Redis. Every sync interval a background task sends the instance's requests and successes
/// (which fill the balance), tops the lease up, and reports. While Redis does not answer, the
/// local budget it was built with decides; once Redis answers again the lease is used again.
/// Built by [`Fleet::share_budget`](crate::Fleet::share_budget).
pub struct SharedBudget {
    pub(super) counters: Arc<Counters>,
    local: Arc<dyn RetryBudget>,
}

impl fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBudget")
            .field("online", &self.is_shared())
            .field("lease", &self.lease())
            .field("local", &self.local)
            .finish()
    }
}

impl SharedBudget {
    pub(super) fn spawn(
        fleet: Fleet,
        key: String,
        fixed: [u64; 4],
        lease: u32,
        local: Arc<dyn RetryBudget>,
        runtime: &tokio::runtime::Handle,
    ) -> Arc<Self> {
        let counters = Arc::new(Counters::default());
        runtime.spawn(BudgetSync::new(fleet, key, fixed, lease, counters.clone()).run());
        Arc::new(SharedBudget { counters, local })
    }

    /// `true` while the fleet's balance decides (Redis answered the last sync round);
    /// `false` while the local budget does.
    pub fn is_shared(&self) -> bool {
        self.counters.online.load(Ordering::Acquire)
    }

    /// Retries leased from the fleet and not spent yet.
    pub fn lease(&self) -> i64 {
        self.counters.lease.load(Ordering::Acquire)
    }

    /// Retries leased from the fleet since the start.
    pub fn leased_total(&self) -> u64 {
        self.counters.leased.load(Ordering::Relaxed)
    }
}

impl RetryBudget for SharedBudget {
    fn deposit(&self) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.local.deposit();
    }

    fn withdraw(&self) -> bool {
        if !self.counters.online.load(Ordering::Acquire) {
            return self.local.withdraw();
        }
        self.counters
            .lease
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
                (l > 0).then(|| l - 1)
            })
            .is_ok()
    }

    fn on_success(&self, attempts: u32) {
        self.counters.successes.fetch_add(1, Ordering::Relaxed);
        self.local.on_success(attempts);
    }

    fn balance(&self) -> Option<f64> {
        if self.is_shared() {
            Some(self.lease() as f64)
        } else {
            self.local.balance()
        }
    }

    fn describe(&self) -> steadfast::describe::Value {
        steadfast::describe::Value::variant("shared").with("local", self.local.describe())
    }
}

impl Drop for SharedBudget {
    fn drop(&mut self) {
        self.counters.dropped.store(true, Ordering::Release);
    }
}
