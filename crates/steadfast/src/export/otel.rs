//! The OpenTelemetry export.
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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry::metrics::{AsyncInstrument, Histogram, Meter};
use opentelemetry::KeyValue;

use super::names::{self, Instrument, LAYER};
use crate::observe::Observer;

/// An [`Observer`] that reports every layer's events as OpenTelemetry metrics, through a
/// [`Meter`] of the `opentelemetry` crate's API. The instruments, their units and attributes
/// are listed in [`names`](super::names) and in `docs/observability.md`.
///
/// Counters and the breaker status are relaxed atomics kept per layer (one per attribute
/// combination), read by observable instruments when the meter provider collects: an event
/// is one atomic add, with no lock and no attribute lookup. Durations go to the SDK's
/// histograms through `Histogram::record`, with attribute sets made once per layer: the SDK
/// then finds the series for those attributes (a hash of the set and a read-locked map
/// lookup) and updates its buckets, which costs more than a counter (see
/// `docs/benchmarks.md`).
///
/// Layers with the same name share their counters, so building a layer again does not make a
/// second series. The map of layers is locked only when a layer is built and when the
/// provider collects.
///
/// ```
/// use steadfast::export::OtelExport;
/// use steadfast::retry::RetryPolicy;
///
/// let meter = opentelemetry::global::meter("my-service");
/// let policy = RetryPolicy::builder()
///     .name("payments")
///     .observe(OtelExport::new(&meter).shared())
///     .build()
///     .unwrap();
/// policy
///     .run_blocking(|n| if n < 2 { Err("busy") } else { Ok(()) })
///     .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct OtelExport {
    layers: Arc<Layers>,
    histograms: Arc<Histograms>,
}

#[derive(Debug)]
struct Histograms {
    attempt_duration: Histogram<f64>,
    request_duration: Histogram<f64>,
    call_duration: Histogram<f64>,
    cancel_duration: Histogram<f64>,
    hedge_duration: Histogram<f64>,
}

/// Every layer's counters, by name, for the observable instruments to read.
#[derive(Debug, Default)]
struct Layers {
    retry: Registry<RetryCells>,
    breaker: Registry<BreakerCells>,
    cancel: Registry<CancelCells>,
    validate: Registry<Cells<2>>,
    chaos: Registry<Cells<4>>,
    hedge: Registry<HedgeCells>,
}

#[derive(Debug)]
struct Registry<T>(Mutex<HashMap<String, Arc<T>>>);

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry(Mutex::new(HashMap::new()))
    }
}

impl<T: Default> Registry<T> {
    /// The counters of the layer named `layer`, made on first use.
    fn get(&self, layer: &str) -> Arc<T> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cells) = map.get(layer) {
            return cells.clone();
        }
        let cells = Arc::new(T::default());
        map.insert(layer.to_owned(), cells.clone());
        cells
    }

    /// Calls `f` with each layer's name and counters.
    fn each(&self, mut f: impl FnMut(&KeyValue, &T)) {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (layer, cells) in map.iter() {
            f(&KeyValue::new(LAYER, layer.clone()), cells);
        }
    }
}

/// `N` relaxed counters, one per value of an attribute.
#[derive(Debug)]
struct Cells<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for Cells<N> {
    fn default() -> Self {
        Cells(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl<const N: usize> Cells<N> {
    fn add(&self, i: usize) {
        self.0[i].fetch_add(1, Relaxed);
    }

    fn add_n(&self, i: usize, n: u64) {
        self.0[i].fetch_add(n, Relaxed);
    }

    /// Reports each counter with `layer` and its value of `key`.
    fn observe(
        &self,
        out: &dyn AsyncInstrument<u64>,
        layer: &KeyValue,
        key: &'static str,
        values: &[&'static str; N],
    ) {
        for (cell, value) in self.0.iter().zip(values) {
            out.observe(
                cell.load(Relaxed),
                &[layer.clone(), KeyValue::new(key, *value)],
            );
        }
    }
}

#[derive(Debug, Default)]
struct RetryCells {
    attempts: Cells<7>,
    requests: Cells<3>,
    retries: Cells<7>,
    give_ups: Cells<10>,
    budget_rejections: Cells<1>,
}

#[derive(Debug, Default)]
struct BreakerCells {
    /// Index in [`names::STATES`] of the current state (0, closed, at first).
    state: AtomicUsize,
    transitions: [Cells<6>; 6],
    calls: Cells<6>,
}

#[derive(Debug, Default)]
struct CancelCells {
    requests: Cells<4>,
    cancellations: Cells<8>,
}

#[derive(Debug, Default)]
struct HedgeCells {
    requests: Cells<3>,
    hedges: Cells<1>,
    wins: Cells<10>,
    losers: Cells<1>,
    stops: Cells<6>,
}

fn counter(
    meter: &Meter,
    instrument: &Instrument,
    callback: impl Fn(&dyn AsyncInstrument<u64>) + Send + Sync + 'static,
) {
    // The SDK keeps the callback; the handle itself can go.
    let _ = meter
        .u64_observable_counter(instrument.name)
        .with_unit(instrument.unit)
        .with_description(instrument.description)
        .with_callback(callback)
        .build();
}

fn histogram(meter: &Meter, instrument: &Instrument) -> Histogram<f64> {
    meter
        .f64_histogram(instrument.name)
        .with_unit(instrument.unit)
        .with_description(instrument.description)
        .build()
}

impl OtelExport {
    /// An export whose instruments are made on `meter` now: the observable counters and
    /// up-down counter (read at each collection) and the duration histograms.
    pub fn new(meter: &Meter) -> Self {
        use names::*;
        let layers = Arc::new(Layers::default());
        let l = layers.clone();
        counter(meter, &RETRY_ATTEMPTS, move |out| {
            l.retry
                .each(|layer, c| c.attempts.observe(out, layer, OUTCOME, &ATTEMPT_OUTCOMES))
        });
        let l = layers.clone();
        counter(meter, &RETRY_REQUESTS, move |out| {
            l.retry
                .each(|layer, c| c.requests.observe(out, layer, REQUEST_END, &REQUEST_ENDS))
        });
        let l = layers.clone();
        counter(meter, &RETRY_RETRIES, move |out| {
            l.retry
                .each(|layer, c| c.retries.observe(out, layer, OUTCOME, &ATTEMPT_OUTCOMES))
        });
        let l = layers.clone();
        counter(meter, &RETRY_GIVE_UPS, move |out| {
            l.retry
                .each(|layer, c| c.give_ups.observe(out, layer, STOP_REASON, &STOP_REASONS))
        });
        let l = layers.clone();
        counter(meter, &RETRY_BUDGET_REJECTIONS, move |out| {
            l.retry.each(|layer, c| {
                out.observe(
                    c.budget_rejections.0[0].load(Relaxed),
                    std::slice::from_ref(layer),
                )
            })
        });
        let l = layers.clone();
        let _ = meter
            .i64_observable_up_down_counter(BREAKER_STATUS.name)
            .with_unit(BREAKER_STATUS.unit)
            .with_description(BREAKER_STATUS.description)
            .with_callback(move |out| {
                l.breaker.each(|layer, c| {
                    let current = c.state.load(Relaxed);
                    for (i, state) in STATES.iter().enumerate() {
                        out.observe(
                            i64::from(i == current),
                            &[layer.clone(), KeyValue::new(STATE, *state)],
                        );
                    }
                })
            })
            .build();
        let l = layers.clone();
        counter(meter, &BREAKER_TRANSITIONS, move |out| {
            l.breaker.each(|layer, c| {
                for (from, cells) in c.transitions.iter().enumerate() {
                    for (to, cell) in cells.0.iter().enumerate() {
                        if from != to {
                            out.observe(
                                cell.load(Relaxed),
                                &[
                                    layer.clone(),
                                    KeyValue::new(FROM, STATES[from]),
                                    KeyValue::new(TO, STATES[to]),
                                ],
                            );
                        }
                    }
                }
            })
        });
        let l = layers.clone();
        counter(meter, &BREAKER_CALLS, move |out| {
            l.breaker
                .each(|layer, c| c.calls.observe(out, layer, OUTCOME, &BREAKER_OUTCOMES))
        });
        let l = layers.clone();
        counter(meter, &CANCEL_REQUESTS, move |out| {
            l.cancel
                .each(|layer, c| c.requests.observe(out, layer, OUTCOME, &CANCEL_OUTCOMES))
        });
        let l = layers.clone();
        counter(meter, &CANCEL_CANCELLATIONS, move |out| {
            l.cancel.each(|layer, c| {
                c.cancellations
                    .observe(out, layer, CANCEL_REASON, &CANCEL_REASONS)
            })
        });
        let l = layers.clone();
        counter(meter, &VALIDATE_FAILURES, move |out| {
            l.validate
                .each(|layer, c| c.observe(out, layer, VALIDATE_TARGET, &VALIDATE_TARGETS))
        });
        let l = layers.clone();
        counter(meter, &CHAOS_INJECTIONS, move |out| {
            l.chaos
                .each(|layer, c| c.observe(out, layer, INJECTION, &INJECTIONS))
        });
        let l = layers.clone();
        counter(meter, &HEDGE_REQUESTS, move |out| {
            l.hedge
                .each(|layer, c| c.requests.observe(out, layer, HEDGE_END, &HEDGE_ENDS))
        });
        let l = layers.clone();
        counter(meter, &HEDGE_HEDGES, move |out| {
            l.hedge.each(|layer, c| {
                out.observe(c.hedges.0[0].load(Relaxed), std::slice::from_ref(layer))
            })
        });
        let l = layers.clone();
        counter(meter, &HEDGE_WINS, move |out| {
            l.hedge
                .each(|layer, c| c.wins.observe(out, layer, HEDGE_ATTEMPT, &HEDGE_ATTEMPTS))
        });
        let l = layers.clone();
        counter(meter, &HEDGE_LOSERS, move |out| {
            l.hedge.each(|layer, c| {
                out.observe(c.losers.0[0].load(Relaxed), std::slice::from_ref(layer))
            })
        });
        let l = layers.clone();
        counter(meter, &HEDGE_STOPS, move |out| {
            l.hedge.each(|layer, c| {
                c.stops
                    .observe(out, layer, STOP_REASON, &HEDGE_STOP_REASONS)
            })
        });
        let histograms = Arc::new(Histograms {
            attempt_duration: histogram(meter, &RETRY_ATTEMPT_DURATION),
            request_duration: histogram(meter, &RETRY_REQUEST_DURATION),
            call_duration: histogram(meter, &BREAKER_CALL_DURATION),
            cancel_duration: histogram(meter, &CANCEL_REQUEST_DURATION),
            hedge_duration: histogram(meter, &HEDGE_REQUEST_DURATION),
        });
        OtelExport { layers, histograms }
    }

    /// The same export as an `Arc<dyn Observer>`, ready for a builder's `observe`.
    pub fn shared(self) -> Arc<dyn Observer> {
        Arc::new(self)
    }
}

/// The attribute sets `[layer, key = value]`, one per value, made once per layer.
#[cfg(any(
    feature = "retry",
    feature = "circuit-breaker",
    feature = "cancel",
    feature = "hedge"
))]
fn attribute_sets<const N: usize>(
    layer: &str,
    key: &'static str,
    values: &[&'static str; N],
) -> [[KeyValue; 2]; N] {
    std::array::from_fn(|i| {
        [
            KeyValue::new(LAYER, layer.to_owned()),
            KeyValue::new(key, values[i]),
        ]
    })
}

#[cfg(any(
    feature = "retry",
    feature = "circuit-breaker",
    feature = "cancel",
    feature = "hedge"
))]
fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

impl Observer for OtelExport {
    #[cfg(feature = "retry")]
    fn retry(&self, layer: &str) -> Option<crate::observe::RetryListener> {
        use crate::retry::RetryEvent;
        use names::*;
        let cells = self.layers.retry.get(layer);
        let histograms = self.histograms.clone();
        let by_outcome = attribute_sets(layer, OUTCOME, &ATTEMPT_OUTCOMES);
        let by_end = attribute_sets(layer, REQUEST_END, &REQUEST_ENDS);
        Some(Arc::new(move |event| match event {
            RetryEvent::AttemptFinished {
                duration, outcome, ..
            } => {
                let i = outcome_index(*outcome);
                cells.attempts.add(i);
                histograms
                    .attempt_duration
                    .record(seconds(*duration), &by_outcome[i]);
            }
            RetryEvent::RequestFinished { elapsed, end, .. } => {
                let i = end_index(end);
                cells.requests.add(i);
                histograms
                    .request_duration
                    .record(seconds(*elapsed), &by_end[i]);
            }
            RetryEvent::Retry { outcome, .. } => cells.retries.add(outcome_index(*outcome)),
            RetryEvent::GiveUp { reason, .. } => cells.give_ups.add(stop_index(reason)),
            RetryEvent::BudgetExhausted { .. } => cells.budget_rejections.add(0),
            RetryEvent::AttemptStarting { .. } | RetryEvent::Success { .. } => {}
        }))
    }

    #[cfg(feature = "circuit-breaker")]
    fn breaker(&self, layer: &str) -> Option<crate::observe::BreakerListener> {
        use crate::circuit_breaker::BreakerEvent;
        use names::*;
        let cells = self.layers.breaker.get(layer);
        let histograms = self.histograms.clone();
        let by_outcome = attribute_sets(layer, OUTCOME, &BREAKER_TIMED_OUTCOMES);
        Some(Arc::new(move |event| {
            if let BreakerEvent::StateTransition { from, to, .. } = event {
                let to = state_index(*to);
                cells.transitions[state_index(*from)].add(to);
                cells.state.store(to, Relaxed);
                return;
            }
            let Some((index, timed)) = breaker_call(event) else {
                return;
            };
            cells.calls.add(index);
            if let Some((duration, slot)) = timed {
                histograms
                    .call_duration
                    .record(seconds(duration), &by_outcome[slot]);
            }
        }))
    }

    #[cfg(feature = "cancel")]
    fn cancel(&self, layer: &str) -> Option<crate::observe::CancelListener> {
        use crate::cancel::CancelEvent;
        use names::*;
        let cells = self.layers.cancel.get(layer);
        let histograms = self.histograms.clone();
        let by_outcome = attribute_sets(layer, OUTCOME, &CANCEL_OUTCOMES);
        Some(Arc::new(move |event| {
            if let CancelEvent::Cancelled { reason, .. } = event {
                cells.cancellations.add(cancel_reason_index(reason));
            }
            let (i, elapsed) = cancel_end(event);
            cells.requests.add(i);
            histograms
                .cancel_duration
                .record(seconds(elapsed), &by_outcome[i]);
        }))
    }

    #[cfg(feature = "validate")]
    fn validate(&self, layer: &str) -> Option<crate::observe::ValidateListener> {
        use crate::validate::ValidateEvent;
        let cells = self.layers.validate.get(layer);
        Some(Arc::new(move |event| match event {
            ValidateEvent::RequestInvalid { .. } => cells.add(0),
            ValidateEvent::ResponseInvalid { .. } => cells.add(1),
            ValidateEvent::ResponseValid { .. } => {}
        }))
    }

    #[cfg(feature = "hedge")]
    fn hedge(&self, layer: &str) -> Option<crate::observe::HedgeListener> {
        use names::*;
        let cells = self.layers.hedge.get(layer);
        let histograms = self.histograms.clone();
        let by_end = attribute_sets(layer, HEDGE_END, &HEDGE_ENDS);
        Some(Arc::new(move |event| match hedge_count(event) {
            Some(HedgeCount::Hedge) => cells.hedges.add(0),
            Some(HedgeCount::End(end, elapsed, winner)) => {
                cells.requests.add(end);
                histograms
                    .hedge_duration
                    .record(seconds(elapsed), &by_end[end]);
                if let Some(w) = winner {
                    cells.wins.add(w);
                }
            }
            Some(HedgeCount::Losers(n)) => cells.losers.add_n(0, n),
            Some(HedgeCount::Stop(i)) => cells.stops.add(i),
            None => {}
        }))
    }

    #[cfg(feature = "chaos")]
    fn chaos(&self, layer: &str) -> Option<crate::observe::ChaosListener> {
        use crate::chaos::ChaosEvent;
        let cells = self.layers.chaos.get(layer);
        Some(Arc::new(move |event| match event {
            ChaosEvent::Injected { injection } => cells.add(names::injection_index(*injection)),
        }))
    }
}
