//! Retrying plain functions: the same policy, without a `Service`.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::retry::{Backoff, RetryPolicy};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let policy = RetryPolicy::builder()
//!     .max_attempts(5)
//!     .backoff(Backoff::constant(Duration::from_millis(100)))
//!     .build()
//!     .unwrap();
//!
//! // The closure gets the attempt number, from 1.
//! let value = policy
//!     .run(|attempt| async move {
//!         if attempt < 3 { Err(std::io::Error::other("not yet")) } else { Ok(attempt * 10) }
//!     })
//!     .await
//!     .unwrap();
//! assert_eq!(value, 30);
//!
//! // Synchronous code: the same policy, sleeping the thread between attempts.
//! let mut n = 0;
//! let v = policy.run_blocking(|_| { n += 1; if n < 2 { Err("busy") } else { Ok(n) } }).unwrap();
//! assert_eq!(v, 2);
//! # }
//! ```

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::time::Instant;
use tracing::Span;

use super::error::StopReason;
use super::log::retry_span;
use super::policy::{RetryPolicy, Settings};
use super::recover::Recover;
use super::state::{FinishedAttempt, RetryState};
use crate::classify::{refine, Classify};
use crate::token::{CancelToken, WaitForCancellationFuture};
use crate::BoxError;

impl<C, K, R> RetryPolicy<C, K, R> {
    /// Calls `f` (with the attempt number, from 1) until it succeeds or the policy stops.
    ///
    /// Classification, backoff, budget, hooks and metrics are the policy's; the classifier
    /// sees `()` as the request. Errors come back exactly as from the retry layer: a
    /// non-retryable error unchanged, otherwise a [`RetryError`](super::RetryError), or what
    /// the policy's [recovery](super::RetryPolicyBuilder::recover) makes of it.
    pub async fn run<T, E, F, Fut>(&self, f: F) -> Result<T, BoxError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
        C: Classify<(), T, E>,
        R: Recover<T>,
    {
        self.run_inner(None, f).await
    }

    /// Like [`run`](Self::run), but stops as soon as `token` fires: no attempt starts after
    /// it, a backoff sleep ends at once, and a running attempt is dropped (see
    /// [`CancelToken::run`]), with [`StopReason::Cancelled`](super::StopReason::Cancelled).
    pub async fn run_cancellable<T, E, F, Fut>(
        &self,
        token: &CancelToken,
        f: F,
    ) -> Result<T, BoxError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
        C: Classify<(), T, E>,
        R: Recover<T>,
    {
        self.run_inner(Some(token), f).await
    }

    async fn run_inner<T, E, F, Fut>(
        &self,
        token: Option<&CancelToken>,
        mut f: F,
    ) -> Result<T, BoxError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
        C: Classify<(), T, E>,
        R: Recover<T>,
    {
        let settings = &self.settings;
        let span = retry_span(settings.log_level(), settings.name());
        let mut state = begin_after_wait::<T, E, _, _, _>(settings, token, &span).await?;
        loop {
            // A running attempt is dropped the moment the token fires.
            let result = match token {
                None => f(state.attempt).await,
                Some(token) => match token.run(f(state.attempt)).await {
                    Ok(result) => result,
                    Err(stop) => {
                        let reason = StopReason::Cancelled(stop.into_reason());
                        return state.conclude(settings, reason, None, None, &span);
                    }
                },
            };
            match step(&mut state, settings, result, token, &span) {
                Step::Done(out) => return out,
                Step::Wait(delay) => {
                    sleep_unless_interrupted(delay, token).await;
                    if let Some(out) = resume(&mut state, settings, token, &span) {
                        return out;
                    }
                }
            }
        }
    }

    /// Calls `f` (with the attempt number, from 1) until it succeeds or the policy stops,
    /// sleeping the current thread between attempts. For synchronous code; needs no runtime.
    pub fn run_blocking<T, E, F>(&self, f: F) -> Result<T, BoxError>
    where
        F: FnMut(u32) -> Result<T, E>,
        E: Into<BoxError>,
        C: Classify<(), T, E>,
        R: Recover<T>,
    {
        self.run_blocking_inner(None, f)
    }

    /// Like [`run_blocking`](Self::run_blocking), but stops as soon as `token` fires (from
    /// any thread): the sleeping thread is woken at once.
    pub fn run_blocking_cancellable<T, E, F>(
        &self,
        token: &CancelToken,
        f: F,
    ) -> Result<T, BoxError>
    where
        F: FnMut(u32) -> Result<T, E>,
        E: Into<BoxError>,
        C: Classify<(), T, E>,
        R: Recover<T>,
    {
        self.run_blocking_inner(Some(token), f)
    }

    fn run_blocking_inner<T, E, F>(
        &self,
        token: Option<&CancelToken>,
        mut f: F,
    ) -> Result<T, BoxError>
    where
        F: FnMut(u32) -> Result<T, E>,
        E: Into<BoxError>,
        C: Classify<(), T, E>,
        R: Recover<T>,
    {
        let settings = &self.settings;
        let span = retry_span(settings.log_level(), settings.name());
        let mut state = begin_after_wait_blocking::<T, E, _, _, _>(settings, token, &span)?;
        loop {
            let result = f(state.attempt);
            match step(&mut state, settings, result, token, &span) {
                Step::Done(out) => return out,
                Step::Wait(delay) => {
                    block_on_sleep(delay, token);
                    if let Some(out) = resume(&mut state, settings, token, &span) {
                        return out;
                    }
                }
            }
        }
    }
}

/// What [`step`] decided about an attempt.
enum Step<T> {
    /// The call ends with this result.
    Done(Result<T, BoxError>),
    /// Wait this long (watching the token), then [`resume`].
    Wait(Duration),
}

/// The state for a call whose first attempt starts now, or the error of a call whose token
/// fired before it.
fn begin<T, E, C, K, R>(
    settings: &Settings<C, K, R>,
    token: Option<&CancelToken>,
    span: &Span,
) -> Result<RetryState, BoxError>
where
    C: Classify<(), T, E>,
{
    if let Some(reason) = token.and_then(CancelToken::reason) {
        let mut state = RetryState::<()>::not_started(settings);
        return Err(state
            .give_up(settings, StopReason::Cancelled(reason), None, span)
            .into());
    }
    Ok(RetryState::<()>::start(
        settings,
        Classify::<(), T, E>::reads_elapsed(&settings.classifier),
    ))
}

/// [`begin`], after the random wait before the first attempt if the policy has one
/// (`start_jitter`); the token is watched while it lasts.
pub(super) async fn begin_after_wait<T, E, C, K, R>(
    settings: &Settings<C, K, R>,
    token: Option<&CancelToken>,
    span: &Span,
) -> Result<RetryState, BoxError>
where
    C: Classify<(), T, E>,
{
    match waits_first(settings, token) {
        None => begin::<T, E, _, _, _>(settings, token, span),
        Some(delay) => {
            let mut state = RetryState::<()>::not_started(settings);
            sleep_unless_interrupted(delay, token).await;
            first_after_wait::<T, E, _, _, _>(&mut state, settings, token, span)?;
            Ok(state)
        }
    }
}

/// [`begin_after_wait`], sleeping the thread.
fn begin_after_wait_blocking<T, E, C, K, R>(
    settings: &Settings<C, K, R>,
    token: Option<&CancelToken>,
    span: &Span,
) -> Result<RetryState, BoxError>
where
    C: Classify<(), T, E>,
{
    match waits_first(settings, token) {
        None => begin::<T, E, _, _, _>(settings, token, span),
        Some(delay) => {
            let mut state = RetryState::<()>::not_started(settings);
            block_on_sleep(delay, token);
            first_after_wait::<T, E, _, _, _>(&mut state, settings, token, span)?;
            Ok(state)
        }
    }
}

/// The wait before the first attempt, if the policy has one and the token has not fired.
fn waits_first<C, K, R>(
    settings: &Settings<C, K, R>,
    token: Option<&CancelToken>,
) -> Option<Duration> {
    if !settings.delays_start() || StopReason::from_token(token).is_some() {
        return None;
    }
    settings.start_delay()
}

/// After the wait before the first attempt: stops if the token fired (or started draining)
/// meanwhile, else starts the first attempt.
fn first_after_wait<T, E, C, K, R>(
    state: &mut RetryState,
    settings: &Settings<C, K, R>,
    token: Option<&CancelToken>,
    span: &Span,
) -> Result<(), BoxError>
where
    C: Classify<(), T, E>,
{
    if let Some(reason) = StopReason::from_token(token) {
        return Err(state.give_up(settings, reason, None, span).into());
    }
    state.begin_first(
        settings,
        Classify::<(), T, E>::reads_elapsed(&settings.classifier),
    );
    Ok(())
}

/// One attempt of [`RetryPolicy::run`] or [`RetryPolicy::run_blocking`] answered with
/// `result`: classifies it, and either ends the call or says how long to wait before the next
/// attempt. The two loops differ only in how they call `f` and how they wait.
fn step<T, E, C, K, R>(
    state: &mut RetryState,
    settings: &Settings<C, K, R>,
    result: Result<T, E>,
    token: Option<&CancelToken>,
    span: &Span,
) -> Step<T>
where
    E: Into<BoxError>,
    C: Classify<(), T, E>,
    R: Recover<T>,
{
    let now = state.reading();
    let outcome = settings
        .classifier
        .classify(&state.context(now, Some(&())), result.as_ref());
    let (outcome, result) = refined(outcome, result);
    tracing::trace!(parent: span, attempt = state.attempt, %outcome, "attempt finished");
    if !outcome.is_retry_decision() {
        state.finish(settings, outcome, now, true, span);
        return Step::Done(result);
    }
    let (value, error) = split(result);
    let now = now.unwrap_or_else(Instant::now);
    let finished = FinishedAttempt {
        outcome,
        error,
        token,
        resend: Ok(()),
        now,
    };
    match state.on_retryable(settings, finished, span) {
        Ok(delay) => {
            drop(value);
            Step::Wait(delay)
        }
        Err(reason) => Step::Done(state.conclude(settings, reason, value, Some(now), span)),
    }
}

/// After the wait: starts the next attempt's bookkeeping, or ends the call (`Some`) if the
/// token fired or started draining meanwhile.
fn resume<T, C, K, R>(
    state: &mut RetryState,
    settings: &Settings<C, K, R>,
    token: Option<&CancelToken>,
    span: &Span,
) -> Option<Result<T, BoxError>>
where
    R: Recover<T>,
{
    if let Some(reason) = StopReason::from_token(token) {
        return Some(state.conclude(settings, reason, None, None, span));
    }
    state.begin_retry(settings, None);
    None
}

/// Boxes the error and lets it refine the classifier's verdict (see [`refine`]).
fn refined<T, E: Into<BoxError>>(
    outcome: crate::classify::Outcome,
    result: Result<T, E>,
) -> (crate::classify::Outcome, Result<T, BoxError>) {
    match result {
        Ok(v) => (outcome, Ok(v)),
        Err(e) => {
            let e = e.into();
            (refine(outcome, &*e), Err(e))
        }
    }
}

fn split<T>(result: Result<T, BoxError>) -> (Option<T>, Option<BoxError>) {
    match result {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e)),
    }
}

/// Sleeps `delay`, waking early if `token` fires or starts draining.
async fn sleep_unless_interrupted(delay: Duration, token: Option<&CancelToken>) {
    let mut sleep = pin!(tokio::time::sleep(delay));
    let mut cancelled = pin!(token.map(CancelToken::cancelled));
    let mut draining = pin!(token
        .and_then(CancelToken::drain_token)
        .map(CancelToken::cancelled));
    poll_fn(|cx| {
        let fired = |f: Pin<&mut Option<WaitForCancellationFuture>>, cx: &mut Context<'_>| {
            f.as_pin_mut().is_some_and(|c| c.poll(cx).is_ready())
        };
        if fired(cancelled.as_mut(), cx) || fired(draining.as_mut(), cx) {
            return Poll::Ready(());
        }
        sleep.as_mut().poll(cx)
    })
    .await
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Parks the thread for `delay`, waking early if `token` fires or starts draining.
fn block_on_sleep(delay: Duration, token: Option<&CancelToken>) {
    let Some(token) = token else {
        std::thread::sleep(delay);
        return;
    };
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut cancelled = pin!(token.cancelled());
    let mut draining = pin!(token.drain_token().map(CancelToken::cancelled));
    let end = Instant::now().checked_add(delay);
    loop {
        let drained = draining
            .as_mut()
            .as_pin_mut()
            .is_some_and(|d| d.poll(&mut cx).is_ready());
        if cancelled.as_mut().poll(&mut cx).is_ready() || drained {
            return;
        }
        match end {
            Some(end) => {
                let now = Instant::now();
                if now >= end {
                    return;
                }
                std::thread::park_timeout(end - now);
            }
            None => std::thread::park(),
        }
    }
}
