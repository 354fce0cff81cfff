//! The error vocabulary at the bottom of the crate: what every layer returns and recognises.
//!
//! * [`BoxError`], the boxed error every layer that can fail returns, as tower's middleware
//!   does, and [`ConfigError`], what every builder returns for a setting that breaks a rule;
//! * [`AsDynError`], for error types that can be looked through as `dyn Error`, with
//!   [`find_source`] to search a `source()` chain;
//!
//! The public items are re-exported where users find them (`steadfast::BoxError`,
//! `steadfast::ConfigError`, `steadfast::classify::AsDynError`, ...). This module imports
//! nothing else of the crate: every other file may use it. Which of steadfast's own errors a
//! layer must recognise is decided above the layers, in `classify::refine`.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// The boxed error type tower middleware returns: every layer here that can fail returns its
/// errors boxed as this type. Find out what went wrong with `downcast_ref`, or with
/// [`find_source`](crate::classify::find_source) to look through wrapping errors too.
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
///
/// ```
/// use steadfast::classify::find_source;
///
/// #[derive(Debug)]
/// struct ClientFailed(std::io::Error);
/// impl std::fmt::Display for ClientFailed {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("client failed")
///     }
/// }
/// impl std::error::Error for ClientFailed {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
///
/// let err: steadfast::BoxError =
///     Box::new(ClientFailed(std::io::ErrorKind::ConnectionReset.into()));
/// let io = find_source::<std::io::Error>(&*err).unwrap();
/// assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
/// assert!(find_source::<std::fmt::Error>(&*err).is_none());
/// ```
pub fn find_source<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    chain(err).find_map(|e| e.downcast_ref::<T>())
}

/// `err`, then its `source()`, and so on.
pub(crate) fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
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

    #[test]
    fn find_source_looks_down_the_chain() {
        let config = ConfigError::new("retry", "max_attempts", "must be at least 1");
        assert!(find_source::<ConfigError>(&Caused(Box::new(config.clone()))).is_some());
        assert!(find_source::<std::io::Error>(&Caused(Box::new(config))).is_none());
    }
}
