//! A chaos layer's settings, shared by its services, and what they inject into one request.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::behavior::BehaviorInjection;
use super::error::{ChaosError, Injection};
use super::events::ChaosEvent;
use super::fault::FaultInjection;
use super::latency::LatencyInjection;
use super::outcome::OutcomeInjection;
use super::switch::ChaosSwitch;
use super::trigger::Predicate;
use crate::observe::ChaosListener;
use crate::random::RandomSource;
use crate::token::HasCancelToken;
use crate::trace::Decision;
use crate::BoxError;

/// The settings of a [`ChaosLayer`](super::ChaosLayer), behind one `Arc` its services share.
pub(crate) struct Config<Req, Res> {
    pub(crate) name: &'static str,
    pub(crate) switch: ChaosSwitch,
    pub(crate) rng: Arc<dyn RandomSource>,
    pub(crate) when: Option<Predicate<Req>>,
    pub(crate) behavior: Option<BehaviorInjection<Req>>,
    pub(crate) latency: Option<LatencyInjection<Req>>,
    pub(crate) fault: Option<FaultInjection<Req>>,
    pub(crate) outcome: Option<OutcomeInjection<Req, Res>>,
    /// The listeners to the layer's events (empty for none).
    pub(crate) listeners: Box<[ChaosListener]>,
}

/// What the layer does to one request: a delay before the answer, and an answer of its own
/// instead of the service's.
pub(crate) struct Plan<Res> {
    pub(crate) delay: Option<Duration>,
    pub(crate) answer: Option<Result<Res, BoxError>>,
}

impl<Req, Res> Config<Req, Res> {
    /// Decides the injections for `req`, in their fixed order (behaviour, latency, fault,
    /// outcome), running the behaviour on it if that fires, and tells `tracing` of each one.
    ///
    /// Each injection is also recorded in the request's decision trace, if it has one.
    pub(crate) fn plan(&self, req: &mut Req) -> Plan<Res>
    where
        Req: HasCancelToken,
    {
        let mut plan = Plan {
            delay: None,
            answer: None,
        };
        if self.when.as_ref().is_some_and(|when| !when(req)) {
            return plan;
        }
        let rng = &*self.rng;
        if let Some(behavior) = self.behavior.as_ref() {
            if behavior.trigger.fires(req, rng) {
                self.announce(Injection::Behavior, None, req);
                behavior.run(req);
            }
        }
        if let Some(latency) = self.latency.as_ref() {
            if latency.trigger.fires(req, rng) {
                let delay = latency.delay(rng);
                self.announce(Injection::Latency, Some(delay), req);
                plan.delay = Some(delay);
            }
        }
        if let Some(fault) = self.fault.as_ref() {
            if fault.trigger.fires(req, rng) {
                self.announce(Injection::Fault, None, req);
                let mut error = fault.make(self.name, req);
                if crate::trace::armed() {
                    give_trace(&mut error, req);
                }
                plan.answer = Some(Err(error));
                return plan;
            }
        }
        if let Some(outcome) = self.outcome.as_ref() {
            if outcome.trigger.fires(req, rng) {
                self.announce(Injection::Outcome, None, req);
                plan.answer = Some(Ok(outcome.make(req)));
            }
        }
        plan
    }

    /// The `tracing` event of one injection, and its [`ChaosEvent`] to the listeners.
    /// The injection is also recorded in `req`'s decision trace, when it has one.
    fn announce(&self, injection: Injection, delay: Option<Duration>, req: &Req)
    where
        Req: HasCancelToken,
    {
        if crate::trace::armed() {
            record_injection(self.name, injection, req);
        }
        for l in self.listeners.iter() {
            l(&ChaosEvent::Injected { injection });
        }
        match delay {
            Some(delay) => tracing::info!(
                layer = self.name,
                injection = injection.as_str(),
                delay_ms = delay.as_millis() as u64,
                "chaos injected"
            ),
            None => tracing::info!(
                layer = self.name,
                injection = injection.as_str(),
                "chaos injected"
            ),
        }
    }
}

/// Records `injection` in `req`'s decision trace, if it has one.
#[cold]
#[inline(never)]
fn record_injection<Req: HasCancelToken>(layer: &'static str, injection: Injection, req: &Req) {
    if let Some(trace) = req.decision_trace() {
        trace.record(
            layer,
            Decision::Injected {
                fault: Cow::Borrowed(injection.as_str()),
            },
        );
    }
}

/// Gives an injected [`ChaosError`] the decision trace of `req`, if it has one.
#[cold]
#[inline(never)]
fn give_trace<Req: HasCancelToken>(error: &mut BoxError, req: &Req) {
    if let (Some(chaos), Some(trace)) = (error.downcast_mut::<ChaosError>(), req.decision_trace()) {
        chaos.set_trace(trace.clone());
    }
}

impl<Req, Res> fmt::Debug for Config<Req, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosLayer")
            .field("name", &self.name)
            .field("on", &self.switch.is_on())
            .field("when", &self.when.is_some())
            .field("behavior", &self.behavior)
            .field("latency", &self.latency)
            .field("fault", &self.fault)
            .field("outcome", &self.outcome)
            .finish()
    }
}
