//! What the cancel layer tells you while it works.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::observe::CancelListener;
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
        /// Time from the call to the cancellation (zero for a request refused before it
        /// was sent: its token had already fired, or the layer's condition held).
        elapsed: Duration,
    },
    /// The response future was dropped before the answer and before any cancellation: the
    /// caller stopped waiting (a client that went away, a layer above that gave up on the
    /// request). A token the layer made is cancelled then, with
    /// [`ClientDisconnected`](crate::token::CancelReason::ClientDisconnected).
    Dropped {
        /// Time from the call to the drop.
        elapsed: Duration,
    },
}

/// The listeners of one cancel layer, and the time each watched request started.
pub(crate) struct Observed {
    listeners: Listeners,
    start: Instant,
}

/// The listeners of one cancel layer (`Debug` shows how many).
#[derive(Clone)]
pub(crate) struct Listeners(pub(crate) Arc<[CancelListener]>);

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} listeners", self.0.len())
    }
}

impl Listeners {
    pub(crate) fn emit(&self, event: &CancelEvent<'_>) {
        for l in self.0.iter() {
            l(event);
        }
    }

    /// Starts watching a request that is being sent now. Out of line: a layer without
    /// listeners only tests whether it has any.
    #[cold]
    #[inline(never)]
    pub(crate) fn watch(&self) -> Box<Observed> {
        Box::new(Observed {
            listeners: self.clone(),
            start: Instant::now(),
        })
    }

    /// A request refused before it was sent.
    #[cold]
    #[inline(never)]
    pub(crate) fn refused(&self, reason: &CancelReason) {
        self.emit(&CancelEvent::Cancelled {
            reason,
            elapsed: Duration::ZERO,
        });
    }
}

impl Observed {
    /// The request answered first: `ok` is whether with a response.
    #[cold]
    #[inline(never)]
    pub(crate) fn completed(self: Box<Self>, ok: bool) {
        let elapsed = self.start.elapsed();
        self.listeners.emit(&CancelEvent::Completed { elapsed, ok });
    }

    /// The request's token fired first.
    #[cold]
    #[inline(never)]
    pub(crate) fn cancelled(self: Box<Self>, reason: &CancelReason) {
        let elapsed = self.start.elapsed();
        self.listeners
            .emit(&CancelEvent::Cancelled { reason, elapsed });
    }

    /// The future was dropped before either.
    #[cold]
    #[inline(never)]
    pub(crate) fn dropped(self: Box<Self>) {
        let elapsed = self.start.elapsed();
        self.listeners.emit(&CancelEvent::Dropped { elapsed });
    }
}
