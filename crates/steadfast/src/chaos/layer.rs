//! The chaos layer and its builder.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::behavior::BehaviorInjection;
use super::config::Config;
use super::events::ChaosEvent;
use super::fault::FaultInjection;
use super::latency::LatencyInjection;
use super::outcome::OutcomeInjection;
use super::service::Chaos;
use super::switch::ChaosSwitch;
use super::trigger::{and, Predicate};
use crate::config::ConfigError;
use crate::observe::{ChaosListener, Observer};
use crate::random::{RandomSource, SplitMix64};

/// Wraps services in [`Chaos`], which injects faults, outcomes, latency and behaviour into a
/// share of their requests, so tests rehearse the failures production will bring.
///
/// `Req` is the request type and `Res` the inner service's response type (an injected
/// outcome is one). Build it with [`ChaosLayer::builder`]; the layer is cheap to clone and
/// all of its services share its settings, its switch and its random source.
///
/// ```
/// use std::time::Duration;
/// use steadfast::chaos::{ChaosError, ChaosLayer, ChaosSwitch, FaultInjection, LatencyInjection};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let switch = ChaosSwitch::new(false);
/// let layer = ChaosLayer::builder()
///     .name("payments")
///     .switch(switch.clone())
///     .seed(42)
///     .latency(LatencyInjection::fixed(Duration::from_millis(250)).rate(0.5))
///     .fault(FaultInjection::chaos().rate(0.1))
///     .build()
///     .unwrap();
/// let svc = layer.layer(service_fn(|n: u64| async move { Ok::<_, std::io::Error>(n * 2) }));
///
/// // Off: every request goes straight through.
/// assert_eq!(svc.clone().oneshot(21).await.unwrap(), 42);
/// switch.turn_on();
/// let mut faults = 0;
/// for n in 0..1000 {
///     if let Err(e) = svc.clone().oneshot(n).await {
///         assert!(e.is::<ChaosError>());
///         faults += 1;
///     }
/// }
/// assert!((50..150).contains(&faults), "{faults}");
/// # }
/// ```
pub struct ChaosLayer<Req, Res> {
    config: Arc<Config<Req, Res>>,
}

impl<Req, Res> ChaosLayer<Req, Res> {
    /// Starts a builder: named `"chaos"`, on, seeded from the operating system, with no
    /// injections yet.
    pub fn builder() -> ChaosLayerBuilder<Req, Res> {
        ChaosLayerBuilder {
            name: "chaos",
            switch: None,
            rng: None,
            when: None,
            behavior: None,
            latency: None,
            fault: None,
            outcome: None,
            listeners: Vec::new(),
            observers: Vec::new(),
        }
    }

    /// The layer's switch: turn it off and every request goes straight to the service.
    pub fn switch(&self) -> &ChaosSwitch {
        &self.config.switch
    }

    /// The layer's name, as its errors and `tracing` events give it.
    pub fn name(&self) -> &'static str {
        self.config.name
    }

    /// The layer's settings (for its description).
    pub(crate) fn config_ref(&self) -> &Config<Req, Res> {
        &self.config
    }
}

impl<Req, Res> Clone for ChaosLayer<Req, Res> {
    fn clone(&self) -> Self {
        ChaosLayer {
            config: self.config.clone(),
        }
    }
}

impl<Req, Res> fmt::Debug for ChaosLayer<Req, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

impl<S, Req, Res> Layer<S> for ChaosLayer<Req, Res> {
    type Service = Chaos<S, Req, Res>;

    fn layer(&self, inner: S) -> Self::Service {
        Chaos::new(inner, self.config.clone())
    }
}

/// Builds a [`ChaosLayer`]; [`build`](Self::build) checks the rates and ranges.
///
/// One injection of each kind; setting one again replaces it. See
/// [`ChaosLayer`] for an example.
pub struct ChaosLayerBuilder<Req, Res> {
    name: &'static str,
    switch: Option<ChaosSwitch>,
    rng: Option<Arc<dyn RandomSource>>,
    when: Option<Predicate<Req>>,
    behavior: Option<BehaviorInjection<Req>>,
    latency: Option<LatencyInjection<Req>>,
    fault: Option<FaultInjection<Req>>,
    outcome: Option<OutcomeInjection<Req, Res>>,
    listeners: Vec<ChaosListener>,
    observers: Vec<Arc<dyn Observer>>,
}

impl<Req, Res> ChaosLayerBuilder<Req, Res> {
    /// The name [`ChaosError`](super::ChaosError)s, `tracing` events and
    /// [`observe`](Self::observe) give for this layer (default `"chaos"`).
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The switch for the whole layer (default: a new switch, on). Keep a clone to turn chaos
    /// on and off while the service runs; [`ChaosLayer::switch`] hands it out too.
    pub fn switch(mut self, switch: ChaosSwitch) -> Self {
        self.switch = Some(switch);
        self
    }

    /// Draws from a [`SplitMix64`] seeded with `seed`: the same requests, in the same order,
    /// get the same injections on every run.
    pub fn seed(self, seed: u64) -> Self {
        self.random(Arc::new(SplitMix64::seeded(seed)))
    }

    /// Draws from `rng` (default: a [`SplitMix64`] seeded from the operating system).
    pub fn random(mut self, rng: Arc<dyn RandomSource>) -> Self {
        self.rng = Some(rng);
        self
    }

    /// Injects into requests `predicate` accepts only; the others go straight to the service
    /// and draw nothing. Calling it again adds a predicate: every one must accept the
    /// request. Each injection can have predicates of its own too.
    pub fn when<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&Req) -> bool + Send + Sync + 'static,
        Req: 'static,
    {
        self.when = Some(and(self.when.take(), Arc::new(predicate)));
        self
    }

    /// Injects an error instead of the answer.
    pub fn fault(mut self, fault: FaultInjection<Req>) -> Self {
        self.fault = Some(fault);
        self
    }

    /// Injects a response instead of the answer (when the fault injection did not fire).
    pub fn outcome(mut self, outcome: OutcomeInjection<Req, Res>) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// Injects a delay before the answer.
    pub fn latency(mut self, latency: LatencyInjection<Req>) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Runs a closure on the request before it is sent.
    pub fn behavior(mut self, behavior: BehaviorInjection<Req>) -> Self {
        self.behavior = Some(behavior);
        self
    }

    /// Calls `listener` for every [`ChaosEvent`]: one per injection made (a request can get
    /// several: a behaviour, a delay, then a fault or an outcome). Listeners run inline, on
    /// the task that calls the service: keep them short. Nothing is told while the switch is
    /// off. May be called several times.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use steadfast::chaos::{ChaosEvent, ChaosLayer, FaultInjection, Injection};
    ///
    /// let faults = Arc::new(AtomicU64::new(0));
    /// let counted = faults.clone();
    /// let layer = ChaosLayer::<u32, u32>::builder()
    ///     .fault(FaultInjection::chaos().rate(0.1))
    ///     .on_event(move |event: &ChaosEvent| {
    ///         if let ChaosEvent::Injected { injection: Injection::Fault } = event {
    ///             counted.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn on_event(mut self, listener: impl Fn(&ChaosEvent) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Hands this layer's events to `observer`: when the layer is built, the observer is
    /// asked for a listener for it ([`Observer::chaos`], given the layer's
    /// [`name`](Self::name)), which then sees every [`ChaosEvent`] as a listener given to
    /// [`on_event`](Self::on_event) would. May be called several times.
    pub fn observe(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Checks the settings and builds the layer.
    ///
    /// Every rate must be within `[0, 1]` (the field is named `fault.rate`,
    /// `outcome.rate`, `latency.rate` or `behavior.rate`), a uniform latency's `max` must not
    /// be below its `min` (`latency.max`), and there must be at least one injection
    /// (`injections`).
    ///
    /// ```
    /// use steadfast::chaos::{ChaosLayer, FaultInjection};
    ///
    /// let err = ChaosLayer::<u32, u32>::builder()
    ///     .fault(FaultInjection::chaos().rate(1.5))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!((err.layer(), err.field()), ("chaos", "fault.rate"));
    /// assert_eq!(err.to_string(), "invalid chaos configuration: `fault.rate` must be between 0.0 and 1.0 (got 1.5)");
    /// ```
    pub fn build(self) -> Result<ChaosLayer<Req, Res>, ConfigError> {
        if let Some(fault) = &self.fault {
            fault.trigger.check("fault.rate")?;
        }
        if let Some(outcome) = &self.outcome {
            outcome.trigger.check("outcome.rate")?;
        }
        if let Some(latency) = &self.latency {
            latency.check()?;
        }
        if let Some(behavior) = &self.behavior {
            behavior.trigger.check("behavior.rate")?;
        }
        if self.fault.is_none()
            && self.outcome.is_none()
            && self.latency.is_none()
            && self.behavior.is_none()
        {
            return Err(ConfigError::new(
                "chaos",
                "injections",
                "must include at least one fault, outcome, latency or behavior injection (got none)",
            ));
        }
        let mut listeners = self.listeners;
        listeners.extend(self.observers.iter().filter_map(|o| o.chaos(self.name)));
        Ok(ChaosLayer {
            config: Arc::new(Config {
                name: self.name,
                switch: self.switch.unwrap_or_default(),
                rng: self
                    .rng
                    .unwrap_or_else(|| Arc::new(SplitMix64::from_entropy())),
                when: self.when,
                behavior: self.behavior,
                latency: self.latency,
                fault: self.fault,
                outcome: self.outcome,
                listeners: listeners.into_boxed_slice(),
            }),
        })
    }
}

impl<Req, Res> fmt::Debug for ChaosLayerBuilder<Req, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosLayerBuilder")
            .field("name", &self.name)
            .field("when", &self.when.is_some())
            .field("behavior", &self.behavior)
            .field("latency", &self.latency)
            .field("fault", &self.fault)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}
