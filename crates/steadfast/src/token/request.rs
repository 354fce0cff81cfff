//! Requests that carry a token: the [`HasCancelToken`] trait the layers read a request's
//! [`CancelToken`] and [`RetryAttempt`] tag through, and its implementations.

use std::sync::Arc;
use std::time::Duration;

use super::CancelToken;
use crate::trace::DecisionTrace;

/// Which attempt of a retried request this is, as the retry layer tells the layers below it.
///
/// The retry layer puts one on every attempt after the first (through
/// [`HasCancelToken::set_retry_attempt`]); the first attempt carries none, so it costs nothing.
/// Layers below the retry layer (the validate layer, for one) read it with
/// [`HasCancelToken::retry_attempt`]: no tag means attempt 1.
///
/// `http::Request` keeps it in its extensions; a request type of your own keeps it in a field:
///
/// ```
/// use std::time::Duration;
/// use steadfast::token::{HasCancelToken, RetryAttempt};
///
/// #[derive(Clone)]
/// struct Prompt {
///     text: String,
///     attempt: Option<RetryAttempt>,
/// }
///
/// impl HasCancelToken for Prompt {
///     fn retry_attempt(&self) -> Option<RetryAttempt> {
///         self.attempt
///     }
///     fn set_retry_attempt(&mut self, attempt: RetryAttempt) -> bool {
///         self.attempt = Some(attempt);
///         true
///     }
/// }
///
/// let mut req = Prompt { text: "summarise".into(), attempt: None };
/// assert_eq!(req.retry_attempt(), None); // a first attempt
/// assert!(req.set_retry_attempt(RetryAttempt::new(2, Duration::from_millis(150))));
/// assert_eq!(req.retry_attempt().map(|a| a.number()), Some(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryAttempt {
    number: u32,
    elapsed: Duration,
}

impl RetryAttempt {
    /// Attempt `number` (from 1), sent `elapsed` after the retry layer's clock started.
    pub const fn new(number: u32, elapsed: Duration) -> Self {
        RetryAttempt { number, elapsed }
    }

    /// The attempt number, from 1.
    pub const fn number(&self) -> u32 {
        self.number
    }

    /// Time from the retry layer's start (see
    /// [`RetryPolicyBuilder::max_elapsed`](crate::retry::RetryPolicyBuilder::max_elapsed) for
    /// when its clock starts) to the moment this attempt was sent.
    pub const fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

/// Request types that may carry a [`CancelToken`], and the [`RetryAttempt`] the retry layer
/// tags retries with.
///
/// Implemented for `http::Request<B>` (both live in its extensions) and for common plain
/// types (which never carry either). For your own request type, return the token it carries,
/// or write an empty `impl HasCancelToken for MyRequest {}` if it carries none; implement the
/// two `retry_attempt` methods too if the layers below a retry layer should know which attempt
/// they see.
///
/// A type with room for a token implements [`set_cancel_token`](Self::set_cancel_token) and
/// [`can_carry_cancel_token`](Self::can_carry_cancel_token) together: the cancel layer hands
/// a token only to a request that says it can carry one.
///
/// ```
/// use steadfast::token::{CancelToken, HasCancelToken};
///
/// struct Job {
///     id: u64,
///     token: Option<CancelToken>,
/// }
///
/// impl HasCancelToken for Job {
///     fn cancel_token(&self) -> Option<&CancelToken> {
///         self.token.as_ref()
///     }
///     fn can_carry_cancel_token(&self) -> bool {
///         true
///     }
///     fn set_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
///         self.token = Some(token);
///         Ok(())
///     }
/// }
///
/// let mut job = Job { id: 7, token: None };
/// let token = CancelToken::new();
/// assert!(job.can_carry_cancel_token());
/// assert!(job.set_cancel_token(token.clone()).is_ok());
/// assert!(job.cancel_token().unwrap().same_as(&token));
///
/// // A type that cannot carry one hands the token back, so nothing is lost.
/// let mut plain = 7u64;
/// assert!(!plain.can_carry_cancel_token());
/// let back = plain.set_cancel_token(token.clone()).unwrap_err();
/// assert!(back.same_as(&token));
/// # let _ = job.id;
/// ```
pub trait HasCancelToken {
    /// The token this request carries, if any.
    fn cancel_token(&self) -> Option<&CancelToken> {
        None
    }

    /// `true` when [`set_cancel_token`](Self::set_cancel_token) puts a token on this request;
    /// `false` (the default) for request types that have nowhere to put one.
    ///
    /// It must be cheap (a constant, typically): the cancel layer asks it for every request.
    /// When it is `false`, nothing below the layer can see the token the layer would make, so
    /// the layer makes it (and reads the clock for its timeout) only if the answer is not
    /// ready at once.
    fn can_carry_cancel_token(&self) -> bool {
        false
    }

    /// Puts `token` on the request, replacing any it carried. A request type that cannot
    /// carry a token (the default) gives it back as `Err`, unused.
    fn set_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        Err(token)
    }

    /// Where the request keeps its token, for reading and replacing it with one lookup:
    /// `Some(Some(token))` for the token it carries, `Some(None)` when it carries none (then
    /// [`add_cancel_token`](Self::add_cancel_token) puts one on), and `None` (the default)
    /// when it does not say; the cancel layer then uses [`cancel_token`](Self::cancel_token)
    /// and [`set_cancel_token`](Self::set_cancel_token).
    #[doc(hidden)]
    fn cancel_token_mut(&mut self) -> Option<Option<&mut CancelToken>> {
        None
    }

    /// Puts `token` on a request the caller has just found to carry none
    /// ([`cancel_token`](Self::cancel_token) said `None`): the cancel layer does, so that a
    /// request type whose lookup is not free (a map) can skip looking for one to replace. The
    /// default is [`set_cancel_token`](Self::set_cancel_token).
    #[doc(hidden)]
    fn add_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        self.set_cancel_token(token)
    }

    /// What the request calls itself in the registry of running operations
    /// (`steadfast::cancel::operations`); `None` (the default) registers it as `"request"`.
    fn operation(&self) -> Option<crate::token::Operation> {
        None
    }

    /// The attempt this request is, when a retry layer above tagged it; `None` (the default)
    /// for a first attempt or a request type that carries no tag.
    fn retry_attempt(&self) -> Option<RetryAttempt> {
        None
    }

    /// Tags the request with the attempt it is. The retry layer calls it for every attempt
    /// after the first. Returns `false` for request types that cannot carry a tag (the
    /// default).
    fn set_retry_attempt(&mut self, attempt: RetryAttempt) -> bool {
        let _ = attempt;
        false
    }

    /// The [decision trace](crate::trace) this request carries, if any; `None` (the default)
    /// for request types that carry none. Layers ask only once a trace exists in the process
    /// ([`trace::armed`](crate::trace::armed)).
    fn decision_trace(&self) -> Option<&DecisionTrace> {
        None
    }

    /// Puts `trace` on the request (a layer sampling requests for tracing does). A request
    /// type that cannot carry one (the default) gives it back as `Err`.
    fn set_decision_trace(&mut self, trace: DecisionTrace) -> Result<(), DecisionTrace> {
        Err(trace)
    }
}

/// Puts `value` in `extensions`. One already there (a caller's token, an earlier tag) is
/// replaced where it is: no new entry and no allocation, where `insert` would box the new
/// value and free the old.
#[cfg(feature = "http")]
fn put<T: Clone + Send + Sync + 'static>(extensions: &mut http::Extensions, value: T) {
    match extensions.get_mut::<T>() {
        Some(slot) => *slot = value,
        None => {
            extensions.insert(value);
        }
    }
}

#[cfg(feature = "http")]
impl<B> HasCancelToken for http::Request<B> {
    fn cancel_token(&self) -> Option<&CancelToken> {
        self.extensions().get::<CancelToken>()
    }

    fn can_carry_cancel_token(&self) -> bool {
        true
    }

    fn set_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        put(self.extensions_mut(), token);
        Ok(())
    }

    fn cancel_token_mut(&mut self) -> Option<Option<&mut CancelToken>> {
        Some(self.extensions_mut().get_mut::<CancelToken>())
    }

    fn add_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        // Nothing to replace: one insertion, no lookup before it.
        self.extensions_mut().insert(token);
        Ok(())
    }

    fn retry_attempt(&self) -> Option<RetryAttempt> {
        self.extensions().get::<RetryAttempt>().copied()
    }

    fn set_retry_attempt(&mut self, attempt: RetryAttempt) -> bool {
        put(self.extensions_mut(), attempt);
        true
    }

    fn decision_trace(&self) -> Option<&DecisionTrace> {
        self.extensions().get::<DecisionTrace>()
    }

    fn set_decision_trace(&mut self, trace: DecisionTrace) -> Result<(), DecisionTrace> {
        put(self.extensions_mut(), trace);
        Ok(())
    }

    /// The [`Operation`](crate::token::Operation) in the extensions, or one named after
    /// the method and path (`"GET /reports"`).
    fn operation(&self) -> Option<crate::token::Operation> {
        Some(
            self.extensions()
                .get::<crate::token::Operation>()
                .cloned()
                .unwrap_or_else(|| {
                    crate::token::Operation::new(format!("{} {}", self.method(), self.uri().path()))
                }),
        )
    }
}

macro_rules! no_token {
    ($($t:ty),* $(,)?) => { $(impl HasCancelToken for $t {})* };
}
no_token!(
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
    Arc<str>,
    Box<str>,
);
impl<T> HasCancelToken for Vec<T> {}
impl<T> HasCancelToken for Option<T> {}

impl<T: HasCancelToken + ?Sized> HasCancelToken for Box<T> {
    fn cancel_token(&self) -> Option<&CancelToken> {
        (**self).cancel_token()
    }

    fn can_carry_cancel_token(&self) -> bool {
        (**self).can_carry_cancel_token()
    }

    fn set_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        (**self).set_cancel_token(token)
    }

    fn cancel_token_mut(&mut self) -> Option<Option<&mut CancelToken>> {
        (**self).cancel_token_mut()
    }

    fn add_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        (**self).add_cancel_token(token)
    }

    fn operation(&self) -> Option<crate::token::Operation> {
        (**self).operation()
    }

    fn retry_attempt(&self) -> Option<RetryAttempt> {
        (**self).retry_attempt()
    }

    fn set_retry_attempt(&mut self, attempt: RetryAttempt) -> bool {
        (**self).set_retry_attempt(attempt)
    }

    fn decision_trace(&self) -> Option<&DecisionTrace> {
        (**self).decision_trace()
    }

    fn set_decision_trace(&mut self, trace: DecisionTrace) -> Result<(), DecisionTrace> {
        (**self).set_decision_trace(trace)
    }
}

impl<T: HasCancelToken + ?Sized> HasCancelToken for Arc<T> {
    fn cancel_token(&self) -> Option<&CancelToken> {
        (**self).cancel_token()
    }

    fn operation(&self) -> Option<crate::token::Operation> {
        (**self).operation()
    }

    fn retry_attempt(&self) -> Option<RetryAttempt> {
        (**self).retry_attempt()
    }

    fn decision_trace(&self) -> Option<&DecisionTrace> {
        (**self).decision_trace()
    }
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use super::*;

    #[test]
    fn http_requests_carry_tokens_in_extensions() {
        let mut req = http::Request::new(());
        assert!(req.cancel_token().is_none());
        let t = CancelToken::new();
        req.extensions_mut().insert(t.clone());
        t.cancel();
        assert!(req.cancel_token().unwrap().is_cancelled());
    }

    #[test]
    fn setting_a_token_or_a_retry_tag_replaces_the_one_already_there() {
        let mut req = http::Request::new(());
        let first = CancelToken::new();
        let second = CancelToken::new();
        assert!(req.set_cancel_token(first.clone()).is_ok());
        assert!(req.set_cancel_token(second.clone()).is_ok());
        assert!(req.cancel_token().unwrap().same_as(&second));
        assert!(!req.cancel_token().unwrap().same_as(&first));
        assert!(req.set_retry_attempt(RetryAttempt::new(2, Duration::ZERO)));
        assert!(req.set_retry_attempt(RetryAttempt::new(3, Duration::ZERO)));
        assert_eq!(
            req.retry_attempt().as_ref().map(RetryAttempt::number),
            Some(3)
        );
        // One entry each: the token, the tag.
        assert_eq!(req.extensions().len(), 2);
    }
}
