//! What the cancel layer does with each request: the layer's settings, and the token plan
//! made from them when a request arrives (its token, its deadline and the reason that deadline
//! gives, what else to watch), or the deferred form of that plan for a request nothing else
//! could see the token of.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::token::{CancelReason, CancelToken, HasCancelToken};

#[derive(Debug, Default)]
pub(crate) struct Config {
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    /// The token every request descends from: the parent, the process's signal token, or a
    /// child of the parent that the signal token also cancels.
    pub(crate) parent: Option<CancelToken>,
    /// With both a parent and signals: the signal token, forwarded into `parent` by a task
    /// started on the first call.
    pub(crate) forward_signals: Option<(CancelToken, std::sync::Once)>,
    /// Makes requests drain (no new work) when it fires; see `Shutdown`.
    pub(crate) drain: Option<CancelToken>,
    /// Where requests are registered as running operations.
    pub(crate) operations: Option<super::operations::Operations>,
    /// A condition that cancels the layer's requests while it holds.
    pub(crate) condition: Option<Arc<super::condition::Condition>>,
    /// The listeners to the layer's events; `None` when there are none.
    pub(crate) listeners: Option<super::events::Listeners>,
    /// The name given to the builder, if any (for the layer's description).
    pub(crate) name: Option<std::borrow::Cow<'static, str>>,
    /// [`sources`](Self::sources), worked out once when the layer is built.
    pub(crate) has_sources: bool,
    /// Whether the layer has background tasks to start (a condition, signals forwarded to a
    /// parent), worked out once when the layer is built.
    pub(crate) has_background: bool,
}

impl Config {
    /// Starts the layer's background tasks (condition watching, signal forwarding), once
    /// each, on the current runtime.
    #[inline(always)]
    pub(crate) fn start_background(&self) {
        if self.has_background {
            self.start_background_now();
        }
    }

    #[cold]
    #[inline(never)]
    fn start_background_now(&self) {
        if let Some(c) = &self.condition {
            c.start();
        }
        if let (Some((signals, once)), Some(parent)) = (&self.forward_signals, &self.parent) {
            if tokio::runtime::Handle::try_current().is_ok() {
                once.call_once(|| {
                    let (signals, parent) = (signals.clone(), parent.clone());
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = signals.cancelled() => {
                                if let Some(r) = signals.reason() {
                                    parent.cancel_with(r);
                                }
                            }
                            _ = parent.cancelled() => {}
                        }
                    });
                });
            }
        }
    }

    /// Works out the flags the hot path reads: call it once the settings are final.
    pub(crate) fn settle(&mut self) {
        self.has_sources = self.sources();
        self.has_background = self.condition.is_some() || self.forward_signals.is_some();
    }

    /// `true` when the layer adds a source of its own, so a request's token must be a child.
    fn sources(&self) -> bool {
        self.timeout.is_some()
            || self.deadline.is_some()
            || self.parent.is_some()
            || self.condition.is_some()
            || self.drain.is_some()
            || self.operations.is_some()
    }
}

/// What a response future needs besides the inner future.
#[derive(Debug)]
pub(crate) struct Parts {
    pub(crate) token: CancelToken,
    pub(crate) limit: Option<(Instant, CancelReason)>,
    pub(crate) parent: Option<CancelToken>,
    /// Whether the layer made the token and others may hold it (so the future cancels it when
    /// nobody waits any more).
    pub(crate) owned: bool,
    /// Keeps the layer's condition watched while this request is in flight, even if every
    /// service of the layer is dropped meanwhile.
    pub(crate) condition: Option<Arc<super::condition::Condition>>,
}

/// What [`prepare`] decides for a request: to send it with a plan, or to refuse it because
/// its token has already fired (`Err`, with the reason).
pub(crate) type Prepared = Result<Plan, CancelReason>;

/// How a request that is sent is watched.
pub(crate) enum Plan {
    Ready(Parts),
    /// Nothing but the response future can ever see this request's token: it is made (with
    /// its deadline and timer) on the future's first poll that finds the answer not ready.
    Deferred(Deferred),
}

/// What a deferred request's token is made from, when it is needed.
#[derive(Debug)]
pub(crate) struct Deferred {
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    /// The layer's settings, kept only when the token has something of the layer's to descend
    /// from (a parent, a condition, a drain): holding them also keeps a condition watched
    /// while the request is in flight.
    sources: Option<Arc<Config>>,
}

impl Deferred {
    /// Makes the token now, as `prepare` would have made it at the call, with the timeout
    /// counted from now; `None` when nothing could ever cancel it (no timeout, deadline or
    /// ancestor), so that there is nothing to race.
    pub(crate) fn start(self) -> Option<Parts> {
        let limit = layer_limit(self.timeout, self.deadline);
        let deadline = limit.as_ref().map(|(at, _)| *at);
        let (token, condition) = match self.sources {
            None if limit.is_none() => return None,
            None => (CancelToken::derive(None, deadline, None), None),
            Some(cfg) => {
                let token = match &cfg.condition {
                    Some(c) => CancelToken::derive(Some(&c.token()), deadline, cfg.drain.as_ref()),
                    None => CancelToken::derive(cfg.parent.as_ref(), deadline, cfg.drain.as_ref()),
                };
                (token, cfg.condition.clone())
            }
        };
        Some(Parts {
            token,
            limit,
            parent: None,
            // Nobody else holds the token, so there is nobody to tell when the future is
            // dropped.
            owned: false,
            condition,
        })
    }
}

/// The earlier of the layer's `deadline` and its `timeout` counted from now, and the reason
/// it would give. Reads the clock only for a timeout. A timeout too long to add to the clock
/// (`Duration::MAX`, say) never runs out, so it sets no limit.
fn layer_limit(
    timeout: Option<Duration>,
    deadline: Option<Instant>,
) -> Option<(Instant, CancelReason)> {
    let timeout =
        timeout.and_then(|d| Some((Instant::now().checked_add(d)?, CancelReason::Timeout(d))));
    match (deadline, timeout) {
        (Some(d), Some((t, r))) if t < d => Some((t, r)),
        (Some(d), _) => Some((d, CancelReason::Deadline)),
        (None, t) => t,
    }
}

/// Gives `req` its token, following the layer's settings.
///
/// A request that cannot carry a token, arrives without one, and is not to be registered as
/// an operation would have a token nobody but the response future could see: its token, its
/// deadline (and the clock read a timeout needs) are deferred until the answer turns out not
/// to be ready at once (see [`Deferred`]). It is still refused here if the layer's parent,
/// condition or drain has already fired.
#[inline]
pub(crate) fn prepare<Req: HasCancelToken>(cfg: &Arc<Config>, req: &mut Req) -> Prepared {
    cfg.start_background();
    let carries = req.can_carry_cancel_token();
    if carries && cfg.operations.is_none() {
        if let Some(slot) = req.cancel_token_mut() {
            // One lookup: the caller's token is read, and replaced, where it is.
            let plan = plan(cfg, true, slot.as_deref(), || None);
            if let Ok(Plan::Ready(parts)) = &plan {
                if parts.owned {
                    let handle = parts.token.clone();
                    match slot {
                        Some(caller) => *caller = handle,
                        None => {
                            let _ = req.add_cancel_token(handle);
                        }
                    }
                }
            }
            return plan;
        }
    }
    // Looked up once: in an `http::Request` each lookup searches the extensions map.
    let caller = req.cancel_token();
    let plan = plan(cfg, carries, caller, || req.operation());
    if carries {
        if let Ok(Plan::Ready(parts)) = &plan {
            if parts.owned {
                // The request holds one handle and the future the other. A request that
                // turns the token down after all hands its handle back, and it is dropped.
                let _ = req.set_cancel_token(parts.token.clone());
            }
        }
    }
    plan
}

/// What [`prepare`] gives a request that `carries` a token (or not) and arrives with
/// `caller`'s; `operation` names it in the registry of operations. The token the plan holds,
/// when the layer made it (`owned`), is for the caller to put on the request.
#[inline(always)]
fn plan(
    cfg: &Arc<Config>,
    carries: bool,
    caller: Option<&CancelToken>,
    operation: impl FnOnce() -> Option<crate::token::Operation>,
) -> Prepared {
    if !carries && cfg.operations.is_none() && caller.is_none() {
        return defer(cfg);
    }
    if !cfg.has_sources {
        if let Some(token) = caller.filter(|t| t.deadline().is_none()) {
            // The caller's token, as it is: no allocation, and the caller's to cancel.
            let token = token.clone();
            if let Some(reason) = token.reason() {
                return Err(reason);
            }
            return Ok(Plan::Ready(Parts {
                token,
                limit: None,
                parent: None,
                owned: false,
                condition: None,
            }));
        }
    }

    let limit = layer_limit(cfg.timeout, cfg.deadline);
    // A deadline the caller's token carries (one read from a `grpc-timeout` header, say) is
    // enforced here too, when it comes first.
    let limit = match (limit, caller.and_then(CancelToken::deadline)) {
        (Some((at, r)), Some(d)) if at <= d => Some((at, r)),
        (_, Some(d)) => Some((d, CancelReason::Deadline)),
        (l, None) => l,
    };
    let deadline = limit.as_ref().map(|(at, _)| *at);

    if cfg.drain.as_ref().is_some_and(CancelToken::is_cancelled) {
        // Shutting down: no new requests.
        return Err(CancelReason::Shutdown);
    }
    // With a condition, its current token stands for the parent (it descends from it).
    let condition_token;
    let root = match &cfg.condition {
        Some(c) => {
            condition_token = c.token();
            Some(&condition_token)
        }
        None => cfg.parent.as_ref(),
    };
    // The token descends from the caller's if there is one (the child keeps it, and so its
    // reason, alive), else from the root; a root that is not an ancestor is watched by the
    // future instead.
    let parent = caller.and(root).cloned();
    let mut token = CancelToken::derive(caller.or(root), deadline, cfg.drain.as_ref());
    if let Some(ops) = &cfg.operations {
        let op = operation().unwrap_or_else(|| crate::token::Operation::new("request"));
        token = ops.register(&token, op);
    }
    // A new root (no caller, no root, not registered) cannot have fired yet.
    if caller.or(root).is_some() || cfg.operations.is_some() {
        if let Some(reason) = token
            .reason()
            .or_else(|| parent.as_ref().and_then(CancelToken::reason))
        {
            return Err(reason);
        }
    }
    Ok(Plan::Ready(Parts {
        token,
        limit,
        parent,
        owned: true,
        condition: cfg.condition.clone(),
    }))
}

/// The deferred form of [`prepare`]: refuses the request if the layer's drain, condition or
/// parent has already fired (checking flags, making nothing), else says what its token will
/// be made from.
fn defer(cfg: &Arc<Config>) -> Prepared {
    if cfg.drain.as_ref().is_some_and(CancelToken::is_cancelled) {
        return Err(CancelReason::Shutdown);
    }
    // A condition's current token descends from the parent, so it answers for both.
    let fired = match &cfg.condition {
        Some(c) => c.reason(),
        None => cfg.parent.as_ref().and_then(CancelToken::reason),
    };
    if let Some(reason) = fired {
        return Err(reason);
    }
    let has_ancestry = cfg.parent.is_some() || cfg.condition.is_some() || cfg.drain.is_some();
    Ok(Plan::Deferred(Deferred {
        timeout: cfg.timeout,
        deadline: cfg.deadline,
        sources: has_ancestry.then(|| cfg.clone()),
    }))
}
