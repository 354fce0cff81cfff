//! Tokens that fire by themselves, usable without any layer: after a timeout, at a deadline,
//! when a condition holds, or when any of several tokens fires.
//!
//! Each is a child of an existing token (or of a fresh root) that carries a small watcher: a
//! tokio task that sleeps, watches or polls, and cancels the token through a weak reference.
//! The watcher is stopped when the token and all its children are dropped. Ordinary tokens
//! have no watcher and pay nothing for this.
//!
//! # Invariants
//!
//! The watcher task never keeps the token alive: it holds a weak reference and upgrades it
//! only to cancel. The token holds the task's abort handle, so dropping the last handle on the
//! token (or on its children) ends the task.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::config::ConfigError;
use crate::token::{Attachment, CancelReason, CancelToken, Progress, WeakToken};

/// Why a token that fires by itself could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError {
    /// No tokio runtime is running on this thread: the token's timer or watcher needs one
    /// (with its time driver enabled, as `#[tokio::main]` and `#[tokio::test]` do).
    NoRuntime,
    /// A setting breaks a rule (a zero timeout, a polling interval under 1 ms).
    Config(ConfigError),
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::NoRuntime => {
                f.write_str("a token that fires by itself needs a running tokio runtime")
            }
            ScopeError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ScopeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScopeError::Config(e) => Some(e),
            ScopeError::NoRuntime => None,
        }
    }
}
crate::error::as_dyn_error!(ScopeError);

/// What a token that fires by itself carries: the handle that stops its task, and what its
/// parent carried (progress reported on it still reaches the parent's operation).
struct Watcher {
    task: OnceLock<AbortHandle>,
    inner: Option<Arc<dyn Attachment>>,
}

impl Attachment for Watcher {
    fn report(&self, progress: Progress) {
        if let Some(inner) = &self.inner {
            inner.report(progress);
        }
    }

    fn progress(&self) -> Option<Progress> {
        self.inner.as_ref().and_then(|i| i.progress())
    }

    fn watch(&self) -> Option<watch::Receiver<Option<Progress>>> {
        self.inner.as_ref().and_then(|i| i.watch())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// A child of `parent` (with `deadline`, if earlier than the parent's) watched by the task
/// `task` makes from a weak handle on it.
fn watched<F, Fut>(
    parent: &CancelToken,
    deadline: Option<Instant>,
    task: F,
) -> Result<CancelToken, ScopeError>
where
    F: FnOnce(WeakToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| ScopeError::NoRuntime)?;
    let watcher = Arc::new(Watcher {
        task: OnceLock::new(),
        inner: parent.attached().cloned(),
    });
    let token = parent.child_attached_until(watcher.clone(), deadline);
    if !token.is_cancelled() {
        let abort = runtime.spawn(task(token.downgrade())).abort_handle();
        let _ = watcher.task.set(abort);
    }
    Ok(token)
}

fn fire(token: &WeakToken, reason: CancelReason) {
    if let Some(token) = token.upgrade() {
        token.cancel_with(reason);
    }
}

impl CancelToken {
    /// A child that fires by itself `timeout` from now, with
    /// [`CancelReason::Timeout`]; it carries that deadline too (so a retry layer or
    /// `RetryPolicy::run_cancellable` will not start what cannot finish in time). It is
    /// cancelled with this token as any child is. Unlike
    /// [`child_with_deadline`](Self::child_with_deadline), which only carries a deadline, this
    /// one owns a timer.
    ///
    /// Needs a tokio runtime with its time driver (feature `cancel`); outside one it returns
    /// [`ScopeError::NoRuntime`]. A zero timeout is refused; one too long to add to the clock
    /// never runs out (the child has no timer). Like tenacity's `stop_after_delay` applied
    /// from outside, or `Cancelable.with_timeout` in Python's `cancelable`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::token::{CancelReason, CancelToken};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let token = CancelToken::new().child_timeout(Duration::from_secs(60)).unwrap();
    /// let err = token.run(std::future::pending::<()>()).await.unwrap_err();
    /// assert_eq!(err.reason(), &CancelReason::Timeout(Duration::from_secs(60)));
    /// # }
    /// ```
    pub fn child_timeout(&self, timeout: Duration) -> Result<CancelToken, ScopeError> {
        if timeout.is_zero() {
            return Err(ScopeError::Config(ConfigError::new(
                "cancel",
                "child_timeout.timeout",
                "must be greater than zero",
            )));
        }
        let Some(at) = Instant::now().checked_add(timeout) else {
            return Ok(self.child());
        };
        watched(self, Some(at), move |weak| async move {
            tokio::time::sleep_until(at).await;
            fire(&weak, CancelReason::Timeout(timeout));
        })
    }

    /// A child that fires by itself at `deadline`, with [`CancelReason::Deadline`] (at once if
    /// it has passed); it carries the deadline too. See
    /// [`child_timeout`](Self::child_timeout) for the runtime it needs.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::token::{CancelReason, CancelToken};
    /// use tokio::time::Instant;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let at = Instant::now() + Duration::from_secs(5);
    /// let token = CancelToken::new().child_deadline(at).unwrap();
    /// assert_eq!(token.deadline(), Some(at));
    /// token.cancelled().await;
    /// assert_eq!(token.reason(), Some(CancelReason::Deadline));
    /// # }
    /// ```
    pub fn child_deadline(&self, deadline: Instant) -> Result<CancelToken, ScopeError> {
        watched(self, Some(deadline), move |weak| async move {
            tokio::time::sleep_until(deadline).await;
            fire(&weak, CancelReason::Deadline);
        })
    }

    /// A child that fires, with `CancelReason::Condition(Some(name))`, as soon as `rx` holds
    /// `true` (at once if it already does). Event-driven: the watcher waits for changes. A
    /// sender dropped while `false` never fires it. See [`child_timeout`](Self::child_timeout)
    /// for the runtime it needs.
    ///
    /// ```
    /// use steadfast::token::{CancelReason, CancelToken};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (breaker_open, rx) = tokio::sync::watch::channel(false);
    /// let token = CancelToken::new().child_when("circuit_open", rx).unwrap();
    /// breaker_open.send_replace(true);
    /// token.cancelled().await;
    /// assert_eq!(token.reason(), Some(CancelReason::condition("circuit_open")));
    /// # }
    /// ```
    pub fn child_when(
        &self,
        name: impl Into<Arc<str>>,
        mut rx: watch::Receiver<bool>,
    ) -> Result<CancelToken, ScopeError> {
        let reason = CancelReason::condition(name);
        watched(self, None, move |weak| async move {
            loop {
                if *rx.borrow_and_update() {
                    return fire(&weak, reason);
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
    }

    /// A child that fires, with `CancelReason::Condition(Some(name))`, once `check` returns
    /// `true`; `check` is called every `every` (at least 1 ms), first at once. As
    /// `Cancelable.with_condition(check, check_interval, condition_name)` in Python's
    /// `cancelable`. See [`child_timeout`](Self::child_timeout) for the runtime it needs.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use steadfast::token::{CancelReason, CancelToken};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let disk_full = Arc::new(AtomicBool::new(false));
    /// let token = CancelToken::new()
    ///     .child_if("disk_full", Duration::from_millis(500), {
    ///         let disk_full = disk_full.clone();
    ///         move || disk_full.load(Ordering::Relaxed)
    ///     })
    ///     .unwrap();
    /// disk_full.store(true, Ordering::Relaxed);
    /// let err = token.run(std::future::pending::<()>()).await.unwrap_err();
    /// assert_eq!(err.to_string(), "work interrupted: cancel condition met: disk_full");
    /// # }
    /// ```
    pub fn child_if(
        &self,
        name: impl Into<Arc<str>>,
        every: Duration,
        check: impl Fn() -> bool + Send + 'static,
    ) -> Result<CancelToken, ScopeError> {
        if every < Duration::from_millis(1) {
            return Err(ScopeError::Config(ConfigError::new(
                "cancel",
                "child_if.every",
                format!("must be at least 1ms (got {every:?})"),
            )));
        }
        let reason = CancelReason::condition(name);
        watched(self, None, move |weak| async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if check() {
                    return fire(&weak, reason);
                }
            }
        })
    }

    /// A new token that fires when any of `tokens` does, with the reason of the first to fire
    /// (at once, with the first reason found, if one already has). It carries the earliest of
    /// their deadlines. Cancelling it does not cancel them. As `Cancelable.combine` in Python's
    /// `cancelable`.
    ///
    /// A source that fires reaches the joined token when the runtime runs its watcher, not
    /// within the `cancel` call: wait on it (`cancelled()`, [`run`](Self::run)) rather than
    /// checking `is_cancelled` right after cancelling a source. Sources that all fired before
    /// the watcher ran are taken in the order given. See
    /// [`child_timeout`](Self::child_timeout) for the runtime it needs.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::token::{CancelReason, CancelToken};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let user = CancelToken::new();
    /// let shutdown = CancelToken::new();
    /// let overall = CancelToken::new().child_timeout(Duration::from_secs(60)).unwrap();
    /// let token = CancelToken::any([user.clone(), shutdown, overall]).unwrap();
    ///
    /// user.cancel_with(CancelReason::manual("user logged out"));
    /// token.cancelled().await;
    /// assert_eq!(token.reason(), Some(CancelReason::manual("user logged out")));
    /// # }
    /// ```
    pub fn any(tokens: impl IntoIterator<Item = CancelToken>) -> Result<CancelToken, ScopeError> {
        let tokens: Vec<CancelToken> = tokens.into_iter().collect();
        let root = CancelToken::new();
        if let Some(reason) = tokens.iter().find_map(CancelToken::reason) {
            root.cancel_with(reason);
            return Ok(root);
        }
        let deadline = tokens.iter().filter_map(CancelToken::deadline).min();
        if tokens.is_empty() {
            return Ok(root);
        }
        watched(&root, deadline, move |weak| async move {
            let mut waits: Vec<_> = tokens.iter().map(CancelToken::cancelled).collect();
            let reason = poll_fn(|cx| {
                for w in &mut waits {
                    if Pin::new(&mut *w).poll(cx).is_ready() {
                        return Poll::Ready(w.token().reason());
                    }
                }
                Poll::Pending
            })
            .await;
            if let Some(reason) = reason {
                fire(&weak, reason);
            }
        })
    }
}
