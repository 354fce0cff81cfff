//! The classifier trait and the attempt it judges.

use std::borrow::Cow;
use std::time::Duration;

use super::late::LateOutcome;
use super::outcome::Outcome;

/// What a classifier knows about the call it is judging.
///
/// For a retry this is the attempt that just finished; layers that do not retry report
/// attempt `1` and zero delay.
///
/// The layers build it for you; build one yourself with [`Attempt::first`] or
/// [`Attempt::new`] to test a classifier:
///
/// ```
/// use std::time::Duration;
/// use steadfast::classify::{classify_fn, Attempt, Classify, Outcome};
///
/// // Give up on errors once ten seconds have gone by.
/// let patient = classify_fn(|a: &Attempt<'_, &str>, r: Result<&(), &std::io::Error>| match r {
///     Ok(()) => Outcome::Success,
///     Err(_) if a.elapsed >= Duration::from_secs(10) => Outcome::NonRetryable,
///     Err(_) => Outcome::retryable(),
/// });
/// let err = std::io::Error::other("reset");
/// let first = Attempt::first(&"GET /");
/// assert_eq!((first.number, first.elapsed), (1, Duration::ZERO));
/// assert_eq!(patient.classify(&first, Err(&err)), Outcome::retryable());
///
/// let late = Attempt::new(4, Duration::from_secs(12), Duration::from_secs(3), Some(&"GET /"));
/// assert_eq!(patient.classify(&late, Err(&err)), Outcome::NonRetryable);
/// ```
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
///
/// ```
/// use steadfast::classify::{Attempt, Classify, Outcome};
///
/// /// Status codes: 429 and 503 are worth another try, other 4xx and 5xx are final.
/// #[derive(Clone, Copy)]
/// struct ByStatus;
///
/// impl<Req, E> Classify<Req, u16, E> for ByStatus {
///     fn classify(&self, _: &Attempt<'_, Req>, result: Result<&u16, &E>) -> Outcome {
///         match result {
///             Ok(429 | 503) | Err(_) => Outcome::retryable(),
///             Ok(s) if *s >= 400 => Outcome::NonRetryable,
///             Ok(_) => Outcome::Success,
///         }
///     }
///
///     // Only the result matters, never the time.
///     fn reads_elapsed(&self) -> bool {
///         false
///     }
/// }
///
/// let ctx = Attempt::first(&());
/// let judge = |status: u16| Classify::<(), u16, ()>::classify(&ByStatus, &ctx, Ok(&status));
/// assert_eq!(judge(503), Outcome::retryable());
/// assert_eq!(judge(404), Outcome::NonRetryable);
/// assert_eq!(judge(200), Outcome::Success);
/// ```
///
/// [`classify_fn`]: super::classify_fn
pub trait Classify<Req, Res, E> {
    /// Judges one finished call.
    fn classify(&self, attempt: &Attempt<'_, Req>, result: Result<&Res, &E>) -> Outcome;

    /// Whether [`classify`](Self::classify) reads [`Attempt::elapsed`]. For classifiers that
    /// do, the retry layer reads the clock when each request starts and when each attempt
    /// ends, to fill that field in; the others see it as zero. `true` unless a classifier says
    /// otherwise: return `false` from one that never looks at the elapsed time, and the retry
    /// layer then leaves the clock alone for it.
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

    /// [`classify`](Self::classify)'s verdict, with the rule that gave it (`"status 503"`,
    /// `"5xx"`, `"grpc UNAVAILABLE"`), for a [decision trace](crate::trace). Layers call it
    /// instead of `classify` only for a request that carries a trace. The default names no
    /// rule; a classifier built of rules names the one that decided.
    fn explain(
        &self,
        attempt: &Attempt<'_, Req>,
        result: Result<&Res, &E>,
    ) -> (Outcome, Option<Cow<'static, str>>) {
        (self.classify(attempt, result), None)
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

    fn explain(
        &self,
        attempt: &Attempt<'_, Req>,
        result: Result<&Res, &E>,
    ) -> (Outcome, Option<Cow<'static, str>>) {
        (**self).explain(attempt, result)
    }

    fn late_outcome(&self, response: &Res) -> Option<LateOutcome> {
        (**self).late_outcome(response)
    }
}
