//! Hedging's building blocks: when to send a backup attempt of a slow request.
//!
//! A [`HedgeMode`] says how attempts are spread out (after a delay, all at once, or only
//! after a non-fatal failure) and a [`HedgeDelay`] how long the latency mode waits: a fixed
//! delay, a function of the attempt number, or a live percentile of observed latency read
//! from a lock-free, windowed [`LatencyHistogram`], with a floor and a fixed delay until
//! enough samples are seen (as Finagle's backup requests and "The Tail at Scale" describe).
//!
//! Attempts that lose a hedge race are cancelled with
//! [`CancelReason::HedgeLost`](crate::token::CancelReason::HedgeLost), which circuit breakers
//! never count as a failure.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::hedge::{HedgeDelay, HedgeMode, LatencyHistogram};
//!
//! let h = LatencyHistogram::new(Duration::from_secs(10), 10);
//! for ms in [3, 4, 5, 5, 6, 200] {
//!     h.record(Duration::from_millis(ms));
//! }
//! assert_eq!(h.percentile(0.5), Some(Duration::from_millis(5) + Duration::from_micros(119)));
//! assert_eq!(HedgeMode::default(), HedgeMode::Latency);
//! let delay = HedgeDelay::percentile(0.95).floor(Duration::from_millis(2));
//! # let _ = delay;
//! ```

// `histogram.rs` holds the windowed histogram, `delay.rs` the mode and the delay read from it.
// The delay's internals are read by the layer's future.
#[allow(dead_code)]
mod delay;
mod histogram;

pub use delay::{HedgeDelay, HedgeMode, PercentileDelay};
pub use histogram::LatencyHistogram;
