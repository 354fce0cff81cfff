//! The error vocabulary at the bottom of the crate: what every layer returns and recognises.
//!
//! * [`BoxError`], the boxed error every layer that can fail returns, as tower's middleware
//!   does, and [`ConfigError`], what every builder returns for a setting that breaks a rule;
//! * [`AsDynError`], for error types that can be looked through as `dyn Error`, with
//!   [`find_source`] to search a `source()` chain;
//! * [`Identity`]: which of steadfast's own errors every layer must recognise, wherever it sits
//!   in a chain (a request that validation rejected, a response that failed validation, a
//!   circuit breaker's refusal), with [`is_invalid`] and [`is_rejected_request`] for users.
//!
//! The public items are re-exported where users find them (`steadfast::BoxError`,
//! `steadfast::ConfigError`, `steadfast::classify::AsDynError`, ...). This module imports no
//! layer's behaviour: the layers use it. It names three layer error types, behind their
//! features, for one reason: recognising an error behind `&dyn Error` is a downcast, and a
//! downcast needs the concrete type. Those types stay in their layers (a circuit breaker's
//! rejection holds a handle on its breaker, for its name), so [`Identity`] is the one place
//! that lists them.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// The boxed error type tower middleware returns: every layer here that can fail returns its
/// errors boxed as this type.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A builder was given a value that breaks one of its rules.
///
/// Returned by the `build()` methods: invalid configuration is rejected when it is built, not
/// when the first request arrives. The message names the field and the rule.
///
/// ```
/// use steadfast::retry::RetryPolicy;
/// let err = RetryPolicy::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_attempts");
/// assert_eq!(err.to_string(), "invalid retry configuration: `max_attempts` must be at least 1 (got 0)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    layer: &'static str,
    field: &'static str,
    rule: Cow<'static, str>,
}

impl ConfigError {
    /// A rejected setting: the `layer` it belongs to, the `field` and the `rule` it broke, in
    /// words, as the message shows them.
    ///
    /// For builders outside this crate (such as those in `steadfast-http`) that report their
    /// own settings in the same form.
    ///
    /// ```
    /// use steadfast::ConfigError;
    /// let err = ConfigError::new("server hints", "max", "must be greater than zero");
    /// assert_eq!(err.to_string(), "invalid server hints configuration: `max` must be greater than zero");
    /// ```
    pub fn new(
        layer: &'static str,
        field: &'static str,
        rule: impl Into<Cow<'static, str>>,
    ) -> Self {
        ConfigError {
            layer,
            field,
            rule: rule.into(),
        }
    }

    /// The layer whose configuration was rejected (`"retry"`, ...).
    pub fn layer(&self) -> &'static str {
        self.layer
    }

    /// The name of the offending setting.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rule it broke, in words.
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} configuration: `{}` {}",
            self.layer, self.field, self.rule
        )
    }
}

impl StdError for ConfigError {}

/// Errors that can be inspected as `dyn Error`, so classifiers can look for a type anywhere in
/// their `source()` chain: [`ErrorIs`](crate::classify::ErrorIs) here, and the HTTP and gRPC
/// classifiers of `steadfast-http`, which accept any error type that implements it.
///
/// Implemented for the boxed error types tower stacks use (`BoxError` and friends), for
/// common concrete errors (`std::io::Error`, tokio's and tower's timeout errors, `http::Error`
/// with the `http` feature, hyper's errors with the `hyper` feature, hyper-util's client error
/// with the `hyper-util` feature, tonic's transport error and `Status` with the `tonic`
/// feature; `steadfast-http` turns on the ones it uses), and for every error this crate
/// creates. For your own error type it is one line:
///
/// ```
/// # use std::error::Error;
/// # #[derive(Debug)] struct MyError;
/// # impl std::fmt::Display for MyError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("mine") } }
/// # impl Error for MyError {}
/// impl steadfast::classify::AsDynError for MyError {
///     fn as_dyn_error(&self) -> &(dyn Error + 'static) { self }
/// }
/// ```
///
/// (A blanket implementation for every `Error` type cannot coexist with the one for
/// `BoxError`, which is why the trait exists.)
pub trait AsDynError {
    /// The error as a trait object.
    fn as_dyn_error(&self) -> &(dyn StdError + 'static);
}

impl AsDynError for BoxError {
    fn as_dyn_error(&self) -> &(dyn StdError + 'static) {
        &**self
    }
}

impl AsDynError for Box<dyn StdError + Send + 'static> {
    fn as_dyn_error(&self) -> &(dyn StdError + 'static) {
        &**self
    }
}

impl AsDynError for Box<dyn StdError + 'static> {
    fn as_dyn_error(&self) -> &(dyn StdError + 'static) {
        &**self
    }
}

/// Implements [`AsDynError`] for concrete error types: `as_dyn_error!(Type, ...)`. The layers
/// use it for their own errors.
macro_rules! as_dyn_error {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::error::AsDynError for $t {
            fn as_dyn_error(&self) -> &(dyn ::std::error::Error + 'static) {
                self
            }
        }
    )*};
}
#[cfg(any(feature = "retry", feature = "circuit-breaker", feature = "cancel"))]
pub(crate) use as_dyn_error;

as_dyn_error!(
    std::io::Error,
    std::fmt::Error,
    ConfigError,
    tokio::time::error::Elapsed,
    tower::timeout::error::Elapsed,
);
#[cfg(feature = "http")]
as_dyn_error!(http::Error);
#[cfg(feature = "hyper")]
as_dyn_error!(hyper::Error);
#[cfg(feature = "hyper-util")]
as_dyn_error!(hyper_util::client::legacy::Error);
#[cfg(feature = "tonic")]
as_dyn_error!(tonic::transport::Error, tonic::Status);

/// Finds the first error of type `T` in `err` or its `source()` chain.
pub fn find_source<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    chain(err).find_map(|e| e.downcast_ref::<T>())
}

/// `err`, then its `source()`, and so on.
pub(crate) fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
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
/// use steadfast::classify::{is_invalid, AsDynError, Attempt, Outcome, classify_fn};
///
/// let classifier = classify_fn(|_: &Attempt<'_, ()>, r: Result<&String, &steadfast::BoxError>| match r {
///     Ok(_) => Outcome::Success,
///     Err(e) if is_invalid(e.as_dyn_error()) => Outcome::Invalid,
///     Err(_) => Outcome::NonRetryable,
/// });
/// # let _ = classifier;
/// ```
pub fn is_invalid(err: &(dyn StdError + 'static)) -> bool {
    Identity::InvalidResponse.in_chain(err)
}

/// `true` if `err` is, or is caused by, a request that validation rejected before it was
/// sent ([`validate::InvalidRequest`](crate::validate::InvalidRequest)). Always `false`
/// without the `validate` feature.
pub fn is_rejected_request(err: &(dyn StdError + 'static)) -> bool {
    Identity::RejectedRequest.in_chain(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that says it was caused by another.
    #[derive(Debug)]
    struct Caused(BoxError);
    impl fmt::Display for Caused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client failed")
        }
    }
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
        assert!(find_source::<ConfigError>(&Caused(Box::new(config.clone()))).is_some());
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
