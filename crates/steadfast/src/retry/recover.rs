//! Recovering from a give-up: turning a final [`RetryError`] into an answer.
//!
//! By default a retry that gives up fails with its [`RetryError`]. A policy built with
//! [`recover`](super::RetryPolicyBuilder::recover) or
//! [`recover_with`](super::RetryPolicyBuilder::recover_with) hands that error to a
//! [`Recover`] instead, which may answer with a response (a cached value, a degraded answer,
//! the best of the responses the attempts got) or fail with an error of its choice.
//!
//! The recovery only runs when the layer gives up; a success costs nothing more.

use std::fmt;

use super::error::RetryError;
use crate::BoxError;

/// Turns the [`RetryError`] of a retry that gave up into the request's result.
///
/// Called once, when the layer (or [`RetryPolicy::run`](super::RetryPolicy::run)) stops
/// without a success and would return a `RetryError`. It is not called for errors that pass
/// through unchanged (non-retryable ones), nor when the layer returns a retryable *response*
/// as its answer.
///
/// ```
/// use steadfast::retry::{Backoff, RetryError, RetryPolicy};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let policy = RetryPolicy::builder()
///     .max_attempts(2)
///     .backoff(Backoff::none())
///     .recover_with(|err: RetryError| {
///         if err.is_cancelled() {
///             return Err(err.into()); // nobody is waiting: no need for an answer
///         }
///         Ok::<_, steadfast::BoxError>(format!("stale price (gave up after {})", err.attempts()))
///     })
///     .build()
///     .unwrap();
/// let down = service_fn(|_: ()| async { Err::<String, _>(std::io::Error::other("refused")) });
/// let svc = steadfast::retry::RetryLayer::new(policy).layer(down);
/// assert_eq!(svc.oneshot(()).await.unwrap(), "stale price (gave up after 2)");
/// # }
/// ```
pub trait Recover<Res> {
    /// The result to return instead of failing with `error`.
    fn recover(&self, error: RetryError) -> Result<Res, BoxError>;
}

/// The default: no recovery, the [`RetryError`] is returned.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRecover;

impl<Res> Recover<Res> for NoRecover {
    #[inline]
    fn recover(&self, error: RetryError) -> Result<Res, BoxError> {
        Err(error.into())
    }
}

/// A recovery made from a function; see
/// [`RetryPolicyBuilder::recover_with`](super::RetryPolicyBuilder::recover_with).
#[derive(Clone, Copy)]
pub struct RecoverFn<F>(pub(crate) F);

impl<F> fmt::Debug for RecoverFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoverFn").finish_non_exhaustive()
    }
}

impl<F, Res> Recover<Res> for RecoverFn<F>
where
    F: Fn(RetryError) -> Result<Res, BoxError>,
{
    fn recover(&self, error: RetryError) -> Result<Res, BoxError> {
        (self.0)(error)
    }
}
