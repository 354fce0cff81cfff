//! Why a validator rejected a value.

use std::borrow::Cow;
use std::fmt;

/// Why a validator rejected a value: a short message, lowercase and without trailing
/// punctuation (`"not valid JSON"`, `"missing field \"answer\""`).
///
/// A reason made from a `&'static str` does not allocate; a formatted one holds its `String`.
///
/// ```
/// use steadfast::validate::Reason;
///
/// let fixed = Reason::from("empty body");
/// let formatted = Reason::new(format!("{} of 3 fields missing", 2));
/// assert_eq!(fixed.as_str(), "empty body");
/// assert_eq!(formatted.to_string(), "2 of 3 fields missing");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reason(Cow<'static, str>);

impl Reason {
    /// A reason with this message.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Reason(message.into())
    }

    /// The message.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for Reason {
    fn from(s: &'static str) -> Self {
        Reason(Cow::Borrowed(s))
    }
}

impl From<String> for Reason {
    fn from(s: String) -> Self {
        Reason(Cow::Owned(s))
    }
}

impl From<Cow<'static, str>> for Reason {
    fn from(s: Cow<'static, str>) -> Self {
        Reason(s)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
