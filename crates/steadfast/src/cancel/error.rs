//! The error the cancel layer returns.

use std::fmt;

use crate::token::CancelReason;
use crate::trace::DecisionTrace;

/// The request was cancelled before its service answered: its token fired (a timeout, a
/// deadline, a parent such as server shutdown, or whoever else holds the token).
///
/// Two `Cancelled` errors are equal when their reasons are.
#[derive(Clone)]
pub struct Cancelled {
    reason: CancelReason,
    trace: Option<DecisionTrace>,
}

impl Cancelled {
    pub(crate) fn new(reason: CancelReason, trace: Option<DecisionTrace>) -> Self {
        Cancelled { reason, trace }
    }

    /// Why the request was cancelled.
    pub fn reason(&self) -> &CancelReason {
        &self.reason
    }

    /// The [decision trace](crate::trace) of the cancelled request, when it carried one. Its
    /// last entry from this layer is the cancellation and its reason.
    pub fn decision_trace(&self) -> Option<&DecisionTrace> {
        self.trace.as_ref()
    }
}

impl PartialEq for Cancelled {
    fn eq(&self, other: &Self) -> bool {
        self.reason == other.reason
    }
}

impl Eq for Cancelled {}

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
