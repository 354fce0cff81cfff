//! The classifier trait and the attempt it judges.

use std::time::Duration;

use super::late::LateOutcome;
use super::outcome::Outcome;

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
