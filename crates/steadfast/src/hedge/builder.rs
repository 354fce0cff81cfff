//! [`HedgeLayerBuilder`]: the hedge layer's settings, checked when the layer is built.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::delay::{DelayKind, HedgeDelay, HedgeMode};
use super::events::HedgeEvent;
use super::layer::HedgeLayer;
use super::settings::{Listener, Settings};
use crate::classify::AnyError;
use crate::config::ConfigError;
use crate::observe::Observer;
use crate::per_thread_arc::PerThreadArc;
use crate::retry::{CloneAll, CloneWith, RetryBudget};

/// The most attempts a request may get, the first included.
pub const MAX_ATTEMPTS: u32 = 10;

impl HedgeLayer {
    /// Starts a hedge layer's settings: latency mode, a fixed 100 ms delay, two attempts, the
    /// [`AnyError`] classifier, requests cloned with `Clone`, and no budget, so no hedge at
    /// all until one is given ([`budget`](HedgeLayerBuilder::budget)).
    pub fn builder() -> HedgeLayerBuilder {
        HedgeLayerBuilder {
            name: None,
            mode: HedgeMode::Latency,
            delay: HedgeDelay::fixed(Duration::from_millis(100)),
            max_attempts: 2,
            classifier: AnyError,
            cloner: CloneAll,
            budget: None,
            deposit: true,
            listeners: Vec::new(),
            observers: Vec::new(),
        }
    }
}

/// The settings of a [`HedgeLayer`]; [`build`](Self::build) checks them.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use steadfast::hedge::{HedgeDelay, HedgeLayer, HedgeMode};
/// use steadfast::retry::RatioBudget;
///
/// // Hedge after the 95th percentile of observed latency, at most 10% extra load.
/// let budget = Arc::new(RatioBudget::builder().ratio(0.1).build().unwrap());
/// let layer = HedgeLayer::builder()
///     .name("inventory")
///     .mode(HedgeMode::Latency)
///     .delay(HedgeDelay::percentile(0.95).floor(Duration::from_millis(2)))
///     .max_attempts(3)
///     .budget(budget)
///     .build()
///     .unwrap();
/// # let _ = layer;
///
/// let err = HedgeLayer::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_attempts");
/// ```
pub struct HedgeLayerBuilder<C = AnyError, K = CloneAll> {
    name: Option<Cow<'static, str>>,
    mode: HedgeMode,
    delay: HedgeDelay,
    max_attempts: u32,
    classifier: C,
    cloner: K,
    budget: Option<Arc<dyn RetryBudget>>,
    deposit: bool,
    listeners: Vec<Listener>,
    observers: Vec<Arc<dyn Observer>>,
}

impl<C, K> fmt::Debug for HedgeLayerBuilder<C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeLayerBuilder")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("delay", &self.delay)
            .field("max_attempts", &self.max_attempts)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl<C, K> HedgeLayerBuilder<C, K> {
    /// The layer's name, in its description, events and decision-trace entries (`"hedge"`
    /// when it has none).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How attempts are spread out (default [`HedgeMode::Latency`]).
    pub fn mode(mut self, mode: HedgeMode) -> Self {
        self.mode = mode;
        self
    }

    /// How long [`HedgeMode::Latency`] waits for an answer before each hedge (default a fixed
    /// 100 ms); a [`HedgeDelay::percentile`] records each winning attempt's latency. The other
    /// modes do not wait.
    pub fn delay(mut self, delay: impl Into<HedgeDelay>) -> Self {
        self.delay = delay.into();
        self
    }

    /// The most attempts a request gets, the first included: from 1 (no hedge) to
    /// [`MAX_ATTEMPTS`]; 2 by default.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The budget every hedge is paid from: each attempt after the first withdraws one
    /// retry from it, and a refusal stops the request's hedging (its attempts in flight keep
    /// running). Without a budget the layer sends no hedge at all.
    ///
    /// The same `Arc` may be given to retry layers too, so that one budget caps the extra
    /// load of the whole stack (Finagle's `maxExtraLoad`). The layer deposits once per request
    /// into it, as the retry layer does; when a retry layer above this one shares the
    /// budget, it already deposits for each request: see
    /// [`deposit_requests`](Self::deposit_requests).
    pub fn budget(mut self, budget: Arc<dyn RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Whether the layer deposits into its budget once per request (`true`, the default) or
    /// only withdraws from it (`false`: for a budget a retry layer above it already deposits
    /// into for every request).
    pub fn deposit_requests(mut self, deposit: bool) -> Self {
        self.deposit = deposit;
        self
    }

    /// Calls `listener` for every [`HedgeEvent`]. May be called several times.
    pub fn on_event(mut self, listener: impl Fn(&HedgeEvent) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Hands this layer's events to `observer`: when the layer is built, the observer is
    /// asked for a listener for it ([`Observer::hedge`], given the layer's
    /// [`name`](Self::name), `"hedge"` if it has none), which then sees every [`HedgeEvent`]
    /// as a listener given to [`on_event`](Self::on_event) would. May be called several times.
    pub fn observe(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Decides which answers win; see [`crate::classify`]. Default [`AnyError`].
    ///
    /// A success wins and ends the request. A non-fatal failure (a retryable outcome:
    /// [`Outcome::Retryable`](crate::classify::Outcome::Retryable),
    /// [`Invalid`](crate::classify::Outcome::Invalid),
    /// [`PushedBack`](crate::classify::Outcome::PushedBack)) lets the other attempts run on,
    /// and sends the next hedge at once (after the server's hint, when it gave one). A fatal
    /// one ([`NonRetryable`](crate::classify::Outcome::NonRetryable), and
    /// [`Ignored`](crate::classify::Outcome::Ignored)) ends the request at once with that
    /// answer. [`DoNotRetry`](crate::classify::Outcome::DoNotRetry) lets the others run on
    /// but stops further hedges. When every attempt fails, the last failure is returned as it
    /// is.
    pub fn classify<C2>(self, classifier: C2) -> HedgeLayerBuilder<C2, K> {
        HedgeLayerBuilder {
            name: self.name,
            mode: self.mode,
            delay: self.delay,
            max_attempts: self.max_attempts,
            classifier,
            cloner: self.cloner,
            budget: self.budget,
            deposit: self.deposit,
            listeners: self.listeners,
            observers: self.observers,
        }
    }

    /// Copies requests for hedges with `cloner` (the retry layer's
    /// [`CloneRequest`](crate::retry::CloneRequest)); default [`CloneAll`]. A request it
    /// cannot copy is sent once, unhedged.
    pub fn clone_requests<K2>(self, cloner: K2) -> HedgeLayerBuilder<C, K2> {
        HedgeLayerBuilder {
            name: self.name,
            mode: self.mode,
            delay: self.delay,
            max_attempts: self.max_attempts,
            classifier: self.classifier,
            cloner,
            budget: self.budget,
            deposit: self.deposit,
            listeners: self.listeners,
            observers: self.observers,
        }
    }

    /// Copies requests for hedges with a function; `None` sends the request once.
    pub fn clone_requests_with<Req, F>(self, f: F) -> HedgeLayerBuilder<C, CloneWith<F>>
    where
        F: Fn(&Req) -> Option<Req>,
    {
        self.clone_requests(CloneWith(f))
    }

    /// Checks every setting and builds the layer.
    ///
    /// `max_attempts` must be from 1 to [`MAX_ATTEMPTS`]; a percentile delay's quantile from
    /// 0.5 to 0.999 and its window at least 10 ms.
    pub fn build(self) -> Result<HedgeLayer<C, K>, ConfigError> {
        if self.max_attempts == 0 || self.max_attempts > MAX_ATTEMPTS {
            return Err(ConfigError::new(
                "hedge",
                "max_attempts",
                format!(
                    "must be from 1 to {MAX_ATTEMPTS} (got {})",
                    self.max_attempts
                ),
            ));
        }
        if let DelayKind::Percentile(p) = &self.delay.0 {
            if !(0.5..=0.999).contains(&p.quantile) {
                return Err(ConfigError::new(
                    "hedge",
                    "delay",
                    format!(
                        "a percentile's quantile must be from 0.5 to 0.999 (got {})",
                        p.quantile
                    ),
                ));
            }
            if p.histogram.window() < Duration::from_millis(10) {
                return Err(ConfigError::new(
                    "hedge",
                    "delay",
                    format!(
                        "a percentile's window must be at least 10ms (got {:?})",
                        p.histogram.window()
                    ),
                ));
            }
        }
        let mut listeners = self.listeners;
        let name = self.name.as_deref().unwrap_or("hedge");
        listeners.extend(self.observers.iter().filter_map(|o| o.hedge(name)));
        Ok(HedgeLayer::from_parts(
            PerThreadArc::new(Settings {
                name: self.name,
                mode: self.mode,
                delay: self.delay,
                max_attempts: self.max_attempts,
                budget: self.budget,
                deposit: self.deposit,
                listeners: listeners.into_boxed_slice(),
            }),
            self.classifier,
            self.cloner,
        ))
    }
}
