//! Conditions as a cancellation source: a `watch` channel, or a closure polled at an interval.
//!
//! A condition belongs to the layer: while it holds, every request in flight is cancelled with
//! [`CancelReason::Condition`] (with the condition's name) and new ones are refused; once it stops holding, requests go
//! through again. The layer keeps a "condition token" that all its requests descend from; when
//! the condition becomes true that token is cancelled, and when it becomes false again a fresh
//! one takes its place.
//!
//! # Invariants
//!
//! One task per layer watches the condition (started on the layer's first call, on that call's
//! runtime); it holds only a weak reference to the condition, which the layer's services and
//! every request in flight hold strongly, so it ends once all of them are gone. The current
//! token is read under a `std` read lock, once per request.

use std::fmt;
use std::sync::{Arc, Mutex, Once, RwLock, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::token::{CancelReason, CancelToken};

type Check = Arc<dyn Fn() -> bool + Send + Sync>;

enum Kind {
    Watch(Mutex<Option<watch::Receiver<bool>>>),
    Poll(Duration, Check),
}

pub(crate) struct Condition {
    kind: Kind,
    /// The condition's name, carried by the reason it cancels with.
    name: Option<Arc<str>>,
    /// What fresh condition tokens descend from (the layer's parent), if anything.
    base: Option<CancelToken>,
    current: RwLock<CancelToken>,
    started: Once,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Watch(_) => "watch",
            Kind::Poll(..) => "poll",
        };
        f.debug_struct("Condition")
            .field("kind", &kind)
            .field("current", &self.token())
            .finish()
    }
}

impl Condition {
    pub(crate) fn watch(
        rx: watch::Receiver<bool>,
        name: Option<Arc<str>>,
        base: Option<CancelToken>,
    ) -> Self {
        Self::new(Kind::Watch(Mutex::new(Some(rx))), name, base)
    }

    pub(crate) fn poll(
        every: Duration,
        check: Check,
        name: Option<Arc<str>>,
        base: Option<CancelToken>,
    ) -> Self {
        Self::new(Kind::Poll(every, check), name, base)
    }

    fn new(kind: Kind, name: Option<Arc<str>>, base: Option<CancelToken>) -> Self {
        let current = fresh(&base);
        Condition {
            kind,
            name,
            base,
            current: RwLock::new(current),
            started: Once::new(),
        }
    }

    /// The token requests descend from now.
    /// How often the condition is checked (`None` for a watched one) and its name, for the
    /// layer's description.
    pub(crate) fn polled_every(&self) -> (Option<Duration>, Option<&str>) {
        let every = match &self.kind {
            Kind::Watch(_) => None,
            Kind::Poll(every, _) => Some(*every),
        };
        (every, self.name.as_deref())
    }

    pub(crate) fn token(&self) -> CancelToken {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Why the current token fired (the condition holds, or the parent fired), if it did;
    /// reads it in place, without a handle on the token.
    pub(crate) fn reason(&self) -> Option<CancelReason> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .reason()
    }

    /// Applies the condition's value: true cancels the current token, false after true
    /// replaces it with a fresh one.
    fn apply(&self, holds: bool) {
        if holds {
            self.token()
                .cancel_with(CancelReason::Condition(self.name.clone()));
        } else {
            let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
            if matches!(cur.reason(), Some(CancelReason::Condition(_))) {
                *cur = fresh(&self.base);
            }
        }
    }

    /// Starts the watching task once, if there is a runtime to start it on.
    pub(crate) fn start(self: &Arc<Self>) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.started.call_once(|| {
            let weak = Arc::downgrade(self);
            match &self.kind {
                Kind::Watch(rx) => {
                    let rx = rx.lock().unwrap_or_else(|p| p.into_inner()).take();
                    if let Some(rx) = rx {
                        tokio::spawn(watch_task(weak, rx));
                    }
                }
                Kind::Poll(every, check) => {
                    tokio::spawn(poll_task(weak, *every, check.clone()));
                }
            }
        });
    }
}

fn fresh(base: &Option<CancelToken>) -> CancelToken {
    match base {
        Some(b) => b.child(),
        None => CancelToken::new(),
    }
}

async fn watch_task(cond: Weak<Condition>, mut rx: watch::Receiver<bool>) {
    loop {
        let holds = *rx.borrow_and_update();
        match cond.upgrade() {
            Some(c) => c.apply(holds),
            None => return,
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn poll_task(cond: Weak<Condition>, every: Duration, check: Check) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match cond.upgrade() {
            Some(c) => c.apply(check()),
            None => return,
        }
    }
}
