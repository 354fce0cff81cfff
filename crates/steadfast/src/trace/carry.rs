//! Responses that can carry a decision trace: [`CarryTrace`].

use super::DecisionTrace;

/// Response types that can carry the [`DecisionTrace`] of the request they answer, so the
/// [`TraceLayer`](super::TraceLayer) can hand it to the caller with the response.
///
/// Implemented for `http::Response<B>` (the trace goes in its extensions) and for common
/// plain types (which carry none). For a response type of your own, implement
/// [`carry_decision_trace`](Self::carry_decision_trace) if it has room for one, or write an
/// empty `impl CarryTrace for MyResponse {}`.
///
/// ```
/// use steadfast::trace::{CarryTrace, DecisionTrace};
///
/// struct Answer {
///     body: String,
///     trace: Option<DecisionTrace>,
/// }
///
/// impl CarryTrace for Answer {
///     fn carry_decision_trace(&mut self, trace: DecisionTrace) -> Result<(), DecisionTrace> {
///         self.trace = Some(trace);
///         Ok(())
///     }
/// }
///
/// let mut answer = Answer { body: "ok".into(), trace: None };
/// let trace = DecisionTrace::new();
/// assert!(answer.carry_decision_trace(trace.clone()).is_ok());
/// assert!(answer.trace.unwrap().same_as(&trace));
/// # let _ = answer.body;
/// ```
pub trait CarryTrace {
    /// Puts `trace` on the response. A type with nowhere to put it (the default) gives it
    /// back as `Err`.
    fn carry_decision_trace(&mut self, trace: DecisionTrace) -> Result<(), DecisionTrace> {
        Err(trace)
    }
}

#[cfg(feature = "http")]
impl<B> CarryTrace for http::Response<B> {
    fn carry_decision_trace(&mut self, trace: DecisionTrace) -> Result<(), DecisionTrace> {
        self.extensions_mut().insert(trace);
        Ok(())
    }
}

macro_rules! carries_none {
    ($($t:ty),* $(,)?) => { $(impl CarryTrace for $t {})* };
}
carries_none!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    String,
    &'static str,
    std::sync::Arc<str>,
    Box<str>,
);
impl<T> CarryTrace for Vec<T> {}
impl<T> CarryTrace for Option<T> {}
