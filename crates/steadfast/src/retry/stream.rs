//! Retrying a stream: when the stream fails, a fresh one is made and consumed from where the
//! last one stopped, so that the consumer never sees an item twice.
//!
//! [`RetryPolicy::stream`] hands the closure a [`StreamAttempt`] saying how many items were
//! already delivered, for a source that can resume (an HTTP `Range` request, a resume token,
//! an offset); [`RetryPolicy::stream_restarting`] is for a source that can only start over:
//! the library drops, from each fresh stream, as many items as were already delivered.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project::pin_project;
use tokio::time::{sleep_until, Instant, Sleep};
use tracing::Span;

use super::error::StopReason;
use super::log::retry_span;
use super::policy::RetryPolicy;
use super::state::{FinishedAttempt, RetryState};
use crate::classify::{refine, Classify, Outcome};
use crate::token::{CancelToken, WaitForCancellationFuture as Cancelled};
use crate::BoxError;

/// What the closure given to [`RetryPolicy::stream`] is told when it makes a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamAttempt {
    attempt: u32,
    delivered: u64,
}

impl StreamAttempt {
    /// The attempt, from 1: each fresh stream is one.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How many items the consumer has already received, from every stream before this one.
    /// A stream made by [`RetryPolicy::stream`] must start after them; one made by
    /// [`RetryPolicy::stream_restarting`] starts from the beginning and the library drops
    /// that many items.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
}

impl<C: Clone, K: Clone, R: Clone> RetryPolicy<C, K, R> {
    /// Retries a stream-producing operation: `make` is called for the first stream and again,
    /// after the policy's wait, each time a stream fails with a retryable error. Each call is
    /// told how many items were already delivered ([`StreamAttempt::delivered`]) and must
    /// return a stream that starts after them, as an HTTP `Range` request or a resume token
    /// would. For a source that can only start over, use
    /// [`stream_restarting`](Self::stream_restarting).
    ///
    /// The result yields every item once, in order, then ends when a stream ends. An error
    /// the classifier does not retry is yielded as it is and ends the stream; when the policy
    /// stops retrying, a [`RetryError`](super::RetryError) is yielded and the stream ends.
    /// Each fresh stream counts as one attempt against
    /// [`max_attempts`](super::RetryPolicyBuilder::max_attempts), however many items the one
    /// before it delivered; the elapsed-time limit, deadline, budget and the other stop rules
    /// apply as to any attempt. A policy's [`recover`](super::RetryPolicyBuilder::recover) is
    /// not used: there is no single answer to recover. Only errors are classified (with the
    /// classifier the policy uses for [`run`](Self::run)); items are delivered as they come.
    ///
    /// See [`cancel_on`](RetryStream::cancel_on) to stop it with a token.
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures_util::{stream, StreamExt};
    /// use steadfast::retry::{Backoff, RetryPolicy, StreamAttempt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let policy = RetryPolicy::builder()
    ///     .max_attempts(3)
    ///     .backoff(Backoff::constant(Duration::from_millis(100)))
    ///     .build()
    ///     .unwrap();
    ///
    /// // The numbers 0..6 from a source that can resume from an offset, whose first
    /// // connection breaks after three of them.
    /// let numbers = policy.stream(|at: StreamAttempt| {
    ///     let from = at.delivered();
    ///     let items: Vec<Result<u64, std::io::Error>> = if at.attempt() == 1 {
    ///         (from..3).map(Ok).chain([Err(std::io::Error::other("reset"))]).collect()
    ///     } else {
    ///         (from..6).map(Ok).collect()
    ///     };
    ///     stream::iter(items)
    /// });
    /// let seen: Vec<u64> = numbers.map(Result::unwrap).collect().await;
    /// assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
    /// # }
    /// ```
    pub fn stream<F, S, T, E>(&self, make: F) -> RetryStream<F, S, C, K, R>
    where
        F: FnMut(StreamAttempt) -> S,
        S: Stream<Item = Result<T, E>>,
        E: Into<BoxError>,
        C: Classify<(), T, E>,
    {
        RetryStream::new(self.clone(), make, false)
    }

    /// Like [`stream`](Self::stream), for a source that can only start over: every fresh
    /// stream starts from the first item, and the library drops as many items as were
    /// already delivered before it yields the next. `make` is still told the attempt and the
    /// count.
    ///
    /// ```
    /// use futures_util::{stream, StreamExt};
    /// use steadfast::retry::{Backoff, RetryPolicy, StreamAttempt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let policy = RetryPolicy::builder().backoff(Backoff::none()).build().unwrap();
    /// let lines = policy.stream_restarting(|at: StreamAttempt| {
    ///     let mut lines: Vec<Result<&str, std::io::Error>> = vec![Ok("a"), Ok("b")];
    ///     if at.attempt() == 1 {
    ///         lines.push(Err(std::io::Error::other("reset"))); // after "a" and "b"
    ///     } else {
    ///         lines.push(Ok("c"));
    ///     }
    ///     stream::iter(lines)
    /// });
    /// let seen: Vec<&str> = lines.map(Result::unwrap).collect().await;
    /// assert_eq!(seen, ["a", "b", "c"]); // "a" and "b" were not delivered twice
    /// # }
    /// ```
    pub fn stream_restarting<F, S, T, E>(&self, make: F) -> RetryStream<F, S, C, K, R>
    where
        F: FnMut(StreamAttempt) -> S,
        S: Stream<Item = Result<T, E>>,
        E: Into<BoxError>,
        C: Classify<(), T, E>,
    {
        RetryStream::new(self.clone(), make, true)
    }
}

/// The stream returned by [`RetryPolicy::stream`] and [`RetryPolicy::stream_restarting`]:
/// yields the items of the streams it makes, in order and once each, and the error that ends
/// it, if one does.
#[pin_project(project = RetryStreamProjection)]
#[must_use = "streams do nothing unless polled"]
pub struct RetryStream<F, S, C, K, R> {
    policy: RetryPolicy<C, K, R>,
    make: F,
    /// Whether each fresh stream starts over (the library skips what was delivered).
    restarts: bool,
    token: Option<CancelToken>,
    /// Fires when the token is cancelled: watched while a stream runs and while waiting.
    #[pin]
    cancelled: Option<Cancelled>,
    /// Fires when the token starts draining: watched while waiting (no new attempts).
    #[pin]
    draining: Option<Cancelled>,
    #[pin]
    sleep: Option<Sleep>,
    #[pin]
    current: Option<S>,
    /// Items still to drop from the current stream (a restarting source).
    skip: u64,
    delivered: u64,
    phase: StreamPhase,
    state: RetryState,
    span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamPhase {
    /// Not polled yet.
    New,
    /// Waiting before the first attempt (the policy's `start_jitter`), or before a retry.
    Waiting,
    /// A stream is running.
    Streaming,
    /// Finished: yields nothing more.
    Done,
}

impl<F, S, C, K, R> fmt::Debug for RetryStream<F, S, C, K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryStream")
            .field("phase", &self.phase)
            .field("attempt", &self.state.attempt)
            .field("delivered", &self.delivered)
            .field("restarts", &self.restarts)
            .finish_non_exhaustive()
    }
}

impl<F, S, C, K, R> RetryStream<F, S, C, K, R> {
    fn new(policy: RetryPolicy<C, K, R>, make: F, restarts: bool) -> Self {
        let settings = &policy.settings;
        let span = retry_span(settings.log_level(), settings.name());
        RetryStream {
            state: RetryState::not_started(settings),
            policy,
            make,
            restarts,
            token: None,
            cancelled: None,
            draining: None,
            sleep: None,
            current: None,
            skip: 0,
            delivered: 0,
            phase: StreamPhase::New,
            span,
        }
    }

    /// Stops the stream when `token` is cancelled: a running stream is dropped at once, a wait
    /// ends, and a [`RetryError`](super::RetryError) with
    /// [`StopReason::Cancelled`] is yielded last. A token that starts draining lets the
    /// running stream finish but allows no new attempt. Call it before the first poll.
    ///
    /// ```
    /// use futures_util::{stream, StreamExt};
    /// use steadfast::retry::{RetryError, RetryPolicy, StreamAttempt};
    /// use steadfast::token::CancelToken;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let token = CancelToken::new();
    /// let policy = RetryPolicy::default();
    /// // A stream that never ends.
    /// let ticks = policy
    ///     .stream(|_: StreamAttempt| stream::repeat_with(|| Ok::<_, std::io::Error>(1)))
    ///     .cancel_on(&token);
    /// let mut ticks = std::pin::pin!(ticks);
    /// assert_eq!(ticks.next().await.unwrap().unwrap(), 1);
    /// token.cancel();
    /// let err = ticks.next().await.unwrap().unwrap_err();
    /// assert!(err.downcast_ref::<RetryError>().unwrap().is_cancelled());
    /// assert!(ticks.next().await.is_none());
    /// # }
    /// ```
    pub fn cancel_on(mut self, token: &CancelToken) -> Self {
        self.token = Some(token.clone());
        self
    }

    /// How many items it has yielded so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// The attempt running (or about to), from 1; 0 before the first.
    pub fn attempt(&self) -> u32 {
        self.state.attempt
    }
}

type Item<T> = Option<Result<T, BoxError>>;

impl<F, S, T, E, C, K, R> Stream for RetryStream<F, S, C, K, R>
where
    F: FnMut(StreamAttempt) -> S,
    S: Stream<Item = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<(), T, E>,
{
    type Item = Result<T, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Item<T>> {
        let mut this = self.project();
        loop {
            match *this.phase {
                StreamPhase::Done => return Poll::Ready(None),
                StreamPhase::New => {
                    if let Some(t) = this.token.as_ref() {
                        this.cancelled.set(Some(t.cancelled()));
                        this.draining
                            .set(t.drain_token().map(CancelToken::cancelled));
                    }
                    if let Some(reason) = StopReason::from_token(this.token.as_ref()) {
                        return Poll::Ready(give_up(&mut this, reason));
                    }
                    let settings = &this.policy.settings;
                    match settings
                        .delays_start()
                        .then(|| settings.start_delay())
                        .flatten()
                    {
                        Some(delay) => {
                            this.sleep.set(Some(sleep_until(Instant::now() + delay)));
                            *this.phase = StreamPhase::Waiting;
                        }
                        None => start_attempt(&mut this),
                    }
                }
                StreamPhase::Waiting => {
                    let fired = |f: Pin<&mut Option<Cancelled>>, cx: &mut Context<'_>| {
                        f.as_pin_mut().is_some_and(|c| c.poll(cx).is_ready())
                    };
                    let cancelled = fired(this.cancelled.as_mut(), cx);
                    let drained = fired(this.draining.as_mut(), cx);
                    if cancelled || drained {
                        if let Some(reason) = StopReason::from_token(this.token.as_ref()) {
                            return Poll::Ready(give_up(&mut this, reason));
                        }
                    }
                    if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
                        if sleep.poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                    }
                    this.sleep.set(None);
                    start_attempt(&mut this);
                }
                StreamPhase::Streaming => {
                    let cancelled = this
                        .cancelled
                        .as_mut()
                        .as_pin_mut()
                        .is_some_and(|c| c.poll(cx).is_ready());
                    if cancelled {
                        if let Some(reason) = this.token.as_ref().and_then(CancelToken::reason) {
                            this.current.set(None);
                            return Poll::Ready(give_up(&mut this, StopReason::Cancelled(reason)));
                        }
                    }
                    let Some(stream) = this.current.as_mut().as_pin_mut() else {
                        unreachable!("a stream runs in this phase");
                    };
                    match stream.poll_next(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(None) => {
                            this.current.set(None);
                            let settings = &this.policy.settings;
                            this.state
                                .finish(settings, Outcome::Success, None, true, this.span);
                            *this.phase = StreamPhase::Done;
                            return Poll::Ready(None);
                        }
                        Poll::Ready(Some(Ok(item))) => {
                            if *this.skip > 0 {
                                *this.skip -= 1;
                                continue;
                            }
                            *this.delivered += 1;
                            return Poll::Ready(Some(Ok(item)));
                        }
                        Poll::Ready(Some(Err(e))) => {
                            this.current.set(None);
                            if let Some(out) = failed(&mut this, e) {
                                return Poll::Ready(out);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Makes the next stream (the first, or a retry once its wait is over).
fn start_attempt<F, S, T, E, C, K, R>(this: &mut RetryStreamProjection<'_, F, S, C, K, R>)
where
    F: FnMut(StreamAttempt) -> S,
    S: Stream<Item = Result<T, E>>,
    C: Classify<(), T, E>,
{
    let settings = &this.policy.settings;
    if this.state.attempt == 0 {
        let reads = Classify::<(), T, E>::reads_elapsed(&settings.classifier);
        this.state.begin_first(settings, reads);
    } else {
        this.state.begin_retry(settings, None);
    }
    let at = StreamAttempt {
        attempt: this.state.attempt,
        delivered: *this.delivered,
    };
    *this.skip = if *this.restarts { *this.delivered } else { 0 };
    this.current.set(Some((this.make)(at)));
    *this.phase = StreamPhase::Streaming;
}

/// A stream failed with `e`: yields it (not retried), or the final error (the policy stops),
/// or schedules the next stream (`None`).
fn failed<F, S, T, E, C, K, R>(
    this: &mut RetryStreamProjection<'_, F, S, C, K, R>,
    e: E,
) -> Option<Item<T>>
where
    E: Into<BoxError>,
    C: Classify<(), T, E>,
{
    let settings = &this.policy.settings;
    let now = this.state.reading();
    let ctx = this.state.context(now, Some(&()));
    let outcome = settings.classifier.classify(&ctx, Err(&e));
    let e: BoxError = e.into();
    let outcome = refine(outcome, &*e);
    if !outcome.is_retry_decision() {
        this.state.finish(settings, outcome, now, true, this.span);
        *this.phase = StreamPhase::Done;
        return Some(Some(Err(e)));
    }
    let now = now.unwrap_or_else(Instant::now);
    let finished = FinishedAttempt {
        outcome,
        error: Some(e),
        token: this.token.as_ref(),
        resend: Ok(()),
        now,
    };
    match this.state.on_retryable(settings, finished, this.span) {
        Ok(delay) => {
            // A delay too long to represent ends in about 30 years, as `tokio::time::sleep`'s.
            let until = now
                .checked_add(delay)
                .unwrap_or_else(|| now + std::time::Duration::from_secs(86_400 * 365 * 30));
            this.sleep.set(Some(sleep_until(until)));
            *this.phase = StreamPhase::Waiting;
            None
        }
        Err(reason) => {
            *this.phase = StreamPhase::Done;
            let err = this.state.give_up(settings, reason, Some(now), this.span);
            Some(Some(Err(err.into())))
        }
    }
}

/// Ends the stream for `reason` with a [`RetryError`](super::RetryError).
fn give_up<F, S, C, K, R, T>(
    this: &mut RetryStreamProjection<'_, F, S, C, K, R>,
    reason: StopReason,
) -> Item<T> {
    *this.phase = StreamPhase::Done;
    let settings = &this.policy.settings;
    let err = this.state.give_up(settings, reason, None, this.span);
    Some(Err(err.into()))
}
