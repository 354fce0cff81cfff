//! What the validate layer tells you while it works.

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
