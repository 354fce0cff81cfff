//! What the cancel layer tells you while it works.

use std::time::Duration;

use crate::token::CancelReason;

/// Something the cancel layer did with one request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum CancelEvent<'a> {
    /// The request ended before its token fired, with the inner service's response or error.
    Completed {
        /// Time from the call to the end.
        elapsed: Duration,
        /// `true` if the inner service answered with a response, `false` with an error.
        ok: bool,
    },
    /// The request's token fired first: it ended with [`Cancelled`](super::Cancelled).
    Cancelled {
        /// Why the token fired.
        reason: &'a CancelReason,
        /// Time from the call to the cancellation.
        elapsed: Duration,
    },
}
