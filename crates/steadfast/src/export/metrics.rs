//! The `metrics` facade export.
// Which parts are used depends on which layers are built (their features); with only some of
// them on, the helpers of the others go unused.
#![cfg_attr(
    not(all(
        feature = "retry",
        feature = "circuit-breaker",
        feature = "cancel",
        feature = "validate",
        feature = "chaos",
        feature = "hedge"
    )),
    allow(dead_code, unused_imports)
)]

use std::sync::Arc;
use std::time::Duration;

use ::metrics::{Counter, Gauge, Histogram, Label, Unit};

use super::names::{self, Instrument, Kind, LAYER};
use crate::observe::Observer;

/// An [`Observer`] that reports every layer's events through the [`metrics`](::metrics)
/// facade, to whichever recorder is installed (Prometheus, StatsD, or any other exporter of
/// that ecosystem). The instruments, their units and attributes are listed in
/// [`names`](super::names) and in `docs/observability.md`.
///
/// Each layer's handles are registered with the recorder once, when the layer is built, for
/// every attribute combination (the sets are small and fixed): an event is then one call on a
/// handle, with no lookup and no lock (an atomic add in the Prometheus exporter). So install
/// the recorder before building the layers; layers built before are reported to the recorder
/// current then.
///
/// `new` also describes every instrument (unit and description) to the current recorder.
///
/// ```
/// use steadfast::export::MetricsExport;
/// use steadfast::retry::RetryPolicy;
///
/// let policy = RetryPolicy::builder()
///     .name("payments")
///     .observe(MetricsExport::new().shared())
///     .build()
///     .unwrap();
/// policy
///     .run_blocking(|n| if n < 2 { Err("busy") } else { Ok(()) })
///     .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct MetricsExport {
    _private: (),
}

impl Default for MetricsExport {
    /// [`MetricsExport::new`].
    fn default() -> Self {
        MetricsExport::new()
    }
}

impl MetricsExport {
    /// An export to the current recorder, with every instrument described to it.
    pub fn new() -> Self {
        for instrument in names::ALL {
            describe(&instrument);
        }
        MetricsExport { _private: () }
    }

    /// The same export as an `Arc<dyn Observer>`, ready for a builder's `observe`.
    pub fn shared(self) -> Arc<dyn Observer> {
        Arc::new(self)
    }
}

fn describe(instrument: &Instrument) {
    let unit = match instrument.unit {
        "s" => Some(Unit::Seconds),
        "1" => None,
        _ => Some(Unit::Count),
    };
    let name = instrument.name;
    let description = instrument.description;
    match (instrument.kind, unit) {
        (Kind::Counter, Some(unit)) => ::metrics::describe_counter!(name, unit, description),
        (Kind::Counter, None) => ::metrics::describe_counter!(name, description),
        (Kind::Histogram, Some(unit)) => ::metrics::describe_histogram!(name, unit, description),
        (Kind::Histogram, None) => ::metrics::describe_histogram!(name, description),
        (Kind::UpDownCounter, Some(unit)) => ::metrics::describe_gauge!(name, unit, description),
        (Kind::UpDownCounter, None) => ::metrics::describe_gauge!(name, description),
    }
}

fn labels(layer: &str, extra: &[(&'static str, &'static str)]) -> Vec<Label> {
    let mut labels = Vec::with_capacity(1 + extra.len());
    labels.push(Label::new(LAYER, layer.to_owned()));
    labels.extend(extra.iter().map(|&(k, v)| Label::new(k, v)));
    labels
}

fn counter(
    instrument: &Instrument,
    layer: &str,
    extra: &[(&'static str, &'static str)],
) -> Counter {
    ::metrics::counter!(instrument.name, labels(layer, extra))
}

fn histogram(
    instrument: &Instrument,
    layer: &str,
    extra: &[(&'static str, &'static str)],
) -> Histogram {
    ::metrics::histogram!(instrument.name, labels(layer, extra))
}

fn gauge(instrument: &Instrument, layer: &str, extra: &[(&'static str, &'static str)]) -> Gauge {
    ::metrics::gauge!(instrument.name, labels(layer, extra))
}

/// One counter per value of `key`.
fn counters<const N: usize>(
    instrument: &Instrument,
    layer: &str,
    key: &'static str,
    values: &[&'static str; N],
) -> [Counter; N] {
    std::array::from_fn(|i| counter(instrument, layer, &[(key, values[i])]))
}

/// One histogram per value of `key`.
fn histograms<const N: usize>(
    instrument: &Instrument,
    layer: &str,
    key: &'static str,
    values: &[&'static str; N],
) -> [Histogram; N] {
    std::array::from_fn(|i| histogram(instrument, layer, &[(key, values[i])]))
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

#[cfg(feature = "retry")]
struct RetryHandles {
    attempts: [Counter; 7],
    attempt_duration: [Histogram; 7],
    requests: [Counter; 3],
    request_duration: [Histogram; 3],
    retries: [Counter; 7],
    give_ups: [Counter; 10],
    budget_rejections: Counter,
}

#[cfg(feature = "retry")]
impl RetryHandles {
    fn new(layer: &str) -> Self {
        use names::*;
        RetryHandles {
            attempts: counters(&RETRY_ATTEMPTS, layer, OUTCOME, &ATTEMPT_OUTCOMES),
            attempt_duration: histograms(
                &RETRY_ATTEMPT_DURATION,
                layer,
                OUTCOME,
                &ATTEMPT_OUTCOMES,
            ),
            requests: counters(&RETRY_REQUESTS, layer, REQUEST_END, &REQUEST_ENDS),
            request_duration: histograms(
                &RETRY_REQUEST_DURATION,
                layer,
                REQUEST_END,
                &REQUEST_ENDS,
            ),
            retries: counters(&RETRY_RETRIES, layer, OUTCOME, &ATTEMPT_OUTCOMES),
            give_ups: counters(&RETRY_GIVE_UPS, layer, STOP_REASON, &STOP_REASONS),
            budget_rejections: counter(&RETRY_BUDGET_REJECTIONS, layer, &[]),
        }
    }

    fn on(&self, event: &crate::retry::RetryEvent<'_>) {
        use crate::retry::RetryEvent;
        match event {
            RetryEvent::AttemptFinished {
                duration, outcome, ..
            } => {
                let i = names::outcome_index(*outcome);
                self.attempts[i].increment(1);
                self.attempt_duration[i].record(seconds(*duration));
            }
            RetryEvent::RequestFinished { elapsed, end, .. } => {
                let i = names::end_index(end);
                self.requests[i].increment(1);
                self.request_duration[i].record(seconds(*elapsed));
            }
            RetryEvent::Retry { outcome, .. } => {
                self.retries[names::outcome_index(*outcome)].increment(1);
            }
            RetryEvent::GiveUp { reason, .. } => {
                self.give_ups[names::stop_index(reason)].increment(1);
            }
            RetryEvent::BudgetExhausted { .. } => self.budget_rejections.increment(1),
            RetryEvent::AttemptStarting { .. } | RetryEvent::Success { .. } => {}
        }
    }
}

#[cfg(feature = "circuit-breaker")]
struct BreakerHandles {
    state: [Gauge; 6],
    transitions: [[Counter; 6]; 6],
    calls: [Counter; 6],
    /// Success, failure, invalid.
    call_duration: [Histogram; 3],
}

#[cfg(feature = "circuit-breaker")]
impl BreakerHandles {
    fn new(layer: &str) -> Self {
        use names::*;
        let state: [Gauge; 6] =
            std::array::from_fn(|i| gauge(&BREAKER_STATUS, layer, &[(STATE, STATES[i])]));
        // A breaker starts closed.
        for (i, gauge) in state.iter().enumerate() {
            gauge.set(if i == 0 { 1.0 } else { 0.0 });
        }
        BreakerHandles {
            state,
            transitions: std::array::from_fn(|from| {
                std::array::from_fn(|to| {
                    if from == to {
                        Counter::noop()
                    } else {
                        counter(
                            &BREAKER_TRANSITIONS,
                            layer,
                            &[(FROM, STATES[from]), (TO, STATES[to])],
                        )
                    }
                })
            }),
            calls: counters(&BREAKER_CALLS, layer, OUTCOME, &BREAKER_OUTCOMES),
            call_duration: histograms(
                &BREAKER_CALL_DURATION,
                layer,
                OUTCOME,
                &BREAKER_TIMED_OUTCOMES,
            ),
        }
    }

    fn on(&self, event: &crate::circuit_breaker::BreakerEvent<'_>) {
        use crate::circuit_breaker::BreakerEvent;
        if let BreakerEvent::StateTransition { from, to, .. } = event {
            let (from, to) = (names::state_index(*from), names::state_index(*to));
            self.transitions[from][to].increment(1);
            for (i, gauge) in self.state.iter().enumerate() {
                gauge.set(if i == to { 1.0 } else { 0.0 });
            }
            return;
        }
        let Some((index, timed)) = names::breaker_call(event) else {
            return;
        };
        self.calls[index].increment(1);
        if let Some((duration, slot)) = timed {
            self.call_duration[slot].record(seconds(duration));
        }
    }
}

#[cfg(feature = "cancel")]
struct CancelHandles {
    requests: [Counter; 4],
    duration: [Histogram; 4],
    cancellations: [Counter; 8],
}

#[cfg(feature = "cancel")]
impl CancelHandles {
    fn new(layer: &str) -> Self {
        use names::*;
        CancelHandles {
            requests: counters(&CANCEL_REQUESTS, layer, OUTCOME, &CANCEL_OUTCOMES),
            duration: histograms(&CANCEL_REQUEST_DURATION, layer, OUTCOME, &CANCEL_OUTCOMES),
            cancellations: counters(&CANCEL_CANCELLATIONS, layer, CANCEL_REASON, &CANCEL_REASONS),
        }
    }

    fn on(&self, event: &crate::cancel::CancelEvent<'_>) {
        use crate::cancel::CancelEvent;
        if let CancelEvent::Cancelled { reason, .. } = event {
            self.cancellations[names::cancel_reason_index(reason)].increment(1);
        }
        let (i, elapsed) = names::cancel_end(event);
        self.requests[i].increment(1);
        self.duration[i].record(seconds(elapsed));
    }
}

#[cfg(feature = "hedge")]
struct HedgeHandles {
    requests: [Counter; 3],
    duration: [Histogram; 3],
    hedges: Counter,
    wins: [Counter; 10],
    losers: Counter,
    stops: [Counter; 6],
}

#[cfg(feature = "hedge")]
impl HedgeHandles {
    fn new(layer: &str) -> Self {
        use names::*;
        HedgeHandles {
            requests: counters(&HEDGE_REQUESTS, layer, HEDGE_END, &HEDGE_ENDS),
            duration: histograms(&HEDGE_REQUEST_DURATION, layer, HEDGE_END, &HEDGE_ENDS),
            hedges: counter(&HEDGE_HEDGES, layer, &[]),
            wins: counters(&HEDGE_WINS, layer, HEDGE_ATTEMPT, &HEDGE_ATTEMPTS),
            losers: counter(&HEDGE_LOSERS, layer, &[]),
            stops: counters(&HEDGE_STOPS, layer, STOP_REASON, &HEDGE_STOP_REASONS),
        }
    }

    fn on(&self, event: &crate::hedge::HedgeEvent) {
        use names::HedgeCount;
        match names::hedge_count(event) {
            Some(HedgeCount::Hedge) => self.hedges.increment(1),
            Some(HedgeCount::End(end, elapsed, winner)) => {
                self.requests[end].increment(1);
                self.duration[end].record(seconds(elapsed));
                if let Some(w) = winner {
                    self.wins[w].increment(1);
                }
            }
            Some(HedgeCount::Losers(n)) => self.losers.increment(n),
            Some(HedgeCount::Stop(i)) => self.stops[i].increment(1),
            None => {}
        }
    }
}

impl Observer for MetricsExport {
    #[cfg(feature = "retry")]
    fn retry(&self, layer: &str) -> Option<crate::observe::RetryListener> {
        let handles = RetryHandles::new(layer);
        Some(Arc::new(move |event| handles.on(event)))
    }

    #[cfg(feature = "circuit-breaker")]
    fn breaker(&self, layer: &str) -> Option<crate::observe::BreakerListener> {
        let handles = BreakerHandles::new(layer);
        Some(Arc::new(move |event| handles.on(event)))
    }

    #[cfg(feature = "cancel")]
    fn cancel(&self, layer: &str) -> Option<crate::observe::CancelListener> {
        let handles = CancelHandles::new(layer);
        Some(Arc::new(move |event| handles.on(event)))
    }

    #[cfg(feature = "validate")]
    fn validate(&self, layer: &str) -> Option<crate::observe::ValidateListener> {
        use crate::validate::ValidateEvent;
        use names::*;
        let failures = counters(
            &VALIDATE_FAILURES,
            layer,
            VALIDATE_TARGET,
            &VALIDATE_TARGETS,
        );
        Some(Arc::new(move |event| match event {
            ValidateEvent::RequestInvalid { .. } => failures[0].increment(1),
            ValidateEvent::ResponseInvalid { .. } => failures[1].increment(1),
            ValidateEvent::ResponseValid { .. } => {}
        }))
    }

    #[cfg(feature = "hedge")]
    fn hedge(&self, layer: &str) -> Option<crate::observe::HedgeListener> {
        let handles = HedgeHandles::new(layer);
        Some(Arc::new(move |event| handles.on(event)))
    }

    #[cfg(feature = "chaos")]
    fn chaos(&self, layer: &str) -> Option<crate::observe::ChaosListener> {
        use crate::chaos::ChaosEvent;
        use names::*;
        let injections = counters(&CHAOS_INJECTIONS, layer, INJECTION, &INJECTIONS);
        Some(Arc::new(move |event| match event {
            ChaosEvent::Injected { injection } => {
                injections[injection_index(*injection)].increment(1)
            }
        }))
    }
}
