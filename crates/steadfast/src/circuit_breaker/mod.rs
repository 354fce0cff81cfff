//! Circuit breakers: stop calling a downstream that is failing, and probe it until it
//! recovers.
//!
//! ```text
//!            failure rate / slow-call rate / consecutive failures
//!   ┌────────┐ ───────────────────────────────────────────────▶ ┌──────┐
//!   │ Closed │                                                  │ Open │ ◀─┐
//!   └────────┘ ◀─────────┐                                      └──────┘   │ a probe fails,
//!                        │ M probes succeed                         │      │ or half-open
//!                  ┌───────────┐ ◀──────────────────────────────────┘      │ too long
//!                  │ Half-open │        open time elapsed, a call arrives   │
//!                  └───────────┘ ──────────────────────────────────────────┘
//!
//!   Manual states: ForcedOpen (reject all), Disabled (pass all, record nothing),
//!                  MetricsOnly (pass all, record, never trip).
//! ```
//!
//! * **Closed**: calls pass; each result goes into a sliding window ([`SlidingWindow`]: the
//!   last N calls, or the last N seconds in buckets), O(1) per call. Once the window holds
//!   [`minimum_calls`](CircuitBreakerBuilder::minimum_calls), the breaker trips when the
//!   failure rate or the slow-call rate reaches its threshold; the consecutive-failure rule
//!   trips regardless of the window.
//! * **Open**: calls fail fast with [`Rejected`] (which says when the next probe is due), or
//!   get the layer's fallback. The open time is fixed or grows with each consecutive trip
//!   ([`open_backoff`](CircuitBreakerBuilder::open_backoff)).
//! * **Half-open**: [`half_open_max_calls`](CircuitBreakerBuilder::half_open_max_calls)
//!   probes are let through in total for the whole half-open period (a probe whose future is
//!   dropped gives its permit back). By default
//!   [`success_threshold`](CircuitBreakerBuilder::success_threshold) successes close the
//!   breaker and one failure reopens it; [`HalfOpenRule::Rates`] judges the probes by their
//!   failure and slow-call rates instead. A probe still out after
//!   [`max_half_open`](CircuitBreakerBuilder::max_half_open) (60 s by default) reopens it.
//!
//! Every transition starts a new *generation*: results of calls admitted before it are not
//! counted. Calls whose caller cancelled them (their request's
//! [`CancelToken`](crate::token::CancelToken) fired) are ignored unless
//! [`count_cancellations`](CircuitBreakerBuilder::count_cancellations) is set; an attempt
//! that lost a hedge race ([`CancelReason::HedgeLost`](crate::token::CancelReason::HedgeLost))
//! is ignored even then, and one dropped unanswered (as the hedge layer drops its losers)
//! gives its permit back without being recorded.
//!
//! A breaker guards a service through [`CircuitBreakerLayer`], and plain code through
//! [`CircuitBreaker::run`] and [`CircuitBreaker::run_blocking`]; both go through the same
//! state machine. [`CircuitBreaker::metrics`] reports its state and counts, and
//! [`BreakerMetrics::rates`] the success, failure, slow-call and rejection rates.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::circuit_breaker::{
//!     CircuitBreaker, CircuitBreakerLayer, CircuitState, Rejected, SlidingWindow,
//! };
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // Trip when half of the last four calls failed; probe again after 30 s.
//! let breaker = CircuitBreaker::builder()
//!     .name("inventory")
//!     .failure_rate(50.0)
//!     .minimum_calls(4)
//!     .window(SlidingWindow::count(4))
//!     .open_for(Duration::from_secs(30))
//!     .build()
//!     .unwrap();
//! // A downstream that fails every odd request.
//! let inventory = service_fn(|n: u32| async move {
//!     if n % 2 == 1 { Err(std::io::Error::other("timed out")) } else { Ok(n) }
//! });
//! let svc = CircuitBreakerLayer::new(breaker.clone()).layer(inventory);
//!
//! for n in 0..4 {
//!     let _ = svc.clone().oneshot(n).await;
//! }
//! assert_eq!(breaker.state(), CircuitState::Open, "2 failures in 4 calls: 50%");
//!
//! // Open: calls fail fast with `Rejected`, without reaching the downstream.
//! let err = svc.clone().oneshot(10).await.unwrap_err();
//! let rejected = err.downcast_ref::<Rejected>().unwrap();
//! assert_eq!(rejected.name(), "inventory");
//! assert_eq!(rejected.retry_after(), Some(Duration::from_secs(30)));
//!
//! // After the open time, one probe is let through; its success closes the breaker.
//! tokio::time::advance(Duration::from_secs(30)).await;
//! assert_eq!(svc.oneshot(12).await.unwrap(), 12);
//! assert_eq!(breaker.state(), CircuitState::Closed);
//! let m = breaker.metrics();
//! assert_eq!((m.successes, m.failures, m.rejections, m.trips), (3, 2, 1, 1));
//! # }
//! ```
//!
//! The closed path is atomics only: a load of the state word, then the window's record. A
//! count window of `n` calls (up to 2,097,151) holds exactly the last `n` outcomes; while it
//! is full of successes a success costs one load and one increment of a per-thread counter,
//! and otherwise one `fetch_add`, one `swap` and (when the evicted result differs) one more
//! `fetch_add`. A time window keeps 64-bit counts per bucket, exact up to 2^64 − 1 calls in
//! one window, whatever the call rate; a success costs one clock read, one load and three
//! `fetch_add`s (a failure or a slow call two more each). No lock, no allocation, no boxed
//! future.
//!
//! For a request carrying a [decision trace](crate::trace), the layer records, under the
//! breaker's name, its admission ([`Decision::Admission`](crate::trace::Decision::Admission):
//! the state, whether the call was let through, and the failures and calls in the window at
//! that moment), the classifier's verdict with the rule that gave it
//! ([`Decision::Classified`](crate::trace::Decision::Classified), from
//! [`Classify::explain`](crate::classify::Classify::explain)), and how the call was counted
//! ([`Decision::Recorded`](crate::trace::Decision::Recorded): `"success"`, `"failure"`,
//! `"slow"`, `"invalid"` or `"ignored"`). A [`Rejected`] error carries the request's trace
//! ([`Rejected::decision_trace`]). Calls made with [`CircuitBreaker::run`] have no request,
//! and no trace.

mod breaker;
mod builder;
mod describe;
mod error;
mod events;
mod future;
mod keyed;
mod layer;
mod live;
mod metrics;
#[cfg(feature = "reload")]
mod reconfigure;
mod registry;
mod run;
mod service;
mod state;
mod traced;
mod window;

pub use breaker::{BreakerRef, CircuitBreaker};
pub use builder::{CircuitBreakerBuilder, HalfOpenRule, SlidingWindow};
pub use error::Rejected;
pub use events::{BreakerEvent, CircuitState, TransitionReason};
pub use future::ResponseFuture;
pub use keyed::{
    KeyTableFull, KeyedBreakers, KeyedBreakersBuilder, KeyedCircuitBreakerLayer,
    KeyedCircuitBreakerService, KeyedError,
};
pub use layer::CircuitBreakerLayer;
pub use metrics::{BreakerMetrics, CallRates};
pub use registry::Registry;
pub use run::{ClassifiedBreaker, Run};
pub use service::{CircuitBreakerService, Fallback, FallbackFn, NoFallback};
