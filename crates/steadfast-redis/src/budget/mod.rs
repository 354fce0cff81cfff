//! Retry budgets shared across a fleet: [`SharedBudget`], started by
//! [`Fleet::share_budget`](crate::Fleet::share_budget) with [`FleetBudget`] rules.
//!
//! ```no_run
//! use std::sync::Arc;
//! use steadfast::retry::{RetryBudget, TokenBucket};
//! use steadfast_redis::{Fleet, FleetBudget};
//!
//! # #[tokio::main] async fn main() {
//! let fleet = Fleet::builder("redis://127.0.0.1:6379/0").namespace("shop").build().unwrap();
//! let local = Arc::new(TokenBucket::builder().capacity(100).build().unwrap());
//! let budget = fleet
//!     .share_budget("payments", FleetBudget::token_bucket(500, 5, 1).lease(5), local)
//!     .unwrap();
//! // Hand it to a retry policy as any budget: `.budget(budget.clone())`.
//! assert!(budget.withdraw() || !budget.is_shared());
//! # }
//! ```

mod counters;
mod script;
mod settings;
mod shared;
mod sync;
mod tally;

pub use settings::FleetBudget;
pub use shared::SharedBudget;
