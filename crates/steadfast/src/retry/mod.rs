//! Retries with backoff, budgets, server hints and cancellation.
//!
//! Build a [`RetryPolicy`] (every setting is checked when it is built), then either wrap a
//! `Service` with [`RetryLayer`] or retry a plain async or blocking function with
//! [`RetryPolicy::run`] / [`RetryPolicy::run_blocking`].
//!
//! What happens to one request:
//!
//! 1. If the request's [`CancelToken`](crate::token::CancelToken) has already fired, nothing
//!    is sent: the result is a [`RetryError`] with [`StopReason::Cancelled`].
//! 2. A copy of the request is kept (see [`CloneRequest`]), and the first attempt is sent.
//! 3. The result is classified ([`crate::classify`]). Success, ignored and non-retryable
//!    outcomes end the request with the result unchanged.
//! 4. A retryable outcome is retried unless a stop condition says otherwise: the attempt
//!    limit, the elapsed-time limit, a deadline (the policy's or the token's), the budget, the
//!    token, or the bound on the total time spent waiting on server hints
//!    ([`max_hint_wait_total`](RetryPolicyBuilder::max_hint_wait_total)). The delay is the
//!    server's hint (clamped by [`max_hint`](RetryPolicyBuilder::max_hint)) or the
//!    [`Backoff`]; after a retry made at a gRPC pushback
//!    ([`Outcome::PushedBack`](crate::classify::Outcome::PushedBack), gRFC A6) the backoff
//!    starts again from its first delay. An outcome of
//!    [`Outcome::DoNotRetry`](crate::classify::Outcome::DoNotRetry) (the server asked not to
//!    retry) stops at once with [`StopReason::ServerRefused`].
//! 5. While it sleeps and while it waits for the inner service to be ready again, the layer
//!    watches the token: if it fires, the request ends at once.
//!
//! When the layer stops on a retryable *error*, the error is a [`RetryError`] holding the
//! attempt count, the elapsed time, a short history, the errors of the attempts in it
//! ([`RetryError::errors`]) and the last error as its `source()`; a policy with a
//! [`Recover`] (see [`RetryPolicyBuilder::recover`]) may turn it into an answer instead.
//! When it stops on a retryable *response* (a 503, say), that response is returned as it is:
//! it is the best answer there is. Cancellation always ends in a [`RetryError`].
//!
//! Every attempt after the first is tagged with a [`RetryAttempt`](crate::token::RetryAttempt)
//! (see [`HasCancelToken::set_retry_attempt`](crate::token::HasCancelToken::set_retry_attempt)),
//! so the layers below know which attempt they see.
//!
//! For a request that carries a [decision trace](crate::trace), the layer (named after the
//! policy, or `"retry"`) records each attempt's verdict with the rule that gave it
//! ([`Classify::explain`](crate::classify::Classify::explain)), the budget's answer and its
//! balance ([`RetryBudget::balance`]) when it is asked, the delay before each retry and how it
//! was chosen (the schedule's delay before jitter and the jitter's name, the class of failure,
//! or the server's hint and whether [`max_hint`](RetryPolicyBuilder::max_hint) clamped it),
//! and why it stopped. A [`RetryError`] carries the trace
//! ([`RetryError::decision_trace`]). [`RetryPolicy::run`], [`RetryPolicy::run_blocking`] and
//! retried streams have no request to carry one, and record nothing.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::retry::{Backoff, RetryError, RetryLayer, RetryPolicy, StopReason};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let policy = RetryPolicy::builder()
//!     .max_attempts(3)
//!     .backoff(Backoff::exponential(Duration::from_millis(100)))
//!     .build()
//!     .unwrap();
//! let always_down = service_fn(|_: ()| async { Err::<(), _>(std::io::Error::other("refused")) });
//!
//! let err = RetryLayer::new(policy).layer(always_down).oneshot(()).await.unwrap_err();
//! let err = err.downcast_ref::<RetryError>().unwrap();
//! assert_eq!(err.attempts(), 3);
//! assert_eq!(err.reason(), &StopReason::AttemptsExhausted);
//! assert_eq!(err.elapsed(), Duration::from_millis(300)); // 100 ms + 200 ms of backoff
//! assert_eq!(std::error::Error::source(err).unwrap().to_string(), "refused");
//! # }
//! ```

// How the files fit: `policy.rs` holds the settings each request carries (`Settings`) and the
// part all copies share behind a per-thread reference count (`SharedSettings`), checked by
// `builder.rs`; `state.rs` keeps one request's attempts and makes the retry decision, which
// the layer's `future.rs` and the function-level loops of `func.rs` both drive.
mod budget;
mod builder;
mod classes;
mod clone_request;
mod cold;
mod describe;
mod error;
mod events;
mod func;
mod future;
mod layer;
mod log;
mod policy;
mod recover;
mod service;
mod start_jitter;
mod state;
mod stream;
mod traced;

pub use crate::backoff::{Backoff, BackoffPrefix, Jitter, MAX_DELAY};
pub use budget::{RatioBudget, RatioBudgetBuilder, RetryBudget, TokenBucket, TokenBucketBuilder};
pub use builder::RetryPolicyBuilder;
pub use classes::FailedAttempt;
pub use clone_request::{CloneAll, CloneRequest, CloneWith};
pub use error::{AttemptRecord, RetryError, StopReason};
pub use events::{RequestEnd, RetryEvent, RetryMetrics, RetryMetricsSnapshot, ATTEMPT_BUCKETS};
pub use future::ResponseFuture;
pub use layer::RetryLayer;
pub use policy::{PolicyRef, RetryPolicy};
pub use recover::{NoRecover, Recover, RecoverFn};
pub use service::Retry;
pub use start_jitter::{StartJitter, StartJitterLayer};
pub use stream::{RetryStream, StreamAttempt};
