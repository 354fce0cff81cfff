//! Hedging: backup attempts of a slow request, the first acceptable answer wins and the
//! others are cancelled.
//!
//! Build a [`HedgeLayer`] with [`HedgeLayer::builder`] (every setting is checked when it is
//! built). What happens to one request:
//!
//! 1. A copy of the request is kept ([`CloneRequest`](crate::retry::CloneRequest), as the
//!    retry layer does; a request that cannot be copied is sent once, unhedged), and the first
//!    attempt is sent with a child of the request's [`CancelToken`](crate::token::CancelToken).
//! 2. More attempts follow, as the [`HedgeMode`] says: after a [`HedgeDelay`] without an
//!    answer (latency mode: a fixed delay, a function of the attempt, or a live percentile of
//!    observed latency read from a lock-free, windowed [`LatencyHistogram`], with a floor and
//!    a fixed delay until enough samples are seen, as Finagle's backup requests and "The Tail
//!    at Scale" describe), all at once (parallel), or only after a non-fatal failure
//!    (fallback). Each is a fresh copy of the request with a child token of its own, sent once
//!    the inner service is ready again, and paid for by the layer's budget
//!    ([`RetryBudget`](crate::retry::RetryBudget), the retry layer's, and shareable with it).
//!    **No budget, no hedge**: a layer without one sends each request once.
//! 3. Each answer is classified ([`crate::classify`]): a success wins; a non-fatal failure
//!    (retryable) lets the other attempts run on and sends the next hedge at once; a fatal one
//!    (non-retryable, or ignored) ends the request with that answer. When every attempt fails,
//!    the last failure is returned as it is.
//! 4. When an answer ends the request, every other attempt's token is cancelled with
//!    [`CancelReason::HedgeLost`](crate::token::CancelReason::HedgeLost) (a server behind a
//!    client that watches the token sees a disconnect; a circuit breaker never counts such an
//!    attempt as a failure) and its future is dropped.
//!
//! # Server pushback
//!
//! The classifier's verdict carries the server's word, in the vocabulary the retry layer
//! reads ([`Outcome::hint`](crate::classify::Outcome::hint)): a failure with a hint
//! ([`Outcome::retry_after`](crate::classify::Outcome::retry_after),
//! [`Outcome::pushed_back`](crate::classify::Outcome::pushed_back)) postpones the next hedge
//! by that delay (later ones wait their normal delay again), and
//! [`Outcome::DoNotRetry`](crate::classify::Outcome::DoNotRetry) stops further hedges while
//! the attempts in flight run on, as gRFC A6 says of `grpc-retry-pushback-ms`.
//! `steadfast-http`'s classifiers give these verdicts for `Retry-After` and
//! `grpc-retry-pushback-ms`.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use steadfast::hedge::{HedgeDelay, HedgeLayer, HedgeMode, LatencyHistogram};
//! use steadfast::retry::RatioBudget;
//!
//! let h = LatencyHistogram::new(Duration::from_secs(10), 10);
//! for ms in [3, 4, 5, 5, 6, 200] {
//!     h.record(Duration::from_millis(ms));
//! }
//! assert_eq!(h.percentile(0.5), Some(Duration::from_millis(5) + Duration::from_micros(119)));
//! assert_eq!(HedgeMode::default(), HedgeMode::Latency);
//!
//! let layer = HedgeLayer::builder()
//!     .delay(HedgeDelay::percentile(0.95).floor(Duration::from_millis(2)).histogram(Arc::new(h)))
//!     .budget(Arc::new(RatioBudget::builder().ratio(0.05).build().unwrap()))
//!     .build()
//!     .unwrap();
//! assert_eq!(layer.max_attempts(), 2);
//! ```

// `histogram.rs` holds the windowed histogram, `delay.rs` the mode and the delay read from it;
// `builder.rs` checks the settings (`settings.rs`) that `layer.rs`, `service.rs` and the
// response future (`future.rs`, with its hedges in `attempts.rs`) share; `events.rs` is what
// listeners hear and `describe.rs` how the layer describes itself.
mod attempts;
mod builder;
mod delay;
mod describe;
mod events;
mod future;
mod histogram;
mod layer;
mod service;
mod settings;

pub use builder::{HedgeLayerBuilder, MAX_ATTEMPTS};
pub use delay::{HedgeDelay, HedgeMode, PercentileDelay};
pub use events::{HedgeEvent, HedgeStop};
pub use future::ResponseFuture;
pub use histogram::LatencyHistogram;
pub use layer::HedgeLayer;
pub use service::Hedge;
