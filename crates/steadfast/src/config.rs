//! Configuration errors shared by every layer's builder.

use std::borrow::Cow;
use std::fmt;

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

impl std::error::Error for ConfigError {}
