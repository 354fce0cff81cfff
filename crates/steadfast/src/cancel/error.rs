//! The error the cancel layer returns.

use std::fmt;

use crate::token::CancelReason;

/// The request was cancelled before its service answered: its token fired (a timeout, a
/// deadline, a parent such as server shutdown, or whoever else holds the token).
#[derive(Clone, PartialEq, Eq)]
pub struct Cancelled {
    reason: CancelReason,
}

impl Cancelled {
    pub(crate) fn new(reason: CancelReason) -> Self {
        Cancelled { reason }
    }

    /// Why the request was cancelled.
    pub fn reason(&self) -> &CancelReason {
        &self.reason
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("reason", &self.reason)
            .finish()
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request cancelled: {}", self.reason)
    }
}

impl std::error::Error for Cancelled {}
crate::error::as_dyn_error!(Cancelled);
