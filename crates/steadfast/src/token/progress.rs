//! What work reports about itself while it runs: a [`Progress`], a message with structured
//! fields and, optionally, a value of your own type.
//!
//! ```
//! use steadfast::token::Progress;
//!
//! let p = Progress::new("page 3 of 10").field("done", 3).field("total", 10);
//! assert_eq!(p.message(), "page 3 of 10");
//! assert_eq!(p.get("total"), Some("10"));
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A progress report: a message, named fields, and optionally a value of any type.
///
/// Cheap to clone (the contents are shared). It dereferences to its message, so
/// `token.progress().as_deref()` reads as `Option<&str>`. Plain strings convert into one, so
/// `token.report_progress("3 of 10")` works as it reads.
///
/// ```
/// use steadfast::token::Progress;
///
/// #[derive(Debug, PartialEq)]
/// struct Pages { done: u32, total: u32 }
///
/// let p = Progress::new("exporting")
///     .field("user", "42")
///     .with_data(Pages { done: 3, total: 10 });
/// assert_eq!(&*p, "exporting");
/// assert_eq!(p.fields().collect::<Vec<_>>(), [("user", "42")]);
/// assert_eq!(p.data::<Pages>(), Some(&Pages { done: 3, total: 10 }));
/// assert_eq!(p.data::<u32>(), None);
/// ```
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    message: Arc<str>,
    fields: Vec<(Arc<str>, Arc<str>)>,
    data: Option<Box<dyn Any + Send + Sync>>,
}

impl Progress {
    /// A report saying `message`, with no fields.
    pub fn new(message: impl Into<Arc<str>>) -> Self {
        Progress {
            inner: Arc::new(Inner {
                message: message.into(),
                fields: Vec::new(),
                data: None,
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        if Arc::get_mut(&mut self.inner).is_none() {
            // Shared: copy what can be copied. A value of the user's type stays with the
            // other handles.
            self.inner = Arc::new(Inner {
                message: self.inner.message.clone(),
                fields: self.inner.fields.clone(),
                data: None,
            });
        }
        Arc::get_mut(&mut self.inner).unwrap_or_else(|| unreachable!("just made unique"))
    }

    /// Adds a field (`done` = `3`, say); the value is kept as text.
    pub fn field(mut self, key: impl Into<Arc<str>>, value: impl fmt::Display) -> Self {
        let value: Arc<str> = value.to_string().into();
        self.inner_mut().fields.push((key.into(), value));
        self
    }

    /// Attaches a value of your own type, read back with [`data`](Self::data).
    pub fn with_data<T: Any + Send + Sync>(mut self, data: T) -> Self {
        self.inner_mut().data = Some(Box::new(data));
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The fields, in the order they were added.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.inner.fields.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The value of the first field called `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The attached value, if there is one of type `T`.
    pub fn data<T: Any>(&self) -> Option<&T> {
        self.inner.data.as_ref().and_then(|d| d.downcast_ref())
    }
}

impl std::ops::Deref for Progress {
    type Target = str;
    fn deref(&self) -> &str {
        self.message()
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("message", &self.inner.message)
            .field("fields", &self.inner.fields)
            .field("data", &self.inner.data.is_some())
            .finish()
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl PartialEq<str> for Progress {
    fn eq(&self, other: &str) -> bool {
        self.message() == other
    }
}

impl From<&str> for Progress {
    fn from(message: &str) -> Self {
        Progress::new(message)
    }
}

impl From<String> for Progress {
    fn from(message: String) -> Self {
        Progress::new(message)
    }
}

impl From<Arc<str>> for Progress {
    fn from(message: Arc<str>) -> Self {
        Progress::new(message)
    }
}
