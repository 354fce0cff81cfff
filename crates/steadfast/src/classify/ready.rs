//! Ready-made classifiers: from a closure, by error type, by response, and their combinations.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::marker::PhantomData;

use super::classifier::{Attempt, Classify};
use super::late::LateOutcome;
use super::outcome::Outcome;
use crate::error::{find_source, AsDynError};

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
///
/// ```
/// use steadfast::classify::{classify_fn, Attempt, Classify, Outcome};
///
/// // Retry errors on the first two attempts only.
/// let twice = classify_fn(|a: &Attempt<'_, ()>, r: Result<&(), &std::io::Error>| match r {
///     Ok(()) => Outcome::Success,
///     Err(_) if a.number < 3 => Outcome::retryable(),
///     Err(_) => Outcome::NonRetryable,
/// });
/// let err = std::io::Error::other("reset");
/// assert_eq!(twice.classify(&Attempt::first(&()), Err(&err)), Outcome::retryable());
/// let third = Attempt::new(3, Default::default(), Default::default(), None);
/// assert_eq!(twice.classify(&third, Err(&err)), Outcome::NonRetryable);
/// ```
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
/// The retry layer and the circuit breaker then [`refine`](super::refine) that verdict for
/// steadfast's own errors: a request rejected by validation is not retried, an invalid
/// response is retried as [`Outcome::Invalid`].
///
/// ```
/// use steadfast::classify::{AnyError, Attempt, Classify, Outcome};
///
/// let ctx = Attempt::first(&());
/// let judge = |r: Result<&u32, &std::io::Error>| Classify::<(), _, _>::classify(&AnyError, &ctx, r);
/// assert_eq!(judge(Ok(&7)), Outcome::Success);
/// assert_eq!(judge(Err(&std::io::Error::other("reset"))), Outcome::retryable());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyError;

impl AnyError {
    /// The verdict and the rule that gave it; `classify` keeps the verdict only.
    #[inline]
    fn judge<Res, E>(result: Result<&Res, &E>) -> (Outcome, &'static str) {
        match result {
            Ok(_) => (Outcome::Success, "ok"),
            Err(_) => (Outcome::retryable(), "any error"),
        }
    }
}

impl<Req, Res, E> Classify<Req, Res, E> for AnyError {
    #[inline]
    fn classify(&self, _: &Attempt<'_, Req>, result: Result<&Res, &E>) -> Outcome {
        Self::judge(result).0
    }

    /// Rules: `"ok"`, `"any error"`.
    fn explain(
        &self,
        _: &Attempt<'_, Req>,
        result: Result<&Res, &E>,
    ) -> (Outcome, Option<Cow<'static, str>>) {
        let (outcome, rule) = Self::judge(result);
        (outcome, Some(Cow::Borrowed(rule)))
    }

    #[inline]
    fn reads_elapsed(&self) -> bool {
        false
    }
}

/// Never retries: `Ok` is a success, `Err` is a non-retryable failure.
///
/// For a circuit breaker that should count failures without a retry layer reading them as
/// retryable, or to switch retries off for one policy.
///
/// ```
/// use steadfast::classify::{Attempt, Classify, Never, Outcome};
///
/// let ctx = Attempt::first(&());
/// let judge = |r: Result<&u32, &std::io::Error>| Classify::<(), _, _>::classify(&Never, &ctx, r);
/// assert_eq!(judge(Ok(&7)), Outcome::Success);
/// assert_eq!(judge(Err(&std::io::Error::other("reset"))), Outcome::NonRetryable);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Never;

impl Never {
    /// The verdict and the rule that gave it; `classify` keeps the verdict only.
    #[inline]
    fn judge<Res, E>(result: Result<&Res, &E>) -> (Outcome, &'static str) {
        match result {
            Ok(_) => (Outcome::Success, "ok"),
            Err(_) => (Outcome::NonRetryable, "never retried"),
        }
    }
}

impl<Req, Res, E> Classify<Req, Res, E> for Never {
    #[inline]
    fn classify(&self, _: &Attempt<'_, Req>, result: Result<&Res, &E>) -> Outcome {
        Self::judge(result).0
    }

    /// Rules: `"ok"`, `"never retried"`.
    fn explain(
        &self,
        _: &Attempt<'_, Req>,
        result: Result<&Res, &E>,
    ) -> (Outcome, Option<Cow<'static, str>>) {
        let (outcome, rule) = Self::judge(result);
        (outcome, Some(Cow::Borrowed(rule)))
    }

    #[inline]
    fn reads_elapsed(&self) -> bool {
        false
    }
}

/// Retries errors that are (or are caused by) a `T`; any other error is non-retryable and
/// every `Ok` is a success.
///
/// The whole `source()` chain is searched, so an `io::Error` wrapped by a client's own error
/// type still matches `ErrorIs<io::Error>`. Combine several types with [`ErrorIs::or`].
///
/// ```
/// use steadfast::classify::{Attempt, Classify, ErrorIs, Outcome};
/// use steadfast::BoxError;
///
/// let io_only = ErrorIs::<std::io::Error>::new();
/// let ctx = Attempt::first(&());
/// let judge = |e: BoxError| Classify::<(), (), _>::classify(&io_only, &ctx, Err(&e));
/// assert_eq!(judge(Box::new(std::io::Error::other("reset"))), Outcome::retryable());
/// assert_eq!(judge("bad request".into()), Outcome::NonRetryable);
/// ```
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

impl<T: StdError + 'static> ErrorIs<T> {
    /// The verdict, and whether an error matched; `classify` keeps the verdict only.
    #[inline]
    fn judge<Res, E: AsDynError>(result: Result<&Res, &E>) -> (Outcome, bool) {
        match result {
            Ok(_) => (Outcome::Success, false),
            Err(e) if find_source::<T>(e.as_dyn_error()).is_some() => (Outcome::retryable(), true),
            Err(_) => (Outcome::NonRetryable, false),
        }
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
        Self::judge(result).0
    }

    /// Rules: `"ok"`, `"error is T"`, `"error is not T"` (`T` by its type name).
    fn explain(
        &self,
        _: &Attempt<'_, Req>,
        result: Result<&Res, &E>,
    ) -> (Outcome, Option<Cow<'static, str>>) {
        let (outcome, matched) = Self::judge(result);
        let name = std::any::type_name::<T>();
        let rule = match (result, matched) {
            (Ok(_), _) => Cow::Borrowed("ok"),
            (Err(_), true) => Cow::Owned(format!("error is {name}")),
            (Err(_), false) => Cow::Owned(format!("error is not {name}")),
        };
        (outcome, Some(rule))
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
///
/// ```
/// use steadfast::classify::{AnyOf, Attempt, Classify, ErrorIs, Outcome};
/// use steadfast::BoxError;
///
/// // I/O errors and tower's timeouts are retried; anything else is final.
/// let transient = ErrorIs::<std::io::Error>::new().or::<tower::timeout::error::Elapsed>();
/// // The same, spelled out.
/// let same = AnyOf::new(
///     ErrorIs::<std::io::Error>::new(),
///     ErrorIs::<tower::timeout::error::Elapsed>::new(),
/// );
/// let ctx = Attempt::first(&());
/// let timeout: BoxError = Box::new(tower::timeout::error::Elapsed::new());
/// let other: BoxError = "bad request".into();
/// for c in [&transient, &same] {
///     assert_eq!(Classify::<(), (), _>::classify(c, &ctx, Err(&timeout)), Outcome::retryable());
///     assert_eq!(Classify::<(), (), _>::classify(c, &ctx, Err(&other)), Outcome::NonRetryable);
/// }
/// ```
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

    /// The first classifier's explanation prefixed `"first: "`, or, when it judged the result
    /// non-retryable, the second's prefixed `"second: "` (a side that names no rule is named
    /// alone: `"first"`, `"second"`).
    fn explain(
        &self,
        attempt: &Attempt<'_, Req>,
        result: Result<&Res, &E>,
    ) -> (Outcome, Option<Cow<'static, str>>) {
        let (side, (outcome, rule)) = match self.0.explain(attempt, result) {
            (Outcome::NonRetryable, _) => ("second", self.1.explain(attempt, result)),
            first => ("first", first),
        };
        let rule = match rule {
            Some(rule) => Cow::Owned(format!("{side}: {rule}")),
            None => Cow::Borrowed(side),
        };
        (outcome, Some(rule))
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

impl<F> RetryIfResponse<F> {
    /// The verdict and the rule that gave it; `classify` keeps the verdict only.
    #[inline]
    fn judge<Res, E>(&self, result: Result<&Res, &E>) -> (Outcome, &'static str)
    where
        F: Fn(&Res) -> bool,
    {
        match result {
            Ok(res) if (self.f)(res) => (Outcome::retryable(), "response matched"),
            Ok(_) => (Outcome::Success, "response did not match"),
            Err(_) => (Outcome::retryable(), "any error"),
        }
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
        self.judge(result).0
    }

    /// Rules: `"response matched"`, `"response did not match"`, `"any error"`.
    fn explain(
        &self,
        _: &Attempt<'_, Req>,
        result: Result<&Res, &E>,
    ) -> (Outcome, Option<Cow<'static, str>>) {
        let (outcome, rule) = self.judge(result);
        (outcome, Some(Cow::Borrowed(rule)))
    }

    #[inline]
    fn reads_elapsed(&self) -> bool {
        false
    }
}
