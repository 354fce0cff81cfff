//! What the cancel layer tells you while it works.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::token::CancelReason;

/// Something the cancel layer did with one request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum CancelEvent<'a> {
    /// The request ended before its token fired, with the inner service's response or error.
    Completed {
        /// Time from the call until the finished response future was dropped: at once, for
        /// a caller that drops a future when it is done with it (the layer tells the
        /// listeners then, so that the answer is never held up for them).
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

/// The listeners of one cancel layer, the time a watched request was sent, and how it ended.
///
/// A request that answered first is told to the listeners when this is dropped, with the
/// response future (at once, for a caller that drops a future it has finished with): on the
/// answer, the future only records whether it was a response, since calling out there would
/// make it copy the answer. A request dropped before its end is told then as well, so the
/// response future needs no drop code of its own for either.
pub(crate) struct Observed {
    listeners: Listeners,
    start: Instant,
    end: End,
}

/// How far a watched request has got.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// Still running.
    Running,
    /// The inner service answered first (`true`: with a response); not told yet.
    Answered(bool),
    /// Told to the listeners.
    Told,
}

/// The listeners of one cancel layer (`Debug` shows how many).
#[derive(Clone)]
pub(crate) struct Listeners(pub(crate) Arc<[Listener]>);

/// One listener (the same type as [`CancelListener`](crate::observe::CancelListener), written out so
/// that this file does not depend on the module that names it).
pub(crate) type Listener = Arc<dyn Fn(&CancelEvent<'_>) + Send + Sync>;

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

    /// Watches a request sent at `start`.
    pub(crate) fn watch(&self, start: Instant) -> Observed {
        Observed {
            listeners: self.clone(),
            start,
            end: End::Running,
        }
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
    /// The inner service answered first (`ok`: with a response). Told when this is dropped.
    #[inline]
    pub(crate) fn answered(&mut self, ok: bool) {
        if self.end == End::Running {
            self.end = End::Answered(ok);
        }
    }

    /// The request's token fired first.
    #[cold]
    #[inline(never)]
    pub(crate) fn cancelled(&mut self, reason: &CancelReason) {
        if self.end == End::Running {
            self.end = End::Told;
            let elapsed = self.start.elapsed();
            self.listeners
                .emit(&CancelEvent::Cancelled { reason, elapsed });
        }
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        let elapsed = self.start.elapsed();
        match self.end {
            End::Running => self.listeners.emit(&CancelEvent::Dropped { elapsed }),
            End::Answered(ok) => self.listeners.emit(&CancelEvent::Completed { elapsed, ok }),
            End::Told => {}
        }
    }
}
