//! A registry of running operations: what is in flight, how old it is, what it last reported,
//! and a way to cancel it by id, by label, by name pattern, or all at once.
//!
//! The cancel layer registers each request when it is given a registry
//! ([`CancelLayerBuilder::operations`](crate::cancel::CancelLayerBuilder::operations)). A
//! request names itself with an [`Operation`] (in its extensions, for HTTP; otherwise it is
//! named after its method and path, or `"request"`). Handlers report progress through the
//! request's token ([`CancelToken::report_progress`]), from the token or any child of it.
//!
//! ```
//! use steadfast::cancel::operations::{Operation, Operations};
//! use steadfast::token::{CancelReason, CancelToken};
//!
//! let ops = Operations::new();
//! let token = CancelToken::new();
//! let tracked = ops.register(&token, Operation::new("export").label("user", "42"));
//! tracked.report_progress("3 of 10 pages");
//!
//! let running = ops.list();
//! assert_eq!(running[0].name(), "export");
//! assert_eq!(running[0].progress().as_deref(), Some("3 of 10 pages"));
//!
//! assert_eq!(ops.cancel_labelled("user", "42", CancelReason::manual("admin")), 1);
//! assert!(tracked.is_cancelled());
//! drop((token, tracked));
//! assert!(ops.is_empty(), "operations leave when their request is over");
//! ```
//!
//! # Invariants
//!
//! An entry lives exactly as long as the token registered for it (and that token's children,
//! which keep it alive): when the last of them is dropped the entry removes itself, so the
//! registry holds what is in flight and nothing more. The registry holds tokens weakly. One
//! `std` mutex guards the set; it is taken to register, to remove, to list and to cancel, never
//! by requests that are not tracked.
//!
//! The set gives memory back after a burst: once fewer than a quarter of its capacity is in
//! use, it shrinks to twice what is left.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::token::{Attachment, CancelReason, CancelToken, Progress, WeakToken};

pub use crate::token::Operation;

/// One running operation, as the registry keeps it.
struct Entry {
    id: u64,
    op: Operation,
    started: Instant,
    /// The latest progress, and whoever watches it.
    progress: watch::Sender<Option<Progress>>,
    registry: Weak<Inner>,
}

impl Entry {
    fn progress(&self) -> Option<Progress> {
        self.progress.borrow().clone()
    }

    fn info(&self, now: Instant) -> OperationInfo {
        OperationInfo {
            id: self.id,
            op: self.op.clone(),
            age: now.saturating_duration_since(self.started),
            progress: self.progress(),
        }
    }

    /// The registered token is gone: leave the registry, and give memory back once it is
    /// mostly empty.
    fn leave(&self) {
        if let Some(reg) = self.registry.upgrade() {
            let mut map = reg.map.lock().unwrap_or_else(|p| p.into_inner());
            map.remove(&self.id);
            // With hysteresis: after shrinking to twice what is left, half of that must leave
            // before the next shrink, so the rehashing is amortised over the removals.
            if map.capacity() > SHRINK_MIN && map.len() * 4 < map.capacity() {
                let keep = map.len() * 2;
                map.shrink_to(keep);
            }
        }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("op", &self.op)
            .finish_non_exhaustive()
    }
}

/// What a registered token carries: its entry, which leaves the registry when the last token
/// holding it is dropped.
struct Registration(Arc<Entry>);

impl Attachment for Registration {
    fn report(&self, progress: Progress) {
        self.0.progress.send_replace(Some(progress));
        let Some(registry) = self.0.registry.upgrade() else {
            return;
        };
        // Called outside the lock, so that a callback may use the registry.
        let callbacks: Vec<ProgressCallback> = registry
            .callbacks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if !callbacks.is_empty() {
            let info = self.0.info(Instant::now());
            for callback in callbacks {
                callback(&info);
            }
        }
    }

    fn progress(&self) -> Option<Progress> {
        self.0.progress()
    }

    fn watch(&self) -> Option<watch::Receiver<Option<Progress>>> {
        Some(self.0.progress.subscribe())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A registry whose map has room for more than this many operations shrinks when it is
/// mostly empty.
const SHRINK_MIN: usize = 64;

#[derive(Default)]
struct Inner {
    next: AtomicU64,
    map: Mutex<HashMap<u64, (Arc<Entry>, WeakToken)>>,
    callbacks: RwLock<Vec<ProgressCallback>>,
}

type ProgressCallback = Arc<dyn Fn(&OperationInfo) + Send + Sync>;

/// The registry of running operations. Cheap to clone; clones share the set.
#[derive(Clone, Default)]
pub struct Operations {
    inner: Arc<Inner>,
}

impl fmt::Debug for Operations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operations")
            .field("running", &self.len())
            .finish()
    }
}

/// One running operation, as listed.
#[derive(Debug, Clone)]
pub struct OperationInfo {
    id: u64,
    op: Operation,
    age: Duration,
    progress: Option<Progress>,
}

impl OperationInfo {
    /// Its id in the registry (for [`Operations::cancel`]).
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Its name.
    pub fn name(&self) -> &str {
        self.op.name()
    }
    /// Its labels.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.op.labels()
    }
    /// How long it has been running.
    pub fn age(&self) -> Duration {
        self.age
    }
    /// The last progress it reported (for a callback given to
    /// [`Operations::on_progress`], the report that called it).
    pub fn progress(&self) -> Option<Progress> {
        self.progress.clone()
    }
}

impl Operations {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide registry, for operations that any part of the program may list or
    /// cancel (as the circuit breakers' `Registry::global`). Registries made with
    /// [`new`](Self::new) are separate from it.
    ///
    /// ```
    /// use steadfast::cancel::operations::{Operation, Operations};
    /// use steadfast::token::{CancelReason, CancelToken};
    ///
    /// let job = Operations::global().register(&CancelToken::new(), Operation::new("user_7_job"));
    /// assert_eq!(Operations::global().cancel_named("user_7_*", CancelReason::Shutdown), 1);
    /// assert!(job.is_cancelled());
    /// ```
    pub fn global() -> &'static Operations {
        static GLOBAL: std::sync::OnceLock<Operations> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(Operations::new)
    }

    /// Registers `token` as `op`; returns the token to hand to the work (a child of `token`
    /// that carries the registration). The entry leaves when that token and all its clones and
    /// children are dropped.
    pub fn register(&self, token: &CancelToken, op: Operation) -> CancelToken {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            id,
            op,
            started: Instant::now(),
            progress: watch::Sender::new(None),
            registry: Arc::downgrade(&self.inner),
        });
        let tracked = token.child_attached(Arc::new(Registration(entry.clone())));
        self.inner
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, (entry, tracked.downgrade()));
        tracked
    }

    /// Calls `callback` with each progress report of every operation in this registry, from
    /// the thread that reports it, until the registry is dropped. As `on_progress` in
    /// Python's `cancelable`; for one operation, [`CancelToken::watch_progress`] gives a
    /// channel instead.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use steadfast::cancel::operations::{Operation, Operations};
    /// use steadfast::token::{CancelToken, Progress};
    ///
    /// let ops = Operations::new();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// ops.on_progress({
    ///     let seen = seen.clone();
    ///     move |op| {
    ///         let p = op.progress().unwrap();
    ///         seen.lock().unwrap().push(format!("{}: {} ({:?})", op.name(), &*p, p.get("item")));
    ///     }
    /// });
    /// let token = ops.register(&CancelToken::new(), Operation::new("import"));
    /// token.report_progress(Progress::new("processing").field("item", "a.csv"));
    /// assert_eq!(*seen.lock().unwrap(), ["import: processing (Some(\"a.csv\"))"]);
    /// ```
    pub fn on_progress(&self, callback: impl Fn(&OperationInfo) + Send + Sync + 'static) {
        self.inner
            .callbacks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(callback));
    }

    /// What is running now, oldest first (in the order they arrived when as old).
    pub fn list(&self) -> Vec<OperationInfo> {
        let now = Instant::now();
        let map = self.inner.map.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<OperationInfo> = map.values().map(|(e, _)| e.info(now)).collect();
        all.sort_by_key(|i| (std::cmp::Reverse(i.age), i.id));
        all
    }

    /// How many operations are running.
    pub fn len(&self) -> usize {
        self.inner
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// How many operations the set has room for without growing.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.inner
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .capacity()
    }

    /// `true` when nothing is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels the operations for which `select` is true; returns how many it cancelled.
    pub fn cancel_where(
        &self,
        select: impl Fn(&OperationInfo) -> bool,
        reason: CancelReason,
    ) -> usize {
        let now = Instant::now();
        let targets: Vec<CancelToken> = {
            let map = self.inner.map.lock().unwrap_or_else(|p| p.into_inner());
            map.values()
                .filter(|(e, _)| {
                    select(&OperationInfo {
                        id: e.id,
                        op: e.op.clone(),
                        age: now.saturating_duration_since(e.started),
                        progress: None,
                    })
                })
                .filter_map(|(_, t)| t.upgrade())
                .collect()
        };
        // Cancel outside the lock: cancelling may drop tokens, which removes entries.
        targets
            .iter()
            .filter(|t| t.cancel_with(reason.clone()))
            .count()
    }

    /// Cancels the operation `id`; `true` if it was running and this cancelled it.
    pub fn cancel(&self, id: u64, reason: CancelReason) -> bool {
        self.cancel_where(|op| op.id == id, reason) == 1
    }

    /// Cancels every operation with the label `key` = `value`.
    pub fn cancel_labelled(&self, key: &str, value: &str, reason: CancelReason) -> usize {
        self.cancel_where(
            |op| op.labels().any(|(k, v)| k == key && v == value),
            reason,
        )
    }

    /// Cancels every operation whose name matches `pattern`, where `*` matches any run of
    /// characters (`"export *"`, `"GET /reports/*"`).
    pub fn cancel_named(&self, pattern: &str, reason: CancelReason) -> usize {
        self.cancel_where(|op| glob(pattern, op.name()), reason)
    }

    /// Cancels everything running.
    pub fn cancel_all(&self, reason: CancelReason) -> usize {
        self.cancel_where(|_| true, reason)
    }
}

/// `*`-only glob matching.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_gives_memory_back_after_a_burst() {
        let ops = Operations::new();
        let root = CancelToken::new();
        let staying: Vec<_> = (0..3)
            .map(|i| ops.register(&root, Operation::new(format!("long {i}"))))
            .collect();
        let burst: Vec<_> = (0..20_000)
            .map(|_| ops.register(&root, Operation::new("burst")))
            .collect();
        assert!(ops.capacity() >= 20_000);
        drop(burst);
        assert_eq!(ops.len(), 3);
        assert!(ops.capacity() <= SHRINK_MIN, "room for {}", ops.capacity());
        assert_eq!(ops.cancel_named("long *", CancelReason::Shutdown), 3);
        drop(staying);
        assert!(ops.is_empty());
    }

    #[test]
    fn globs() {
        assert!(glob("export *", "export users"));
        assert!(glob("GET /reports/*", "GET /reports/2026/q3"));
        assert!(glob("*", "anything"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(!glob("ab*ba", "aba"));
    }
}
