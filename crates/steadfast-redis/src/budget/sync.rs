//! The background task of a shared budget: every sync interval, one script call sends the
//! requests and successes counted since the last round and tops the local lease up; when the
//! budget is dropped, it gives the unused lease back and ends.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::counters::Counters;
use super::script::LEASE;
use super::tally::Count;
use crate::fleet::Fleet;

pub(super) struct BudgetSync {
    fleet: Fleet,
    key: String,
    script: redis::Script,
    fixed: [u64; 4],
    lease: u32,
    counters: Arc<Counters>,
}

impl BudgetSync {
    pub(super) fn new(
        fleet: Fleet,
        key: String,
        fixed: [u64; 4],
        lease: u32,
        counters: Arc<Counters>,
    ) -> Self {
        BudgetSync {
            fleet,
            key,
            script: redis::Script::new(LEASE),
            fixed,
            lease,
            counters,
        }
    }

    pub(super) async fn run(self) {
        // The tally's totals already sent: each round sends what grew since.
        let mut sent = (0u64, 0u64, 0u64);
        let mut tick = tokio::time::interval(self.fleet.sync_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.counters.wake.notified() => {}
            }
            if self.counters.dropped.load(Ordering::Acquire) {
                let left = self.counters.lease.swap(0, Ordering::AcqRel).max(0) as u64;
                self.round(0, 0, left as i64 * 1000, 0).await;
                return;
            }
            self.counters.pending.store(0, Ordering::Relaxed);
            let now = (
                self.counters.tally.sum(Count::Requests),
                self.counters.tally.sum(Count::Successes),
                self.counters.spent_alone.load(Ordering::Relaxed),
            );
            let requests = now.0.wrapping_sub(sent.0);
            let successes = now.1.wrapping_sub(sent.1);
            // Retries the local budget granted alone are taken from the fleet's balance.
            let spent = now.2.wrapping_sub(sent.2).min(i64::MAX as u64 / 1000) as i64;
            let have = self.counters.lease.load(Ordering::Acquire);
            let want = (i64::from(self.lease) - have).max(0) as u64;
            match self.round(requests, successes, -spent * 1000, want).await {
                Some(took) => {
                    // Counts are sent until Redis answers: after an outage, the requests and
                    // successes it saw fill the fleet's balance (up to its capacity) and the
                    // retries the local budget granted meanwhile are taken from it.
                    sent = now;
                    self.counters.lease.fetch_add(took as i64, Ordering::AcqRel);
                    self.counters.leased.fetch_add(took, Ordering::Relaxed);
                    self.counters.online.store(true, Ordering::Release);
                }
                None => self.counters.online.store(false, Ordering::Release),
            }
        }
    }

    /// One script call (`returned`: thousandths given back, or taken when negative); the
    /// retries leased, or `None` when Redis did not answer (the counts of the round are then
    /// sent again with the next round's; a round Redis ran whose answer was lost counts twice,
    /// within the balance's bounds).
    async fn round(&self, requests: u64, successes: u64, returned: i64, want: u64) -> Option<u64> {
        let mut inv = self.script.key(&self.key);
        inv.arg(requests).arg(successes).arg(returned).arg(want);
        for a in self.fixed {
            inv.arg(a);
        }
        inv.arg(
            self.fleet
                .inner
                .key_ttl
                .as_millis()
                .min(u128::from(u64::MAX)) as u64,
        );
        let mut con = self.fleet.inner.con.clone();
        let answer: Vec<i64> = self
            .fleet
            .run("budget lease", inv.invoke_async(&mut con))
            .await?;
        answer.first().map(|t| (*t).max(0) as u64)
    }
}
