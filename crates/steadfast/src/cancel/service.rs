//! The cancel middleware service.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;
use tracing::Level;

use super::future::{
    cancel_span, record_cancelled_span, span_of, spanned, trace_refusal, traced, watched,
    ResponseFuture, Watch,
};
use super::plan::{prepare, Config, Plan};
use crate::observe::span::{self, in_span};
use crate::token::{CancelReason, HasCancelToken};
use crate::BoxError;

/// Races the inner service against the request's [`CancelToken`](crate::token::CancelToken); see
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

    /// The layer's settings (for the service's description).
    pub(crate) fn config_ref(&self) -> &Config {
        &self.config
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Gives `req` its token, following the layer's settings, and calls the inner service:
    /// the returned future races the answer against that token.
    ///
    /// This is what [`Service::call`] does, for a wrapper that answers a cancelled request its
    /// own way instead of with a [`Cancelled`](super::Cancelled) error (steadfast-http's HTTP
    /// form answers with a status): it keeps the inner service's error type, and reads the
    /// race with [`ResponseFuture::poll_race`]. Call it only after
    /// [`poll_ready`](Service::poll_ready) said the inner service is ready (see
    /// [`get_mut`](Self::get_mut)).
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::pin::pin;
    /// use std::time::Duration;
    /// use steadfast::cancel::CancelLayer;
    /// use steadfast::token::CancelReason;
    /// use tower::{service_fn, Layer};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let layer = CancelLayer::builder().timeout(Duration::from_secs(1)).build().unwrap();
    /// let mut svc = layer.layer(service_fn(|_: http::Request<()>| async {
    ///     tokio::time::sleep(Duration::from_secs(5)).await;
    ///     Ok::<_, std::io::Error>("late")
    /// }));
    /// let mut fut = pin!(svc.race(http::Request::new(())));
    /// let raced = poll_fn(|cx| fut.as_mut().poll_race(cx)).await;
    /// assert_eq!(raced.unwrap_err(), CancelReason::Timeout(Duration::from_secs(1)));
    /// # }
    /// ```
    #[inline(always)]
    pub fn race<Req>(&mut self, mut req: Req) -> ResponseFuture<S::Future>
    where
        S: Service<Req>,
        Req: HasCancelToken,
    {
        // One test for everything a request may be watched by from its call (the layer's
        // listeners, a decision trace, a span): without any of them, the request goes
        // straight to the inner service.
        let watched = self.config.listeners.is_some()
            || crate::trace::armed()
            || span::may_record(Level::DEBUG);
        match prepare(&self.config, &mut req) {
            Err(reason) => self.refuse(&req, reason),
            Ok(plan) if watched => self.race_watched(req, plan),
            Ok(Plan::Ready(parts)) => {
                let fut = self.inner.call(req);
                ResponseFuture::new(fut, parts, None)
            }
            Ok(Plan::Deferred(later)) => {
                let fut = self.inner.call(req);
                ResponseFuture::deferred(fut, later, None)
            }
        }
    }

    /// The refusal of a request whose token has already fired, for `reason`.
    #[cold]
    #[inline(never)]
    fn refuse<F, Req: HasCancelToken>(&self, req: &Req, reason: CancelReason) -> ResponseFuture<F> {
        if let Some(l) = &self.config.listeners {
            l.refused(&reason);
        }
        let trace = if crate::trace::armed() {
            trace_refusal(req, &self.config.name, &reason)
        } else {
            None
        };
        if span::may_record(Level::DEBUG) {
            if let Some(span) = cancel_span(&self.config.name) {
                record_cancelled_span(&span, &reason);
            }
        }
        ResponseFuture::cancelled(reason, trace)
    }

    /// [`race`](Self::race) for a request watched from its call: by the layer's listeners,
    /// its decision trace or its span.
    #[cold]
    #[inline(never)]
    fn race_watched<Req>(&mut self, req: Req, plan: Plan) -> ResponseFuture<S::Future>
    where
        S: Service<Req>,
        Req: HasCancelToken,
    {
        let watch = self.watch(&req);
        let fut = in_span(span_of(&watch), || self.inner.call(req));
        ResponseFuture::sent(fut, plan, watch)
    }
}

impl<S> Cancel<S> {
    /// What a request sent through this layer watches from its call, if anything: the
    /// layer's listeners, the request's decision trace, its span.
    #[inline(always)]
    fn watch<Req: HasCancelToken>(&self, req: &Req) -> Option<Pin<Box<Watch>>> {
        let mut watch = self.config.listeners.as_ref().and_then(watched);
        if crate::trace::armed() {
            watch = traced(req, &self.config.name, watch);
        }
        if span::may_record(Level::DEBUG) {
            if let Some(span) = cancel_span(&self.config.name) {
                watch = spanned(watch, span);
            }
        }
        watch
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

    fn call(&mut self, req: Req) -> Self::Future {
        self.race(req)
    }
}
