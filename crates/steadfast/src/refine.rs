//! What steadfast's own errors say about a call, whatever classifier judged it: the error
//! identities every layer recognises anywhere in a `source()` chain.
//!
//! This is the one place that names the layers' error types: it sits above those types and the
//! classifier vocabulary, and below the layers' futures, which apply it. Its public items are
//! re-exported from [`classify`](crate::classify).

use std::error::Error as StdError;

use crate::classify::Outcome;
use crate::error::chain;

/// Adjusts a classifier's verdict on an error with what steadfast's own errors say about
/// themselves. The retry layer and the circuit breaker apply it to every failed call, after
/// the classifier, so that classifiers which cannot look inside errors (such as the default,
/// [`AnyError`](crate::classify::AnyError)) still get these right:
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

/// One of steadfast's own errors that every layer must recognise, wherever it sits in a
/// `source()` chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identity {
    /// A request that validation rejected before it was sent
    /// (`validate::InvalidRequest`; never matches without the `validate` feature).
    RejectedRequest,
    /// A response that failed validation, recognised whatever its type by the non-generic
    /// `validate::InvalidResponse` every `validate::Invalid` has as its source (never matches
    /// without the `validate` feature).
    InvalidResponse,
    /// An open circuit breaker's refusal (`circuit_breaker::Rejected`; never matches without
    /// the `circuit-breaker` feature).
    Refusal,
}

impl Identity {
    /// `true` if `e` itself (not its sources) is this error: one downcast check.
    #[inline]
    pub(crate) fn is(self, e: &(dyn StdError + 'static)) -> bool {
        match self {
            #[cfg(feature = "validate")]
            Identity::RejectedRequest => e.is::<crate::validate::InvalidRequest>(),
            #[cfg(feature = "validate")]
            Identity::InvalidResponse => e.is::<crate::validate::InvalidResponse>(),
            #[cfg(feature = "circuit-breaker")]
            Identity::Refusal => e.is::<crate::circuit_breaker::Rejected>(),
            #[allow(unreachable_patterns)]
            _ => {
                let _ = e;
                false
            }
        }
    }

    /// `true` if `err` is, or is caused by, this error.
    #[inline]
    pub(crate) fn in_chain(self, err: &(dyn StdError + 'static)) -> bool {
        chain(err).any(|e| self.is(e))
    }
}

/// `true` if `err` is, or is caused by, a response that failed validation: a
/// [`validate::Invalid`](crate::validate::Invalid) of any response type, recognised by the
/// non-generic [`validate::InvalidResponse`](crate::validate::InvalidResponse) in its
/// `source()` chain. Always `false` without the `validate` feature.
///
/// For classifiers of your own that should treat invalid responses apart:
///
/// ```
/// use steadfast::classify::{is_invalid, AsDynError, Attempt, Classify, Outcome, classify_fn};
/// use steadfast::validate::{Invalid, ValidationContext};
///
/// let classifier = classify_fn(|_: &Attempt<'_, ()>, r: Result<&String, &steadfast::BoxError>| match r {
///     Ok(_) => Outcome::Success,
///     Err(e) if is_invalid(e.as_dyn_error()) => Outcome::Invalid,
///     Err(_) => Outcome::NonRetryable,
/// });
/// let invalid: steadfast::BoxError =
///     Box::new(Invalid::new(String::from("{"), vec!["not JSON".into()], ValidationContext::first()));
/// let refused: steadfast::BoxError = Box::new(std::io::Error::other("refused"));
/// let ctx = Attempt::first(&());
/// assert_eq!(classifier.classify(&ctx, Err(&invalid)), Outcome::Invalid);
/// assert_eq!(classifier.classify(&ctx, Err(&refused)), Outcome::NonRetryable);
/// ```
pub fn is_invalid(err: &(dyn StdError + 'static)) -> bool {
    Identity::InvalidResponse.in_chain(err)
}

/// `true` if `err` is, or is caused by, a request that validation rejected before it was
/// sent ([`validate::InvalidRequest`](crate::validate::InvalidRequest)). Always `false`
/// without the `validate` feature.
///
/// ```
/// use steadfast::classify::is_rejected_request;
/// use steadfast::validate::InvalidRequest;
///
/// let rejected: steadfast::BoxError = Box::new(InvalidRequest::new(vec!["empty prompt".into()], 1));
/// assert!(is_rejected_request(&*rejected));
/// assert!(!is_rejected_request(&std::io::Error::other("reset")));
/// ```
pub fn is_rejected_request(err: &(dyn StdError + 'static)) -> bool {
    Identity::RejectedRequest.in_chain(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{AsDynError, BoxError, ConfigError};
    #[cfg(all(feature = "validate", feature = "circuit-breaker"))]
    use std::fmt;

    /// An error that says it was caused by another.
    #[cfg(all(feature = "validate", feature = "circuit-breaker"))]
    #[derive(Debug)]
    struct Caused(BoxError);
    #[cfg(all(feature = "validate", feature = "circuit-breaker"))]
    impl fmt::Display for Caused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client failed")
        }
    }
    #[cfg(all(feature = "validate", feature = "circuit-breaker"))]
    impl StdError for Caused {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.0)
        }
    }

    /// Which identities `err` itself is, and which its chain holds.
    fn identities(err: &(dyn StdError + 'static)) -> (Vec<Identity>, Vec<Identity>) {
        let all = [
            Identity::RejectedRequest,
            Identity::InvalidResponse,
            Identity::Refusal,
        ];
        (
            all.into_iter().filter(|i| i.is(err)).collect(),
            all.into_iter().filter(|i| i.in_chain(err)).collect(),
        )
    }

    #[test]
    fn other_errors_have_no_identity() {
        let io: BoxError = Box::new(std::io::Error::other("reset"));
        assert_eq!(identities(&*io), (vec![], vec![]));
        let config = ConfigError::new("retry", "max_attempts", "must be at least 1");
        assert_eq!(identities(config.as_dyn_error()), (vec![], vec![]));
    }

    #[cfg(all(feature = "validate", feature = "circuit-breaker"))]
    #[test]
    fn each_identity_is_recognised_itself_and_below_a_wrapper() {
        use crate::circuit_breaker::CircuitBreaker;
        use crate::validate::{Invalid, InvalidRequest, ValidationContext as Context};

        let breaker = CircuitBreaker::builder().name("db").build().unwrap();
        breaker.force_open();
        let cases: [(BoxError, Identity); 3] = [
            (
                Box::new(InvalidRequest::new(vec!["no body".into()], 1)),
                Identity::RejectedRequest,
            ),
            // Recognised through the non-generic source of `Invalid<Res>`.
            (
                Box::new(Invalid::new(7u8, vec!["odd".into()], Context::first())),
                Identity::InvalidResponse,
            ),
            (Box::new(breaker.check().unwrap_err()), Identity::Refusal),
        ];
        for (err, identity) in cases {
            let itself = identity != Identity::InvalidResponse;
            let (is, in_chain) = identities(&*err);
            assert_eq!(is, if itself { vec![identity] } else { vec![] });
            assert_eq!(in_chain, vec![identity]);
            let wrapped = Caused(err);
            assert_eq!(identities(&wrapped), (vec![], vec![identity]));
        }
        assert!(is_rejected_request(&Caused(Box::new(InvalidRequest::new(
            vec![],
            1
        )))));
    }
}
