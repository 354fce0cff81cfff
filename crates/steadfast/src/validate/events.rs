//! What the validate layer tells you while it works.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Reason;

/// Something the validate layer decided about one request or its answer.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum ValidateEvent<'a> {
    /// A request failed its validators and was not sent.
    RequestInvalid {
        /// Why, one reason per validator that refused it.
        reasons: &'a [Reason],
    },
    /// A response failed its validators: the layer answers with
    /// [`InvalidResponse`](super::InvalidResponse).
    ResponseInvalid {
        /// Why, one reason per validator that refused it.
        reasons: &'a [Reason],
        /// Time from the call to the response.
        elapsed: Duration,
    },
    /// A response passed every validator.
    ResponseValid {
        /// Time from the call to the response.
        elapsed: Duration,
    },
}

/// The listeners of one validate layer (`Debug` shows how many).
#[derive(Clone)]
pub(crate) struct Listeners(pub(crate) Arc<[Listener]>);

/// One listener (the same type as [`ValidateListener`](crate::observe::ValidateListener), written out so
/// that this file does not depend on the module that names it).
pub(crate) type Listener = Arc<dyn Fn(&ValidateEvent<'_>) + Send + Sync>;

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} listeners", self.0.len())
    }
}

impl Listeners {
    /// Tells every listener. Out of line: a layer without listeners only tests whether it
    /// has any.
    #[cold]
    #[inline(never)]
    pub(crate) fn emit(&self, event: &ValidateEvent<'_>) {
        for l in self.0.iter() {
            l(event);
        }
    }
}
