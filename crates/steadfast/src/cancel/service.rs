//! The cancel middleware service.

use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::Config;
use crate::token::{CancelReason, CancelToken, HasCancelToken};
use crate::BoxError;

/// Races the inner service against the request's [`CancelToken`]; see
/// [`CancelLayer`](super::CancelLayer).
#[derive(Debug, Clone)]
pub struct Cancel<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Cancel<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Cancel { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for Cancel<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: HasCancelToken,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Req) -> Self::Future {
        match prepare(&self.config, &mut req) {
            Prepared::Refused(reason) => ResponseFuture::cancelled(reason),
            Prepared::Ready(parts) => ResponseFuture::new(self.inner.call(req), parts),
        }
    }
}

/// What a response future needs besides the inner future.
#[derive(Debug)]
pub(crate) struct Parts {
    pub(crate) token: CancelToken,
    pub(crate) limit: Option<(Instant, CancelReason)>,
    pub(crate) parent: Option<CancelToken>,
    /// Whether the layer made the token (and so cancels it when nobody waits any more).
    pub(crate) owned: bool,
    /// Keeps the layer's condition watched while this request is in flight, even if every
    /// service of the layer is dropped meanwhile.
    pub(crate) condition: Option<Arc<super::condition::Condition>>,
}

pub(crate) enum Prepared {
    /// The request's token has already fired: do not send it.
    Refused(CancelReason),
    Ready(Parts),
}

/// Gives `req` its token, following the layer's settings.
#[inline]
pub(crate) fn prepare<Req: HasCancelToken>(cfg: &Config, req: &mut Req) -> Prepared {
    cfg.start_background();
    if !cfg.has_sources() {
        if let Some(token) = req.cancel_token().filter(|t| t.deadline().is_none()) {
            // The caller's token, as it is: no allocation, and the caller's to cancel.
            let token = token.clone();
            if let Some(reason) = token.reason() {
                return Prepared::Refused(reason);
            }
            return Prepared::Ready(Parts {
                token,
                limit: None,
                parent: None,
                owned: false,
                condition: None,
            });
        }
    }

    // The earliest of the deadline and the timeout, and the reason it would give.
    let timeout = cfg
        .timeout
        .map(|d| (Instant::now() + d, CancelReason::Timeout(d)));
    let limit = match (cfg.deadline, timeout) {
        (Some(d), Some((t, r))) if t < d => Some((t, r)),
        (Some(d), _) => Some((d, CancelReason::Deadline)),
        (None, t) => t,
    };
    // A deadline the caller's token carries (one read from a `grpc-timeout` header, say) is
    // enforced here too, when it comes first.
    let limit = match (limit, req.cancel_token().and_then(CancelToken::deadline)) {
        (Some((at, r)), Some(d)) if at <= d => Some((at, r)),
        (_, Some(d)) => Some((d, CancelReason::Deadline)),
        (l, None) => l,
    };
    let deadline = limit.as_ref().map(|(at, _)| *at);

    if cfg.drain.as_ref().is_some_and(CancelToken::is_cancelled) {
        // Shutting down: no new requests.
        return Prepared::Refused(CancelReason::Shutdown);
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
    let caller = req.cancel_token();
    let parent = caller.and(root).cloned();
    let mut token = CancelToken::derive(caller.or(root), deadline, cfg.drain.as_ref());
    if let Some(ops) = &cfg.operations {
        let op = req
            .operation()
            .unwrap_or_else(|| crate::operations::Operation::new("request"));
        token = ops.register(&token, op);
    }
    if let Some(reason) = token
        .reason()
        .or_else(|| parent.as_ref().and_then(CancelToken::reason))
    {
        return Prepared::Refused(reason);
    }
    req.set_cancel_token(token.clone());
    Prepared::Ready(Parts {
        token,
        limit,
        parent,
        owned: true,
        condition: cfg.condition.clone(),
    })
}
