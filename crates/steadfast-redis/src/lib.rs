//! Circuit breakers and retry budgets of [`steadfast`] shared across a fleet of
//! instances through Redis, with the request path staying local.
//!
//! * [`SharedBreaker`]: each instance keeps its local
//!   [`CircuitBreaker`](steadfast::circuit_breaker::CircuitBreaker) on the request path; a
//!   background task folds its outcomes into a shared time window in Redis every sync interval,
//!   or as soon as [`sync_every_calls`](FleetBuilder::sync_every_calls) outcomes wait (one Lua
//!   script per batch, so each update is atomic), reads back the fleet's state
//!   (closed, open until a time, half-open, with a generation), and learns of changes at once
//!   through pub/sub. The fleet opens when the fleet's failure rate crosses the threshold; in
//!   half-open, only the instances granted one of the fleet's probe permits probe.
//! * [`SharedBudget`]: a [`RetryBudget`](steadfast::retry::RetryBudget) whose balance is the
//!   fleet's ([`FleetBudget`]: a token bucket or a ratio); each instance leases a few retries
//!   at a time and spends them locally.
//!
//! Redis is never on the request path and never a single point of failure: when it is slow,
//! down or partitioned away, every instance goes on with its local breaker and budget, says
//! so once (a `tracing` warning and [`FleetStatus::outages`]), and rejoins when Redis answers.
//! Keys are `steadfast:{namespace}:{breaker|budget}:{name}` and expire when unused. See
//! `docs/fleet.md` for the model, its guarantees and its limits.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use steadfast::circuit_breaker::CircuitBreaker;
//! use steadfast::retry::RatioBudget;
//! use steadfast_redis::{Fleet, FleetBudget};
//!
//! # #[tokio::main] async fn main() {
//! let fleet = Fleet::builder("redis://127.0.0.1:6379/0")
//!     .namespace("checkout")
//!     .sync_interval(Duration::from_millis(100))
//!     .build()
//!     .unwrap();
//! let breaker = CircuitBreaker::builder().name("payments").half_open_max_calls(1).build().unwrap();
//! let shared = fleet.share_breaker(breaker).failure_rate(50.0).start().unwrap();
//! let local = Arc::new(RatioBudget::builder().ratio(0.1).build().unwrap());
//! let budget = fleet.share_budget("payments", FleetBudget::ratio(0.1, 100), local).unwrap();
//! # let _ = (shared, budget);
//! # }
//! ```

mod breaker;
mod budget;
mod fleet;
mod health;

pub use breaker::{SharedBreaker, SharedBreakerBuilder, SharedBreakerStats};
pub use budget::{FleetBudget, SharedBudget};
pub use fleet::{Fleet, FleetBuilder};
pub use health::FleetStatus;
