//! A decision trace: for one request, what every layer it crossed decided, and why.
//!
//! Opt in per request by putting a [`DecisionTrace`] in it (for `http::Request`, in its
//! extensions; for a request type of your own, through
//! [`HasCancelToken::decision_trace`](crate::token::HasCancelToken::decision_trace)), or let a
//! layer sample 1 request in N. Each layer the request crosses then appends
//! [`Entry`]s: the classifier's verdict and the rule that gave it, the backoff chosen and how,
//! the budget's answer, the breaker's state and window at admission, the validator that
//! refused an answer, the reason a token was cancelled. Every entry is also a `tracing` event
//! (target `steadfast::trace`, level `DEBUG`).
//!
//! A trace is a shared handle: keep a clone and read it after the call, whatever the call
//! ended in. Steadfast's errors carry the trace of the request they end, too.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::classify::Outcome;
//! use steadfast::trace::{Decision, DecisionTrace};
//!
//! let trace = DecisionTrace::new();
//! trace.record("payments", Decision::Classified {
//!     attempt: 1,
//!     outcome: Outcome::retryable(),
//!     rule: Some("status 503".into()),
//! });
//! assert_eq!(trace.len(), 1);
//! assert!(trace.to_string().contains("payments: attempt 1: retryable failure (rule: status 503)"));
//! ```
//!
//! When no trace was ever made in the process (and no layer samples), layers do not look
//! for one: the cost is one relaxed atomic load per layer per request.

mod carry;
mod decision;
mod describe;
mod future;
mod layer;
#[cfg(feature = "serde")]
mod serialize;
mod service;

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

pub use carry::CarryTrace;
pub use decision::{Decision, DelaySource, Entry};
pub use future::ResponseFuture;
pub use layer::TraceLayer;
pub use service::Traced;

/// Set once the first trace is made; layers look for a request's trace only after.
static ARMED: AtomicBool = AtomicBool::new(false);

/// Whether any [`DecisionTrace`] was ever made in this process. Layers test it before
/// looking for a request's trace, so tracing costs nothing until someone asks for it.
#[inline]
pub fn armed() -> bool {
    ARMED.load(Ordering::Relaxed)
}

/// The number of entries a trace keeps unless told otherwise
/// ([`DecisionTrace::with_capacity`]).
pub const DEFAULT_CAPACITY: usize = 64;

struct Inner {
    started: Instant,
    capacity: usize,
    entries: Mutex<Vec<Entry>>,
    dropped: AtomicU32,
}

/// The decisions taken about one request, in order. A cheap handle (`Clone` shares it):
/// every layer appends to the same trace.
///
/// It keeps at most its capacity of entries (allocated once, when it is made); later ones
/// are counted in [`dropped`](Self::dropped) and not kept.
#[derive(Clone)]
pub struct DecisionTrace(Arc<Inner>);

impl DecisionTrace {
    /// A trace keeping up to [`DEFAULT_CAPACITY`] entries, its clock started now.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A trace keeping up to `capacity` entries (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        ARMED.store(true, Ordering::Relaxed);
        let capacity = capacity.max(1);
        DecisionTrace(Arc::new(Inner {
            started: Instant::now(),
            capacity,
            entries: Mutex::new(Vec::with_capacity(capacity)),
            dropped: AtomicU32::new(0),
        }))
    }

    /// Appends what `layer` decided, and emits it as a `tracing` event.
    pub fn record(&self, layer: impl Into<Cow<'static, str>>, decision: Decision) {
        let entry = Entry {
            at: self.0.started.elapsed(),
            layer: layer.into(),
            decision,
        };
        tracing::debug!(
            target: "steadfast::trace",
            layer = %entry.layer,
            decision = %entry.decision,
            "decision"
        );
        let mut entries = self.0.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() < self.0.capacity {
            entries.push(entry);
        } else {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// [`record`](Self::record), with the event emitted in `span` (a layer's own span, so that
    /// a subscriber sees the entry as an event of that span): the current span's, if `span`
    /// is disabled.
    #[cold]
    #[inline(never)]
    // The retry layer's: its entries are decided outside any poll of its span.
    #[cfg_attr(not(feature = "retry"), allow(dead_code))]
    pub(crate) fn record_in(
        &self,
        span: &tracing::Span,
        layer: impl Into<Cow<'static, str>>,
        decision: Decision,
    ) {
        span.in_scope(|| self.record(layer, decision));
    }

    /// The entries so far, in order.
    pub fn entries(&self) -> Vec<Entry> {
        self.0
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.0
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries were not kept because the trace was full.
    pub fn dropped(&self) -> u32 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// The most entries this trace keeps.
    pub fn capacity(&self) -> usize {
        self.0.capacity
    }

    /// Whether `self` and `other` are the same trace.
    pub fn same_as(&self, other: &DecisionTrace) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Default for DecisionTrace {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for DecisionTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionTrace")
            .field("entries", &self.entries())
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// The story: one line per entry (`+1.2ms payments: attempt 1: ...`), and a last line
/// counting entries not kept, if any.
impl fmt::Display for DecisionTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.0.entries.lock().unwrap_or_else(|e| e.into_inner());
        for (i, entry) in entries.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{entry}")?;
        }
        let dropped = self.dropped();
        if dropped > 0 {
            write!(f, "\n({dropped} more not kept)")?;
        }
        Ok(())
    }
}
