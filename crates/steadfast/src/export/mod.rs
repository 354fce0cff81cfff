//! Metrics for every layer, exported through the [`metrics`](::metrics) facade (feature
//! `metrics`) or OpenTelemetry's meter API (feature `opentelemetry`).
//!
//! Each export is an [`Observer`](crate::observe::Observer): hand it to every layer's builder
//! (`observe`) and each layer reports its events as counters, histograms and a state metric,
//! tagged with the layer's name (`steadfast.layer`) and a bounded set of attribute values. [`names`] lists
//! every instrument, its kind, unit and attributes; `docs/observability.md` in the repository
//! says which event feeds each one. With both features off this module does not exist and the
//! layers carry no listener.
//!
//! * [`MetricsExport`] (feature `metrics`): handles registered once per layer with the
//!   installed recorder; an event is one call on a handle. For Prometheus, install
//!   `metrics-exporter-prometheus`'s recorder first.
//! * [`OtelExport`] (feature `opentelemetry`): counters kept in relaxed atomics and read by
//!   observable instruments at collection; durations through the SDK's histograms.
//!
//! ```
//! # #[cfg(all(feature = "metrics", feature = "retry", feature = "circuit-breaker"))] {
//! use steadfast::circuit_breaker::CircuitBreaker;
//! use steadfast::export::{names, MetricsExport};
//! use steadfast::retry::RetryPolicy;
//!
//! // Install the recorder first: each layer registers its series with it when it is built.
//! let export = MetricsExport::new().shared();
//! let policy = RetryPolicy::builder()
//!     .name("payments")
//!     .observe(export.clone())
//!     .build()
//!     .unwrap();
//! let breaker = CircuitBreaker::builder()
//!     .name("payments-db")
//!     .observe(export)
//!     .build()
//!     .unwrap();
//! # let _ = (policy, breaker);
//! assert_eq!(names::RETRY_BUDGET_REJECTIONS.name, "steadfast.retry.budget.rejections");
//! # }
//! ```

#[cfg(feature = "metrics")]
mod metrics;
pub mod names;
#[cfg(feature = "opentelemetry")]
mod otel;

#[cfg(feature = "metrics")]
pub use self::metrics::MetricsExport;
#[cfg(feature = "opentelemetry")]
pub use otel::OtelExport;
