//! The cancel layer and its builder.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tower_layer::Layer;

use super::events::{CancelEvent, Listeners};
use super::plan::Config;
use super::service::Cancel;
use crate::config::ConfigError;
use crate::observe::{CancelListener, Observer};
use crate::token::CancelToken;

/// Gives every request a [`CancelToken`] in its extensions and ends the request with a
/// [`Cancelled`](super::Cancelled) error the moment that token fires.
///
/// * A request that already carries a token keeps it when the layer adds no source of its own;
///   otherwise it gets a child of that token, so the caller's cancellation still reaches it.
/// * Sources combine, and whichever fires first sets the reason: a timeout, an absolute
///   deadline, a parent token (typically the server's shutdown token), and the caller's own
///   token.
/// * When the response future is dropped before it finishes (hyper drops it when the client
///   disconnects), a token the layer made is cancelled with
///   [`CancelReason::ClientDisconnected`](crate::token::CancelReason::ClientDisconnected), so
///   work the handler started with it stops too. A token the caller supplied (and the layer
///   reused as is) is the caller's to cancel.
/// * A request that cannot carry a token (a `u64`, say), arrives without one and is not
///   registered as an operation gets its token only if the answer is not ready on the
///   response future's first poll; see [`CancelLayerBuilder::timeout`] for what that means
///   for a timeout.
///
/// ```
/// use std::time::Duration;
/// use steadfast::cancel::{CancelLayer, Cancelled};
/// use steadfast::token::{CancelReason, HasCancelToken};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let layer = CancelLayer::builder().timeout(Duration::from_secs(2)).build().unwrap();
/// let slow = service_fn(|req: http::Request<()>| async move {
///     // The handler can see the token and hand it to the work it starts.
///     let token = req.cancel_token().cloned().expect("the layer put a token here");
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     Ok::<_, std::io::Error>(token.is_cancelled())
/// });
/// let err = layer.layer(slow).oneshot(http::Request::new(())).await.unwrap_err();
/// let cancelled = err.downcast_ref::<Cancelled>().unwrap();
/// assert_eq!(cancelled.reason(), &CancelReason::Timeout(Duration::from_secs(2)));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CancelLayer {
    pub(crate) config: Arc<Config>,
}

impl CancelLayer {
    /// A layer with no source of its own: requests keep the token they carry, or get a fresh
    /// one, and are cancelled when that token fires or their response future is dropped.
    pub fn new() -> Self {
        CancelLayer {
            config: Arc::default(),
        }
    }

    /// Starts a builder.
    pub fn builder() -> CancelLayerBuilder {
        CancelLayerBuilder {
            config: Config::default(),
            signals: false,
            condition: None,
            condition_name: None,
            name: None,
            listeners: Vec::new(),
            observers: Vec::new(),
        }
    }
}

impl Default for CancelLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for CancelLayer {
    type Service = Cancel<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Cancel::new(inner, self.config.clone())
    }
}

/// Builds a [`CancelLayer`].
pub struct CancelLayerBuilder {
    config: Config,
    signals: bool,
    condition: Option<ConditionSpec>,
    condition_name: Option<Arc<str>>,
    name: Option<Cow<'static, str>>,
    listeners: Vec<CancelListener>,
    observers: Vec<Arc<dyn Observer>>,
}

impl std::fmt::Debug for CancelLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelLayerBuilder")
            .field("config", &self.config)
            .field("signals", &self.signals)
            .field("condition", &self.condition)
            .field("condition_name", &self.condition_name)
            .field("name", &self.name)
            .field("listeners", &self.listeners.len())
            .field("observers", &self.observers.len())
            .finish()
    }
}

enum ConditionSpec {
    Watch(tokio::sync::watch::Receiver<bool>),
    Poll(Duration, Arc<dyn Fn() -> bool + Send + Sync>),
}

impl std::fmt::Debug for ConditionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConditionSpec::Watch(_) => f.write_str("Watch"),
            ConditionSpec::Poll(d, _) => write!(f, "Poll({d:?})"),
        }
    }
}

impl CancelLayerBuilder {
    /// Cancels each request `timeout` after it arrives, with
    /// [`CancelReason::Timeout`](crate::token::CancelReason::Timeout). The token carries the
    /// resulting deadline, so a retry layer inside will not start what cannot finish in time.
    ///
    /// A request that cannot carry a token (see
    /// [`HasCancelToken::can_carry_cancel_token`](crate::token::HasCancelToken::can_carry_cancel_token))
    /// and arrives without one has nothing inside that could read that deadline: unless the
    /// layer registers [`operations`](Self::operations), its timeout counts from the first
    /// poll of the response future that finds the answer not ready, so that an answer ready at
    /// once costs no token, no clock read and no timer.
    ///
    /// A timeout too long to add to the clock (`Duration::MAX` is a common way to say "no
    /// timeout") never runs out: it sets no deadline and no timer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = Some(timeout);
        self
    }

    /// Cancels every request still running at `deadline`, with
    /// [`CancelReason::Deadline`](crate::token::CancelReason::Deadline).
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.config.deadline = Some(deadline);
        self
    }

    /// Makes every request's token a child of `parent`: cancelling it (say, on server
    /// shutdown) cancels every request in flight, with the parent's reason.
    pub fn parent(mut self, parent: CancelToken) -> Self {
        self.config.parent = Some(parent);
        self
    }

    /// Registers every request in `operations` while it runs, named by
    /// [`HasCancelToken::operation`](crate::token::HasCancelToken::operation), so that it can
    /// be listed (with its age and last progress) and cancelled by id, label or name.
    pub fn operations(mut self, operations: &super::operations::Operations) -> Self {
        self.config.operations = Some(operations.clone());
        self
    }

    /// Takes part in `shutdown`: requests drain when it begins (new ones are refused, layers
    /// inside start no new attempt) and are cancelled with `Shutdown` when its grace period
    /// is over. Replaces any [`parent`](Self::parent).
    pub fn shutdown(mut self, shutdown: &super::Shutdown) -> Self {
        self.config.parent = Some(shutdown.stopped());
        self.config.drain = Some(shutdown.draining());
        self
    }

    /// Cancels every request in flight, with
    /// [`CancelReason::Signal`](crate::token::CancelReason::Signal), when the process receives
    /// `SIGINT` or `SIGTERM` (Ctrl-C on Windows). One listener serves the whole process; see
    /// [`signal_token`](super::signal_token).
    pub fn on_signals(mut self) -> Self {
        self.signals = true;
        self
    }

    /// Cancels every request in flight, with
    /// [`CancelReason::Condition`](crate::token::CancelReason::Condition) (named with
    /// [`condition_name`](Self::condition_name)), while `rx` holds
    /// `true`, and refuses new ones; requests go through again once it is `false`.
    /// Event-driven: one task per layer waits for changes.
    ///
    /// ```
    /// use steadfast::cancel::CancelLayer;
    /// let (maintenance, rx) = tokio::sync::watch::channel(false);
    /// let layer = CancelLayer::builder().cancel_when(rx).build().unwrap();
    /// # let _ = (layer, maintenance);
    /// ```
    pub fn cancel_when(mut self, rx: tokio::sync::watch::Receiver<bool>) -> Self {
        self.condition = Some(ConditionSpec::Watch(rx));
        self
    }

    /// Like [`cancel_when`](Self::cancel_when), for a condition you can only ask: `check` is
    /// called every `every` (at least 1 ms) by one task per layer.
    pub fn cancel_if(
        mut self,
        every: Duration,
        check: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Self {
        self.condition = Some(ConditionSpec::Poll(every, Arc::new(check)));
        self
    }

    /// Names the condition given to [`cancel_when`](Self::cancel_when) or
    /// [`cancel_if`](Self::cancel_if): requests it cancels carry
    /// `CancelReason::Condition(Some(name))`, and the error's message names it
    /// (`"request cancelled: cancel condition met: circuit_open"`).
    ///
    /// ```
    /// use steadfast::cancel::CancelLayer;
    /// let (open, rx) = tokio::sync::watch::channel(false);
    /// let layer = CancelLayer::builder()
    ///     .cancel_when(rx)
    ///     .condition_name("circuit_open")
    ///     .build()
    ///     .unwrap();
    /// # let _ = (layer, open);
    /// ```
    pub fn condition_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.condition_name = Some(name.into());
        self
    }

    /// Names the layer, for [`observe`](Self::observe). Default: `"cancel"`.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Calls `listener` for every [`CancelEvent`]: once per request, when it completes, is
    /// cancelled, or is dropped before its answer. Listeners run inline: keep them short. A
    /// layer without listeners reads no clock for them. May be called several times.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::cancel::{CancelEvent, CancelLayer};
    ///
    /// let layer = CancelLayer::builder()
    ///     .timeout(Duration::from_secs(2))
    ///     .on_event(|event: &CancelEvent<'_>| {
    ///         if let CancelEvent::Cancelled { reason, elapsed } = event {
    ///             eprintln!("cancelled after {elapsed:?}: {reason}");
    ///         }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn on_event(mut self, listener: impl Fn(&CancelEvent<'_>) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Hands this layer's events to `observer`: when the layer is built, the observer is
    /// asked for a listener for it ([`Observer::cancel`], given the layer's
    /// [`name`](Self::name)), which then sees every [`CancelEvent`] as a listener given to
    /// [`on_event`](Self::on_event) would. May be called several times.
    pub fn observe(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Checks the settings and builds the layer.
    pub fn build(mut self) -> Result<CancelLayer, ConfigError> {
        if let Some(ConditionSpec::Poll(every, _)) = &self.condition {
            if *every < Duration::from_millis(1) {
                return Err(ConfigError::new(
                    "cancel",
                    "cancel_if.every",
                    format!("must be at least 1ms (got {every:?})"),
                ));
            }
        }
        if self.config.timeout == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "cancel",
                "timeout",
                "must be greater than zero",
            ));
        }
        if self.signals {
            let signals = super::signal::signal_token();
            match self.config.parent.take() {
                None => self.config.parent = Some(signals),
                Some(parent) => {
                    self.config.parent = Some(parent.child());
                    self.config.forward_signals = Some((signals, std::sync::Once::new()));
                }
            }
        }
        // A condition's tokens descend from the parent, so requests descend from the
        // condition's current token.
        if let Some(spec) = self.condition.take() {
            let base = self.config.parent.clone();
            let name = self.condition_name.take();
            self.config.condition = Some(Arc::new(match spec {
                ConditionSpec::Watch(rx) => super::condition::Condition::watch(rx, name, base),
                ConditionSpec::Poll(every, check) => {
                    super::condition::Condition::poll(every, check, name, base)
                }
            }));
        }
        let name = self.name.as_deref().unwrap_or("cancel");
        let mut listeners = self.listeners;
        listeners.extend(self.observers.iter().filter_map(|o| o.cancel(name)));
        if !listeners.is_empty() {
            self.config.listeners = Some(Listeners(listeners.into()));
        }
        self.config.name = self.name;
        self.config.settle();
        Ok(CancelLayer {
            config: Arc::new(self.config),
        })
    }
}
