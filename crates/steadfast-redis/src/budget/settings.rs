//! [`FleetBudget`]: the fleet-wide balance rules of a shared retry budget, and
//! [`Fleet::share_budget`], which starts one.

use std::sync::Arc;

use steadfast::retry::RetryBudget;
use steadfast::ConfigError;

use super::shared::SharedBudget;
use crate::fleet::Fleet;

/// How the fleet's balance of retries fills, in retries (kept in thousandths).
///
/// ```
/// use steadfast_redis::FleetBudget;
///
/// // The AWS SDKs' retry quota, for the whole fleet: 500 tokens, 5 a retry, 1 back a success.
/// let quota = FleetBudget::token_bucket(500, 5, 1);
/// // One retry per ten requests of the whole fleet, never more than 100 banked.
/// let ratio = FleetBudget::ratio(0.1, 100);
/// # let _ = (quota, ratio);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetBudget {
    per_request: f64,
    per_success: f64,
    capacity: f64,
    start: f64,
    lease: u32,
}

impl FleetBudget {
    /// A token bucket: `capacity` tokens at the start and at most, a retry costs `retry_cost`,
    /// a successful request puts `success_refund` back.
    pub fn token_bucket(capacity: u32, retry_cost: u32, success_refund: u32) -> Self {
        let cost = f64::from(retry_cost.max(1));
        FleetBudget {
            per_request: 0.0,
            per_success: f64::from(success_refund) / cost,
            capacity: f64::from(capacity) / cost,
            start: f64::from(capacity) / cost,
            lease: 0,
        }
        .checked_cost(retry_cost)
    }

    /// A ratio: each request of the fleet adds `ratio` of a retry, up to `max_retries`
    /// banked; the balance starts empty.
    pub fn ratio(ratio: f64, max_retries: u32) -> Self {
        FleetBudget {
            per_request: ratio,
            per_success: 0.0,
            capacity: f64::from(max_retries),
            start: 0.0,
            lease: 0,
        }
    }

    /// Retries each instance leases at a time (default: a tenth of the capacity, at least 1).
    /// A smaller lease keeps the fleet's balance exact; a larger one rides out more retries
    /// between two sync rounds.
    pub fn lease(mut self, retries: u32) -> Self {
        self.lease = retries;
        self
    }

    fn checked_cost(mut self, retry_cost: u32) -> Self {
        if retry_cost == 0 {
            self.capacity = -1.0;
        }
        self
    }

    pub(super) fn check(&self) -> Result<[u64; 4], ConfigError> {
        const L: &str = "shared budget";
        if self.capacity < 0.0 {
            return Err(ConfigError::new(L, "retry_cost", "must be at least 1"));
        }
        if !(self.per_request.is_finite() && (0.0..=1000.0).contains(&self.per_request)) {
            return Err(ConfigError::new(L, "ratio", "must be between 0 and 1000"));
        }
        if self.capacity < 1.0 {
            return Err(ConfigError::new(
                L,
                "capacity",
                "must hold at least one retry",
            ));
        }
        let t = |x: f64| (x * 1000.0).round() as u64;
        Ok([
            t(self.per_request),
            t(self.per_success),
            t(self.capacity),
            t(self.start),
        ])
    }

    pub(super) fn lease_size(&self) -> u32 {
        if self.lease > 0 {
            self.lease
        } else {
            ((self.capacity / 10.0) as u32).max(1)
        }
    }
}

impl Fleet {
    /// A retry budget named `name` whose balance is the fleet's (its key is
    /// `steadfast:{namespace}:budget:{name}`). `local` answers while Redis does not; it also
    /// sees every request and success, so it is current when it takes over. Must be called
    /// inside a tokio runtime; the background task ends when the budget is dropped, after
    /// giving its unused retries back.
    pub fn share_budget(
        &self,
        name: &str,
        rules: FleetBudget,
        local: Arc<dyn RetryBudget>,
    ) -> Result<Arc<SharedBudget>, ConfigError> {
        const L: &str = "shared budget";
        let fixed = rules.check()?;
        if name.is_empty() {
            return Err(ConfigError::new(L, "name", "must not be empty"));
        }
        let runtime = Fleet::runtime(L)?;
        Ok(SharedBudget::spawn(
            self.clone(),
            self.key("budget", name),
            fixed,
            rules.lease_size(),
            local,
            &runtime,
        ))
    }
}
