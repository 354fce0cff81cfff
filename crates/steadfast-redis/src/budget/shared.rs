//! [`SharedBudget`]: a retry budget whose balance is the fleet's, spent from a local lease.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use steadfast::retry::RetryBudget;

use super::counters::Counters;
use super::sync::BudgetSync;
use super::tally::Count;
use crate::fleet::Fleet;

/// How a request path call counts one kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counting {
    /// The fleet's rules do not use it.
    No,
    /// On the thread's own slot when it has one (the common path).
    Own,
    /// Out of line: with `sync_every_calls`, which also counts what is pending.
    Pending,
}

impl Counting {
    fn new(used: bool, every: u64) -> Self {
        match (used, every) {
            (false, _) => Counting::No,
            (true, 0) => Counting::Own,
            (true, _) => Counting::Pending,
        }
    }
}

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
    /// Whether the fleet's rules fill the balance per request (a ratio) and per success (a
    /// token bucket's refund): a count the rules do not use is not made.
    requests: Counting,
    successes: Counting,
    /// `sync_every_calls`, or 0 when unset (nothing more is counted).
    every: u64,
}

impl fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBudget")
            .field("online", &self.is_shared())
            .field("lease", &self.lease())
            .field("local", &self.local)
            .finish_non_exhaustive()
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
        let every = fleet.sync_every_calls().map_or(0, u64::from);
        runtime.spawn(BudgetSync::new(fleet, key, fixed, lease, counters.clone()).run());
        Arc::new(SharedBudget {
            counters,
            local,
            requests: Counting::new(fixed[0] > 0, every),
            successes: Counting::new(fixed[1] > 0, every),
            every,
        })
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

    /// [`deposit`](RetryBudget::deposit) when the request is counted the slow way.
    #[inline(never)]
    fn deposit_slow(&self) {
        self.count_slow(Count::Requests);
        self.local.deposit();
    }

    /// [`on_success`](RetryBudget::on_success) when the success is counted the slow way.
    #[inline(never)]
    fn on_success_slow(&self, attempts: u32) {
        self.count_slow(Count::Successes);
        self.local.on_success(attempts);
    }

    /// Counts one `count` the slow way: a thread's first count, a thread beyond the tally's
    /// slots, or with `sync_every_calls` (where the `n`-th count wakes the task). Kept out of
    /// the common path, which then makes no call but its tail call to the local budget.
    fn count_slow(&self, count: Count) {
        if self.every == 0 || !self.counters.tally.add_own(count) {
            self.counters.tally.add(count);
        }
        if self.every != 0
            && self.counters.pending.fetch_add(1, Ordering::Relaxed) + 1 == self.every
        {
            self.counters.wake.notify_one();
        }
    }

    /// Retries leased from the fleet since the start.
    pub fn leased_total(&self) -> u64 {
        self.counters.leased.load(Ordering::Relaxed)
    }
}

impl RetryBudget for SharedBudget {
    fn deposit(&self) {
        match self.requests {
            Counting::No => {}
            Counting::Own if self.counters.tally.add_own(Count::Requests) => {}
            _ => return self.deposit_slow(),
        }
        self.local.deposit();
    }

    fn withdraw(&self) -> bool {
        if !self.counters.online.load(Ordering::Acquire) {
            let granted = self.local.withdraw();
            if granted {
                self.counters.spent_alone.fetch_add(1, Ordering::Relaxed);
            }
            return granted;
        }
        self.counters
            .lease
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
                (l > 0).then(|| l - 1)
            })
            .is_ok()
    }

    fn on_success(&self, attempts: u32) {
        match self.successes {
            Counting::No => {}
            Counting::Own if self.counters.tally.add_own(Count::Successes) => {}
            _ => return self.on_success_slow(attempts),
        }
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
