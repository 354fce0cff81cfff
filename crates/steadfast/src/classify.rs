//! The outcome vocabulary shared by every layer.
//!
//! Each call a layer watches ends in a `Result<Response, Error>`. A [`Classify`] turns that
//! result into an [`Outcome`]: a success, a retryable failure (optionally with a server hint
//! for the delay), a non-retryable failure, an ignored outcome, or an invalid response. Retry
//! decides whether to try again from it, the circuit breaker decides what to record, and
//! validation produces the `Invalid` outcome.
//!
//! Classifiers are values: closures, the ready-made ones in this module, or your own type.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::classify::{Classify, Outcome, Attempt, ErrorIs, classify_fn};
//!
//! // Retry timeouts only; everything else is final.
//! let by_type = ErrorIs::<std::io::Error>::new();
//! let err: steadfast::BoxError = Box::new(std::io::Error::other("reset"));
//! let ctx = Attempt::first(&());
//! assert_eq!(Classify::<(), u16, steadfast::BoxError>::classify(&by_type, &ctx, Err(&err)),
//!            Outcome::retryable());
//!
//! // Classify responses with a closure: 503 is retryable after a second, 4xx is final.
//! let by_status = classify_fn(|_: &Attempt<'_, ()>, r: Result<&u16, &std::io::Error>| match r {
//!     Ok(503) => Outcome::retry_after(Duration::from_secs(1)),
//!     Ok(s) if *s >= 400 => Outcome::NonRetryable,
//!     Ok(_) => Outcome::Success,
//!     Err(_) => Outcome::retryable(),
//! });
//! assert_eq!(by_status.classify(&ctx, Ok(&503)), Outcome::retry_after(Duration::from_secs(1)));
//! assert_eq!(by_status.classify(&ctx, Ok(&404)), Outcome::NonRetryable);
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

// The outcome, the classifier trait, `refine` and the ready-made classifiers stay together:
// about 500 lines of code that read in one go (each classifier is a few lines against the
// trait above it), then their tests. What errors are lives below, in `error`.
use crate::error::{chain, Identity};
pub use crate::error::{find_source, is_invalid, is_rejected_request, AsDynError};
pub use crate::late::LateOutcome;

/// How one call ended, as the layers see it.
///
/// `Outcome` is `Copy` and never allocates, so classifying is free on the hot path. The
/// reasons behind an [`Outcome::Invalid`] travel in the error value the validation layer
/// produces, not in the outcome itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    // The variants the retry layer decides about come first, next to each other: the success
    // path then tells them from the rest with one comparison.
    /// A transient failure: trying again may succeed.
    Retryable {
        /// A delay the server asked for (such as `Retry-After`), used instead of the backoff
        /// for the next attempt. Layers clamp it to their configured maximum.
        after: Option<Duration>,
    },
    /// The call completed but its result was rejected by a validator. Retryable.
    Invalid,
    /// A retryable failure whose server pushed back, as gRPC's `grpc-retry-pushback-ms` does
    /// (gRFC A6): the next attempt waits `after_ms` (layers clamp it to their configured
    /// maximum), and the backoff schedule then starts again from its first delay.
    PushedBack {
        /// The delay the server asked for, in milliseconds (gRPC's unit). Kept as a number
        /// rather than a `Duration` so that an `Outcome` stays two words.
        after_ms: u64,
    },
    /// A failure the server asked not to retry (a negative or unreadable gRPC pushback, as
    /// gRFC A6 reads it). The retry layer stops at once, with `StopReason::ServerRefused`; a
    /// circuit breaker counts it as a failure.
    DoNotRetry,
    /// The call did what was asked.
    Success,
    /// A failure that trying again will not fix (a malformed request, a missing resource).
    NonRetryable,
    /// Neither a success nor a failure (for example a call cancelled by its caller): not
    /// retried and not counted by a circuit breaker.
    Ignored,
}

impl Outcome {
    /// A retryable failure with no server hint.
    pub const fn retryable() -> Self {
        Outcome::Retryable { after: None }
    }

    /// A retryable failure that should wait `delay` before the next attempt.
    pub const fn retry_after(delay: Duration) -> Self {
        Outcome::Retryable { after: Some(delay) }
    }

    /// A retryable failure after which the server asked for exactly `delay` (to the
    /// millisecond, rounded down; saturating), and a fresh backoff schedule: a gRPC pushback
    /// (gRFC A6).
    pub const fn pushed_back(delay: Duration) -> Self {
        let ms = delay.as_millis();
        let after_ms = if ms > u64::MAX as u128 {
            u64::MAX
        } else {
            ms as u64
        };
        Outcome::PushedBack { after_ms }
    }

    /// `true` for [`Outcome::Success`].
    pub const fn is_success(&self) -> bool {
        matches!(self, Outcome::Success)
    }

    /// `true` for the outcomes that count as failures: retryable (pushed back or not),
    /// non-retryable, refused by the server, and invalid.
    pub const fn is_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Retryable { .. }
                | Outcome::NonRetryable
                | Outcome::Invalid
                | Outcome::PushedBack { .. }
                | Outcome::DoNotRetry
        )
    }

    /// `true` when trying again may help: [`Outcome::Retryable`], [`Outcome::PushedBack`] and
    /// [`Outcome::Invalid`].
    pub const fn is_retryable(&self) -> bool {
        matches!(
            self,
            Outcome::Retryable { .. } | Outcome::Invalid | Outcome::PushedBack { .. }
        )
    }

    /// `true` for the outcomes the retry layer makes a decision about (and may report a stop
    /// reason for): the retryable ones and [`Outcome::DoNotRetry`].
    #[inline]
    #[cfg(feature = "retry")]
    pub(crate) const fn is_retry_decision(&self) -> bool {
        matches!(
            self,
            Outcome::Retryable { .. }
                | Outcome::Invalid
                | Outcome::PushedBack { .. }
                | Outcome::DoNotRetry
        )
    }

    /// The server's requested delay, if the outcome carries one.
    pub const fn hint(&self) -> Option<Duration> {
        match self {
            Outcome::Retryable { after } => *after,
            Outcome::PushedBack { after_ms } => Some(Duration::from_millis(*after_ms)),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Success => f.write_str("success"),
            Outcome::Retryable { after: None } => f.write_str("retryable failure"),
            Outcome::Retryable { after: Some(d) } => {
                write!(f, "retryable failure (server asked to wait {d:?})")
            }
            Outcome::NonRetryable => f.write_str("non-retryable failure"),
            Outcome::Ignored => f.write_str("ignored"),
            Outcome::Invalid => f.write_str("invalid response"),
            Outcome::PushedBack { after_ms } => {
                write!(f, "retryable failure (server pushed back {after_ms}ms)")
            }
            Outcome::DoNotRetry => f.write_str("failure (server asked not to retry)"),
        }
    }
}

/// What a classifier knows about the call it is judging.
///
/// For a retry this is the attempt that just finished; layers that do not retry report
/// attempt `1` and zero delay.
#[derive(Debug)]
#[non_exhaustive]
pub struct Attempt<'a, Req> {
    /// The attempt number, starting at 1.
    pub number: u32,
    /// For the retry layer, time from the start of the first attempt to the end of this one
    /// (the first attempt included), when the classifier reads it
    /// ([`Classify::reads_elapsed`]): the layer then reads the clock when each request
    /// starts. A classifier that says it does not read it sees zero. Layers that do not retry
    /// report zero.
    pub elapsed: Duration,
    /// Time spent sleeping between attempts so far.
    pub total_delay: Duration,
    /// The request, when the layer still holds a copy of it (a request that could not be
    /// cloned for a retry is not available).
    pub request: Option<&'a Req>,
}

impl<'a, Req> Attempt<'a, Req> {
    /// The context of a first attempt of `request`, with nothing elapsed.
    pub fn first(request: &'a Req) -> Self {
        Attempt {
            number: 1,
            elapsed: Duration::ZERO,
            total_delay: Duration::ZERO,
            request: Some(request),
        }
    }

    /// Builds a context from its parts.
    pub fn new(
        number: u32,
        elapsed: Duration,
        total_delay: Duration,
        request: Option<&'a Req>,
    ) -> Self {
        Attempt {
            number,
            elapsed,
            total_delay,
            request,
        }
    }
}

// Manual impls: `Attempt` is copyable whatever `Req` is.
impl<Req> Clone for Attempt<'_, Req> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<Req> Copy for Attempt<'_, Req> {}

/// Turns a call's result into an [`Outcome`].
///
/// Implemented for closures through [`classify_fn`], and by the ready-made classifiers in this
/// module. Implement it for your own type to share one classification between layers.
pub trait Classify<Req, Res, E> {
    /// Judges one finished call.
    fn classify(&self, attempt: &Attempt<'_, Req>, result: Result<&Res, &E>) -> Outcome;

    /// Whether [`classify`](Self::classify) reads [`Attempt::elapsed`]. For classifiers that
    /// do, the retry layer reads the clock when each request starts and when each attempt
    /// ends, to fill that field in; the others see it as zero. `true` unless a classifier says
    /// otherwise: return `false` from one that never looks at the elapsed time to spare a clock
    /// read per request (and per retry).
    fn reads_elapsed(&self) -> bool {
        true
    }

    /// For an answer [`classify`](Self::classify) judged a success from what has arrived so
    /// far, whose real outcome comes only at its end (a gRPC status sent in the trailers after
    /// streamed messages): where that outcome will arrive. The circuit breaker then records
    /// the call when the outcome arrives, not when the answer's headers did. `None` (the
    /// default) when the outcome is final.
    ///
    /// The retry layer does not ask: an answer already streaming to the caller cannot be sent
    /// again.
    fn late_outcome(&self, response: &Res) -> Option<LateOutcome> {
        let _ = response;
        None
    }
}

impl<T, Req, Res, E> Classify<Req, Res, E> for std::sync::Arc<T>
where
    T: Classify<Req, Res, E> + ?Sized,
{
    fn classify(&self, attempt: &Attempt<'_, Req>, result: Result<&Res, &E>) -> Outcome {
        (**self).classify(attempt, result)
    }

    fn reads_elapsed(&self) -> bool {
        (**self).reads_elapsed()
    }

    fn late_outcome(&self, response: &Res) -> Option<LateOutcome> {
        (**self).late_outcome(response)
    }
}

/// A classifier made from a closure; see [`classify_fn`].
#[derive(Clone, Copy)]
pub struct ClassifyFn<F> {
    f: F,
}

impl<F> fmt::Debug for ClassifyFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassifyFn").finish_non_exhaustive()
    }
}

/// Makes a classifier from a closure that sees the attempt's context and the result.
pub fn classify_fn<F>(f: F) -> ClassifyFn<F> {
    ClassifyFn { f }
}

impl<F, Req, Res, E> Classify<Req, Res, E> for ClassifyFn<F>
where
    F: Fn(&Attempt<'_, Req>, Result<&Res, &E>) -> Outcome,
{
    fn classify(&self, attempt: &Attempt<'_, Req>, result: Result<&Res, &E>) -> Outcome {
        (self.f)(attempt, result)
    }
}

/// The default: every `Ok` is a success, every `Err` is retryable.
///
/// The retry layer and the circuit breaker then [`refine`] that verdict for steadfast's own
/// errors: a request rejected by validation is not retried, an invalid response is retried as
/// [`Outcome::Invalid`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyError;

impl<Req, Res, E> Classify<Req, Res, E> for AnyError {
    #[inline]
    fn classify(&self, _: &Attempt<'_, Req>, result: Result<&Res, &E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::retryable(),
        }
    }

    #[inline]
    fn reads_elapsed(&self) -> bool {
        false
    }
}

/// Never retries: `Ok` is a success, `Err` is a non-retryable failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct Never;

impl<Req, Res, E> Classify<Req, Res, E> for Never {
    #[inline]
    fn classify(&self, _: &Attempt<'_, Req>, result: Result<&Res, &E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::NonRetryable,
        }
    }

    #[inline]
    fn reads_elapsed(&self) -> bool {
        false
    }
}

/// Adjusts a classifier's verdict on an error with what steadfast's own errors say about
/// themselves. The retry layer and the circuit breaker apply it to every failed call, after
/// the classifier, so that classifiers which cannot look inside errors (such as the default,
/// [`AnyError`]) still get these right:
///
/// * a request that validation rejected ([`is_rejected_request`]) was never sent: any failure
///   outcome becomes [`Outcome::Ignored`] (not retried, not counted by a breaker);
/// * a response that failed validation ([`is_invalid`]) judged retryable without a server hint
///   becomes [`Outcome::Invalid`] (still retried, and counted by a breaker as a semantic
///   failure);
/// * a call that an open circuit breaker refused (`circuit_breaker::Rejected`) judged
///   retryable becomes [`Outcome::NonRetryable`]: retrying into an open circuit only adds
///   load and waits, so the rejection is returned at once.
///
/// Every other outcome is returned unchanged; in particular a non-retryable verdict is never
/// made retryable.
///
/// ```
/// use steadfast::classify::{refine, Outcome};
///
/// let io: steadfast::BoxError = Box::new(std::io::Error::other("reset"));
/// assert_eq!(refine(Outcome::retryable(), &*io), Outcome::retryable());
/// ```
pub fn refine(outcome: Outcome, err: &(dyn StdError + 'static)) -> Outcome {
    if !outcome.is_failure() {
        return outcome;
    }
    // One walk down the `source()` chain (each step is a call through the error's vtable)
    // noting what it holds; a rejected request anywhere in it decides at once.
    let (mut invalid, mut refused) = (false, false);
    for e in chain(err) {
        if Identity::RejectedRequest.is(e) {
            return Outcome::Ignored;
        }
        invalid = invalid || Identity::InvalidResponse.is(e);
        refused = refused || Identity::Refusal.is(e);
    }
    if outcome == Outcome::retryable() && invalid {
        return Outcome::Invalid;
    }
    if outcome.is_retryable() && refused {
        return Outcome::NonRetryable;
    }
    outcome
}

/// Retries errors that are (or are caused by) a `T`; any other error is non-retryable and
/// every `Ok` is a success.
///
/// The whole `source()` chain is searched, so an `io::Error` wrapped by a client's own error
/// type still matches `ErrorIs<io::Error>`. Combine several types with [`ErrorIs::or`].
pub struct ErrorIs<T> {
    _t: PhantomData<fn() -> T>,
}

impl<T> ErrorIs<T> {
    /// Matches errors of type `T` anywhere in the source chain.
    pub const fn new() -> Self {
        ErrorIs { _t: PhantomData }
    }

    /// Also retries errors of type `U`.
    pub const fn or<U>(self) -> AnyOf<Self, ErrorIs<U>> {
        AnyOf(self, ErrorIs::new())
    }
}

impl<T> Default for ErrorIs<T> {
    fn default() -> Self {
        Self::new()
    }
}
impl<T> Clone for ErrorIs<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for ErrorIs<T> {}
impl<T> fmt::Debug for ErrorIs<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorIs<{}>", std::any::type_name::<T>())
    }
}

impl<T, Req, Res, E> Classify<Req, Res, E> for ErrorIs<T>
where
    T: StdError + 'static,
    E: AsDynError,
{
    fn classify(&self, _: &Attempt<'_, Req>, result: Result<&Res, &E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) if find_source::<T>(e.as_dyn_error()).is_some() => Outcome::retryable(),
            Err(_) => Outcome::NonRetryable,
        }
    }

    #[inline]
    fn reads_elapsed(&self) -> bool {
        false
    }
}

/// Retries when either classifier says to; built by [`ErrorIs::or`].
///
/// The first classifier's outcome wins unless it is [`Outcome::NonRetryable`], in which case
/// the second decides.
#[derive(Debug, Clone, Copy)]
pub struct AnyOf<A, B>(A, B);

impl<A, B> AnyOf<A, B> {
    /// Combines two classifiers.
    pub const fn new(a: A, b: B) -> Self {
        AnyOf(a, b)
    }

    /// Also retries errors of type `U`.
    pub const fn or<U>(self) -> AnyOf<Self, ErrorIs<U>> {
        AnyOf(self, ErrorIs::new())
    }
}

impl<A, B, Req, Res, E> Classify<Req, Res, E> for AnyOf<A, B>
where
    A: Classify<Req, Res, E>,
    B: Classify<Req, Res, E>,
{
    fn classify(&self, attempt: &Attempt<'_, Req>, result: Result<&Res, &E>) -> Outcome {
        match self.0.classify(attempt, result) {
            Outcome::NonRetryable => self.1.classify(attempt, result),
            other => other,
        }
    }

    fn reads_elapsed(&self) -> bool {
        self.0.reads_elapsed() || self.1.reads_elapsed()
    }

    fn late_outcome(&self, response: &Res) -> Option<LateOutcome> {
        self.0
            .late_outcome(response)
            .or_else(|| self.1.late_outcome(response))
    }
}

/// Classifies responses with a predicate: responses for which it returns `true` are
/// retryable, other responses succeed, and errors are retryable.
///
/// ```
/// use steadfast::classify::{Attempt, Classify, Outcome, RetryIfResponse};
/// let c = RetryIfResponse::new(|status: &u16| *status == 503);
/// let ctx = Attempt::first(&());
/// assert_eq!(Classify::<(), u16, ()>::classify(&c, &ctx, Ok(&503)), Outcome::retryable());
/// assert_eq!(Classify::<(), u16, ()>::classify(&c, &ctx, Ok(&200)), Outcome::Success);
/// ```
#[derive(Clone, Copy)]
pub struct RetryIfResponse<F> {
    f: F,
}

impl<F> RetryIfResponse<F> {
    /// Retries responses for which `f` returns `true`.
    pub const fn new(f: F) -> Self {
        RetryIfResponse { f }
    }
}

impl<F> fmt::Debug for RetryIfResponse<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryIfResponse").finish_non_exhaustive()
    }
}

impl<F, Req, Res, E> Classify<Req, Res, E> for RetryIfResponse<F>
where
    F: Fn(&Res) -> bool,
{
    fn classify(&self, _: &Attempt<'_, Req>, result: Result<&Res, &E>) -> Outcome {
        match result {
            Ok(res) if (self.f)(res) => Outcome::retryable(),
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::retryable(),
        }
    }

    #[inline]
    fn reads_elapsed(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[derive(Debug)]
    struct Wrapper(io::Error);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client failed")
        }
    }
    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[derive(Debug)]
    struct Other;
    impl fmt::Display for Other {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("other")
        }
    }
    impl StdError for Other {}

    fn ctx() -> Attempt<'static, ()> {
        Attempt::first(&())
    }

    #[cfg(all(feature = "validate", feature = "circuit-breaker"))]
    #[test]
    fn refine_finds_steadfasts_errors_anywhere_in_the_chain() {
        use crate::circuit_breaker::CircuitBreaker;
        use crate::validate::{Invalid, InvalidRequest, ValidationContext};
        use crate::BoxError;

        /// An error that says it was caused by another: for chains of steadfast's errors.
        #[derive(Debug)]
        struct Caused(&'static str, BoxError);
        impl fmt::Display for Caused {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl StdError for Caused {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&*self.1)
            }
        }

        let breaker = CircuitBreaker::builder().name("db").build().unwrap();
        breaker.force_open();
        let rejected = || -> BoxError { Box::new(breaker.check().unwrap_err()) };
        let invalid = || -> BoxError {
            Box::new(Invalid::new(
                (),
                vec!["empty".into()],
                ValidationContext::new(1, Duration::ZERO),
            ))
        };
        let refused_request =
            || -> BoxError { Box::new(InvalidRequest::new(vec!["no body".into()], 1)) };
        let retry = Outcome::retryable();

        // A rejected request anywhere in the chain decides, whatever the verdict.
        let deep = Caused(
            "client",
            Box::new(Caused(
                "middleware",
                Box::new(Caused("layer", refused_request())),
            )),
        );
        assert_eq!(refine(retry, &deep), Outcome::Ignored);
        assert_eq!(refine(Outcome::NonRetryable, &deep), Outcome::Ignored);
        assert_eq!(refine(Outcome::Success, &deep), Outcome::Success);

        // An invalid response below wrappers is still one.
        let wrapped = Caused("outer", Box::new(Caused("client", invalid())));
        assert_eq!(refine(retry, &wrapped), Outcome::Invalid);
        assert_eq!(
            refine(Outcome::NonRetryable, &wrapped),
            Outcome::NonRetryable
        );

        // A refusal below a wrapper stops retries; other verdicts stay as they are.
        let refusal = Caused("client", rejected());
        assert_eq!(refine(retry, &refusal), Outcome::NonRetryable);
        assert_eq!(
            refine(Outcome::NonRetryable, &refusal),
            Outcome::NonRetryable
        );
        let plain = Caused("client", Box::new(io::Error::other("reset")));
        assert_eq!(refine(retry, &plain), retry);
    }

    #[test]
    fn error_is_searches_the_source_chain() {
        let c = ErrorIs::<io::Error>::new();
        let wrapped: crate::BoxError = Box::new(Wrapper(io::Error::other("reset")));
        let other: crate::BoxError = Box::new(Other);
        assert_eq!(
            Classify::<(), (), _>::classify(&c, &ctx(), Err(&wrapped)),
            Outcome::retryable()
        );
        assert_eq!(
            Classify::<(), (), _>::classify(&c, &ctx(), Err(&other)),
            Outcome::NonRetryable
        );
        assert_eq!(
            Classify::<(), (), crate::BoxError>::classify(&c, &ctx(), Ok(&())),
            Outcome::Success
        );
    }

    impl AsDynError for Wrapper {
        fn as_dyn_error(&self) -> &(dyn StdError + 'static) {
            self
        }
    }

    #[test]
    fn error_is_works_on_concrete_error_types() {
        let c = ErrorIs::<io::Error>::new();
        let e = Wrapper(io::Error::other("x"));
        assert!(Classify::<(), (), _>::classify(&c, &ctx(), Err(&e)).is_retryable());
        let direct = io::Error::other("y");
        assert!(Classify::<(), (), _>::classify(&c, &ctx(), Err(&direct)).is_retryable());
    }

    #[test]
    fn or_combines_types() {
        let c = ErrorIs::<io::Error>::new().or::<Other>();
        let other: crate::BoxError = Box::new(Other);
        let fmt_err: crate::BoxError = Box::new(fmt::Error);
        assert!(Classify::<(), (), _>::classify(&c, &ctx(), Err(&other)).is_retryable());
        assert_eq!(
            Classify::<(), (), _>::classify(&c, &ctx(), Err(&fmt_err)),
            Outcome::NonRetryable
        );
    }

    #[test]
    fn outcome_predicates() {
        assert!(Outcome::Invalid.is_retryable() && Outcome::Invalid.is_failure());
        assert!(!Outcome::Ignored.is_failure() && !Outcome::Ignored.is_retryable());
        assert!(Outcome::NonRetryable.is_failure() && !Outcome::NonRetryable.is_retryable());
        assert_eq!(
            Outcome::retry_after(Duration::from_secs(2)).hint(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(Outcome::Success.hint(), None);
        assert_eq!(
            Outcome::pushed_back(Duration::from_micros(2_500)).hint(),
            Some(Duration::from_millis(2))
        );
        assert_eq!(
            Outcome::pushed_back(Duration::MAX),
            Outcome::PushedBack { after_ms: u64::MAX }
        );
        assert!(Outcome::DoNotRetry.is_failure() && !Outcome::DoNotRetry.is_retryable());
        // Two words, like `Option<Duration>`: classifying stays cheap to move.
        assert_eq!(std::mem::size_of::<Outcome>(), 16);
        assert_eq!(Outcome::Success.to_string(), "success");
    }

    #[test]
    fn never_and_any_error() {
        let e = io::Error::other("z");
        assert_eq!(
            Classify::<(), (), _>::classify(&Never, &ctx(), Err(&e)),
            Outcome::NonRetryable
        );
        assert_eq!(
            Classify::<(), (), _>::classify(&AnyError, &ctx(), Err(&e)),
            Outcome::retryable()
        );
    }

    #[test]
    fn which_classifiers_read_the_elapsed_time() {
        fn reads<C: Classify<(), (), io::Error>>(c: C) -> bool {
            c.reads_elapsed()
        }
        let closure =
            || classify_fn(|_: &Attempt<'_, ()>, _: Result<&(), &io::Error>| Outcome::Success);
        assert!(!reads(AnyError));
        assert!(!reads(Never));
        assert!(!reads(ErrorIs::<io::Error>::new()));
        assert!(!reads(RetryIfResponse::new(|_: &()| false)));
        assert!(!reads(AnyOf::new(AnyError, Never)));
        // A closure may look at anything it is given.
        assert!(reads(closure()));
        assert!(reads(AnyOf::new(AnyError, closure())));
        assert!(reads(AnyOf::new(closure(), Never)));
        assert!(reads(std::sync::Arc::new(closure())));
        assert!(!reads(std::sync::Arc::new(AnyError)));
    }
}
