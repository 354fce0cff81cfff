//! Retry budgets: a bound on retries shared by every clone of a service, so that a struggling
//! downstream is not buried under a retry storm.
//!
//! Two budgets ship:
//!
//! * [`RatioBudget`]: retries may be at most a fraction of the requests seen over a sliding
//!   window, plus a small floor per second so that low-traffic clients can still retry. The
//!   fraction is exact to 1/10,000 (10% means exactly one retry per ten requests); the floor
//!   is paced, so at most one second's worth of it is spent at once.
//! * [`TokenBucket`]: the "retry quota" of the AWS SDKs. The bucket starts full; a retry costs
//!   tokens, a success puts some back, and an empty bucket means no retries.
//!
//! Both are lock-free on the success path. Share one budget between layers by cloning the
//! `Arc` you pass to the policy.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::retry::{RatioBudget, RetryBudget};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // 10% of requests may be retried, with no floor.
//! let budget = RatioBudget::builder().ratio(0.1).min_per_second(0).build().unwrap();
//! for _ in 0..20 { budget.deposit(); }
//! assert!(budget.withdraw());
//! assert!(budget.withdraw());
//! assert!(!budget.withdraw(), "20 requests buy exactly two retries");
//! # }
//! ```
//!
//! The trait is in `retry_budget.rs`, and each budget has its own file.

mod ratio;
mod retry_budget;
mod token_bucket;

pub use ratio::{RatioBudget, RatioBudgetBuilder};
pub use retry_budget::RetryBudget;
pub use token_bucket::{TokenBucket, TokenBucketBuilder};
