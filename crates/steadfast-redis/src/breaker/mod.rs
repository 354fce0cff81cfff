//! Circuit breakers shared across a fleet: [`SharedBreaker`], started from a local
//! [`CircuitBreaker`](steadfast::circuit_breaker::CircuitBreaker) by
//! [`Fleet::share_breaker`](crate::Fleet::share_breaker).
//!
//! ```no_run
//! use std::time::Duration;
//! use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
//! use steadfast_redis::Fleet;
//!
//! # #[tokio::main] async fn main() {
//! let fleet = Fleet::builder("redis://127.0.0.1:6379/0").namespace("shop").build().unwrap();
//! let local = CircuitBreaker::builder().name("payments").half_open_max_calls(1).build().unwrap();
//! let shared = fleet
//!     .share_breaker(local)
//!     .failure_rate(50.0)
//!     .minimum_calls(20)
//!     .open_for(Duration::from_secs(5))
//!     .start()
//!     .unwrap();
//! // Requests go through the local breaker, as always.
//! let layer = CircuitBreakerLayer::new(shared.breaker().clone());
//! # let _ = layer;
//! # }
//! ```

mod script;
mod settings;
mod shared;
mod stats;
mod sync;

pub use settings::SharedBreakerBuilder;
pub use shared::SharedBreaker;
pub use stats::SharedBreakerStats;
