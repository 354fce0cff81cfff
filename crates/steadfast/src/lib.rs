//! Resilience middleware for [tower]: retry, circuit breaker, cancellation and validation
//! layers that each stand alone and stack around any `Service`.
//!
//! This crate holds the layers and the vocabulary they share:
//!
//! * [`classify`]: how a call ended ([`classify::Outcome`]), and classifiers that decide it.
//! * [`token`]: the per-request [`CancelToken`](token::CancelToken), carried in a request's
//!   extensions, with the reason it was cancelled.
//! * [`backoff`]: delay schedules with caps, floors and jitter.
//! * [`random`]: injectable, seedable randomness for jitter.
//! * [`ConfigError`]: what every builder returns for a setting that breaks a rule.
//! * [`retry`] (feature `retry`): the retry layer, its backoff, budgets and hooks.
//! * [`hedge`] (feature `hedge`): backup attempts of slow requests, the losers cancelled,
//!   paid from the retry layer's budgets.
//! * [`circuit_breaker`] (feature `circuit-breaker`): circuit breakers, shared by name through
//!   a registry.
//! * [`cancel`] (feature `cancel`): per-request cancellation tokens fired by timeouts,
//!   deadlines, shutdown, callers and clients that go away.
//! * [`validate`] (feature `validate`): request and response validators; invalid responses
//!   become retryable errors that keep the response.
//! * [`ServiceBuilderExt`]: the layers as `ServiceBuilder` methods, in the order they belong
//!   ([`builder`]).
//!
//! Layers that can fail add their own error types and return them as [`BoxError`], as tower's
//! middleware does; every error type this crate creates is public, so you can
//! `downcast_ref` to it. See `docs/errors.md` in the repository for the whole model.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
//! use tower::ServiceBuilder;
//!
//! let retry = RetryLayer::new(
//!     RetryPolicy::builder()
//!         .max_attempts(4)
//!         .backoff(Backoff::exponential(Duration::from_millis(50)).max(Duration::from_secs(1)))
//!         .build()
//!         .unwrap(),
//! );
//! let svc = ServiceBuilder::new()
//!     .layer(retry)
//!     .service_fn(|req: u32| async move { Ok::<_, std::io::Error>(req + 1) });
//! # let _ = svc;
//! ```
//!
//! [tower]: https://docs.rs/tower

#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backoff;
pub mod builder;
#[cfg(feature = "cancel")]
pub mod cancel;
#[cfg(feature = "chaos")]
pub mod chaos;
#[cfg(feature = "circuit-breaker")]
pub mod circuit_breaker;
pub mod classify;
#[cfg(feature = "serde")]
pub mod config;
#[cfg(not(feature = "serde"))]
mod config;
pub mod describe;
mod display;
mod error;
#[cfg(any(feature = "metrics", feature = "opentelemetry"))]
pub mod export;
#[cfg(feature = "hedge")]
pub mod hedge;
pub mod observe;
#[cfg(any(feature = "circuit-breaker", feature = "retry"))]
mod per_thread_arc;
pub mod random;
mod refine;
#[cfg(feature = "retry")]
pub mod retry;
mod sync;
pub mod token;
pub mod trace;
#[cfg(feature = "validate")]
pub mod validate;

pub use builder::ServiceBuilderExt;
pub use error::{BoxError, ConfigError};
