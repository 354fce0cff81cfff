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
//! [`count_cancellations`](CircuitBreakerBuilder::count_cancellations) is set.
//!
//! The closed path is atomics only: a load of the state word, then the window's record. A
//! count window of `n` calls (up to 2,097,151) holds exactly the last `n` outcomes; while it
//! is full of successes a success costs one load and one increment of a per-thread counter,
//! and otherwise one `fetch_add`, one `swap` and (when the evicted result differs) one more
//! `fetch_add`. A time window keeps 64-bit counts per bucket, exact up to 2^64 − 1 calls in
//! one window, whatever the call rate; a success costs one clock read, one load and three
//! `fetch_add`s (a failure or a slow call two more each). No lock, no allocation, no boxed
//! future.

mod breaker;
mod builder;
mod error;
mod events;
mod future;
mod keyed;
mod layer;
mod registry;
mod service;
mod state;
mod window;

pub use breaker::{BreakerRef, CircuitBreaker};
pub use builder::{CircuitBreakerBuilder, HalfOpenRule, SlidingWindow};
pub use error::Rejected;
pub use events::{BreakerEvent, BreakerMetrics, CircuitState, TransitionReason};
pub use future::ResponseFuture;
pub use keyed::{
    KeyTableFull, KeyedBreakers, KeyedBreakersBuilder, KeyedCircuitBreakerLayer,
    KeyedCircuitBreakerService, KeyedError,
};
pub use layer::CircuitBreakerLayer;
pub use registry::Registry;
pub use service::{CircuitBreakerService, Fallback, FallbackFn, NoFallback};
