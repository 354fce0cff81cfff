//! What a request calls itself in the registry of running operations: an [`Operation`], a
//! name with labels. Requests carry one (see
//! [`HasCancelToken::operation`](super::HasCancelToken::operation)) whether or not the registry
//! itself is compiled in.
//!
//! ```
//! use steadfast::token::Operation;
//!
//! let op = Operation::new("export").label("user", "42");
//! assert_eq!(op.name(), "export");
//! assert_eq!(op.labels().collect::<Vec<_>>(), [("user", "42")]);
//! ```

use std::sync::Arc;

/// What a request calls itself in the registry of running operations: a name and labels.
///
/// ```
/// use steadfast::token::Operation;
///
/// let op = Operation::new("GET /reports").label("tenant", "acme");
/// assert_eq!(op.name(), "GET /reports");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    name: Arc<str>,
    labels: Vec<(Arc<str>, Arc<str>)>,
}

impl Operation {
    /// An operation called `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Operation {
            name: name.into(),
            labels: Vec::new(),
        }
    }

    /// Adds a label (`user` = `42`, say).
    pub fn label(mut self, key: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        self.labels.push((key.into(), value.into()));
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its labels, in the order they were added.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.labels.iter().map(|(k, v)| (&**k, &**v))
    }
}
