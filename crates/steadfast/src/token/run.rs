//! Racing work against a token: [`CancelToken::run`] resolves to the work's output, or to an
//! [`Interrupted`] error carrying the reason the moment the token fires, dropping the work.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::token::{CancelReason, CancelToken};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let token = CancelToken::new();
//! assert_eq!(token.run(async { 7 }).await.unwrap(), 7);
//!
//! let canceller = token.clone();
//! tokio::spawn(async move {
//!     tokio::time::sleep(Duration::from_secs(1)).await;
//!     canceller.cancel_with(CancelReason::manual("user pressed stop"));
//! });
//! let slow = tokio::time::sleep(Duration::from_secs(60));
//! let err = token.run(slow).await.unwrap_err();
//! assert_eq!(err.reason(), &CancelReason::manual("user pressed stop"));
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;

use super::{CancelReason, CancelToken, WaitForCancellationFuture};

/// The work run by [`CancelToken::run`] was dropped because the token fired first.
///
/// ```
/// use steadfast::token::{CancelReason, CancelToken, Interrupted};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let token = CancelToken::new();
/// token.cancel_with(CancelReason::Shutdown);
/// let err: steadfast::BoxError = token.run(async { 1 }).await.unwrap_err().into();
/// let interrupted = err.downcast_ref::<Interrupted>().unwrap();
/// assert_eq!(interrupted.reason(), &CancelReason::Shutdown);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    reason: CancelReason,
}

impl Interrupted {
    /// Why the token fired.
    pub fn reason(&self) -> &CancelReason {
        &self.reason
    }

    /// The reason, by value.
    pub fn into_reason(self) -> CancelReason {
        self.reason
    }
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "work interrupted: {}", self.reason)
    }
}

impl std::error::Error for Interrupted {}
#[cfg(any(feature = "retry", feature = "circuit-breaker", feature = "cancel"))]
crate::error::as_dyn_error!(Interrupted);

/// Future returned by [`CancelToken::run`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Run<F> {
    #[pin]
    work: F,
    cancelled: WaitForCancellationFuture,
}

impl<F> fmt::Debug for Run<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("token", self.cancelled.token())
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Run<F> {
    type Output = Result<F::Output, Interrupted>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Biased towards the token: work is not polled once it has fired.
        if let Some(reason) = this.cancelled.token().reason() {
            return Poll::Ready(Err(Interrupted { reason }));
        }
        if let Poll::Ready(out) = this.work.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        match Pin::new(&mut *this.cancelled).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Interrupted {
                reason: this
                    .cancelled
                    .token()
                    .reason()
                    .unwrap_or(CancelReason::Manual(None)),
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl CancelToken {
    /// Runs `work` until it finishes or this token fires, whichever comes first: the work's
    /// output, or [`Interrupted`] with the token's reason, in which case the work is dropped
    /// (and stops at its current `.await`). A token that has already fired does not poll the
    /// work at all. The same as tokio-util's `run_until_cancelled`, with the reason kept.
    ///
    /// Needs no runtime of its own; the token can be cancelled from any thread.
    ///
    /// ```
    /// use steadfast::token::{CancelReason, CancelToken};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let token = CancelToken::new();
    /// token.cancel_with(CancelReason::Deadline);
    /// let err = token.run(std::future::pending::<()>()).await.unwrap_err();
    /// assert_eq!(err.reason(), &CancelReason::Deadline);
    /// # }
    /// ```
    pub fn run<F: Future>(&self, work: F) -> Run<F> {
        Run {
            work,
            cancelled: self.cancelled(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn work_that_finishes_first_wins_and_a_fired_token_is_not_polled_into() {
        let mut cx = Context::from_waker(Waker::noop());
        let token = CancelToken::new();
        let mut ok = Box::pin(token.run(async { 5 }));
        assert_eq!(ok.as_mut().poll(&mut cx), Poll::Ready(Ok(5)));

        let mut polled = false;
        let mut pending = Box::pin(token.run(std::future::poll_fn(|_| {
            polled = true;
            Poll::<()>::Pending
        })));
        assert!(pending.as_mut().poll(&mut cx).is_pending());
        token.cancel_with(CancelReason::Shutdown);
        assert_eq!(
            pending.as_mut().poll(&mut cx),
            Poll::Ready(Err(Interrupted {
                reason: CancelReason::Shutdown
            }))
        );
        drop(pending);
        assert!(polled);
        let mut never = false;
        let mut late = Box::pin(token.run(std::future::poll_fn(|_| {
            never = true;
            Poll::Ready(())
        })));
        assert!(late.as_mut().poll(&mut cx).is_ready());
        drop(late);
        assert!(!never, "work is not polled once the token fired");
    }
}
