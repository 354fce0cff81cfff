//! [`TokenBucket`]: the retry quota of the AWS SDKs.

use super::retry_budget::RetryBudget;
use crate::config::ConfigError;
use crate::sync::{AtomicI64, Ordering};

/// A retry quota: a bucket of tokens that retries spend and successes refill.
///
/// Defaults follow the AWS SDKs' standard mode: 500 tokens, 5 per retry, 1 back per success.
///
/// # Invariants
///
/// The level is one atomic updated by compare-and-swap; it never goes below zero or above
/// the capacity. A success on a full bucket is a single load.
#[derive(Debug)]
pub struct TokenBucket {
    level: AtomicI64,
    capacity: i64,
    retry_cost: i64,
    success_refund: i64,
}

impl TokenBucket {
    /// Starts a builder with the AWS standard-mode defaults.
    pub fn builder() -> TokenBucketBuilder {
        TokenBucketBuilder {
            capacity: 500,
            retry_cost: 5,
            success_refund: 1,
        }
    }

    /// Tokens in the bucket now.
    pub fn level(&self) -> i64 {
        self.level.load(Ordering::Acquire)
    }
}

impl RetryBudget for TokenBucket {
    /// The tokens in the bucket in retries: its level over the cost of one retry.
    fn balance(&self) -> Option<f64> {
        Some(self.level() as f64 / self.retry_cost.max(1) as f64)
    }

    fn describe(&self) -> crate::describe::Value {
        crate::describe::Value::variant("token_bucket")
            .with("capacity", self.capacity as u64)
            .with("retry_cost", self.retry_cost as u64)
            .with("success_refund", self.success_refund as u64)
    }

    fn deposit(&self) {}

    fn withdraw(&self) -> bool {
        self.level
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
                (l >= self.retry_cost).then(|| l - self.retry_cost)
            })
            .is_ok()
    }

    fn on_success(&self, _attempts: u32) {
        if self.success_refund == 0 || self.level.load(Ordering::Relaxed) >= self.capacity {
            return;
        }
        let _ = self
            .level
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
                (l < self.capacity).then(|| (l + self.success_refund).min(self.capacity))
            });
    }
}

/// Builds a [`TokenBucket`].
#[derive(Debug, Clone)]
pub struct TokenBucketBuilder {
    capacity: u32,
    retry_cost: u32,
    success_refund: u32,
}

impl TokenBucketBuilder {
    /// Tokens when full (and at the start).
    pub fn capacity(mut self, n: u32) -> Self {
        self.capacity = n;
        self
    }

    /// Tokens one retry costs (at least 1).
    pub fn retry_cost(mut self, n: u32) -> Self {
        self.retry_cost = n;
        self
    }

    /// Tokens a successful request puts back.
    pub fn success_refund(mut self, n: u32) -> Self {
        self.success_refund = n;
        self
    }

    /// Checks the settings and builds the bucket.
    pub fn build(self) -> Result<TokenBucket, ConfigError> {
        if self.retry_cost == 0 {
            return Err(ConfigError::new(
                "retry budget",
                "retry_cost",
                "must be at least 1",
            ));
        }
        if self.retry_cost > self.capacity {
            return Err(ConfigError::new(
                "retry budget",
                "retry_cost",
                format!(
                    "must not exceed capacity ({} > {})",
                    self.retry_cost, self.capacity
                ),
            ));
        }
        Ok(TokenBucket {
            level: AtomicI64::new(i64::from(self.capacity)),
            capacity: i64::from(self.capacity),
            retry_cost: i64::from(self.retry_cost),
            success_refund: i64::from(self.success_refund),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn token_bucket_spends_and_refills() {
        let b = TokenBucket::builder()
            .capacity(10)
            .retry_cost(5)
            .success_refund(1)
            .build()
            .unwrap();
        assert!(b.withdraw());
        assert!(b.withdraw());
        assert!(!b.withdraw());
        assert_eq!(b.level(), 0);
        for _ in 0..4 {
            b.on_success(1);
        }
        assert!(!b.withdraw());
        b.on_success(1);
        assert!(b.withdraw());
        for _ in 0..100 {
            b.on_success(1);
        }
        assert_eq!(b.level(), 10);
    }

    #[test]
    fn token_bucket_is_exact_under_contention() {
        let b = Arc::new(
            TokenBucket::builder()
                .capacity(1_000)
                .retry_cost(3)
                .success_refund(0)
                .build()
                .unwrap(),
        );
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || (0..1_000).filter(|_| b.withdraw()).count())
            })
            .collect();
        let granted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(granted, 333);
        assert_eq!(b.level(), 1);
    }

    #[test]
    fn the_builder_rejects_bad_values() {
        assert_eq!(
            TokenBucket::builder()
                .retry_cost(0)
                .build()
                .unwrap_err()
                .field(),
            "retry_cost"
        );
        assert_eq!(
            TokenBucket::builder()
                .capacity(2)
                .retry_cost(3)
                .build()
                .unwrap_err()
                .to_string(),
            "invalid retry budget configuration: `retry_cost` must not exceed capacity (3 > 2)"
        );
    }
}
