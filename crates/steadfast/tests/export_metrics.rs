//! The `metrics` facade export, read back through `metrics-util`'s debugging recorder: every
//! instrument, its values and attributes, its unit and description; then through real retry
//! and breaker layers.
#![cfg(all(
    feature = "metrics",
    feature = "retry",
    feature = "circuit-breaker",
    feature = "cancel",
    feature = "validate",
    feature = "chaos"
))]

mod export_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use export_common::{check, feed, series, Series, Value};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use steadfast::backoff::Backoff;
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::export::{names, MetricsExport};
use steadfast::observe::Observer;
use steadfast::retry::{RetryLayer, RetryPolicy};
use steadfast_test::{Reply, Scripted};
use tower::{Layer, ServiceExt};

/// Every series the recorder holds, with its value.
fn read(snapshotter: &Snapshotter) -> BTreeMap<Series, Value> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (_, key) = key.into_parts();
            let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
            let value = match value {
                DebugValue::Counter(n) => Value::Count(n),
                DebugValue::Gauge(g) => Value::Gauge(g.into_inner()),
                DebugValue::Histogram(values) => Value::Histogram(
                    values.len() as u64,
                    values.iter().map(|v| v.into_inner()).sum(),
                ),
            };
            (series(key.name(), &labels), value)
        })
        .collect()
}

#[test]
fn every_instrument_reports_every_event_under_its_attributes() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || feed(&MetricsExport::new()));
    check(read(&snapshotter));
}

#[test]
fn every_instrument_is_described_with_its_unit() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || feed(&MetricsExport::new()));
    let described: BTreeMap<String, (MetricKind, Option<metrics::Unit>, String)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, unit, description, _)| {
            let kind = key.kind();
            let (_, key) = key.into_parts();
            let description = description.map(|d| d.to_string()).unwrap_or_default();
            (key.name().to_owned(), (kind, unit, description))
        })
        .collect();
    assert_eq!(described.len(), names::ALL.len());
    for instrument in names::ALL {
        let (kind, unit, description) = &described[instrument.name];
        let (want_kind, want_unit) = match instrument.kind {
            names::Kind::Counter => (MetricKind::Counter, Some(metrics::Unit::Count)),
            names::Kind::Histogram => (MetricKind::Histogram, Some(metrics::Unit::Seconds)),
            names::Kind::UpDownCounter => (MetricKind::Gauge, None),
        };
        assert_eq!(
            (*kind, *unit),
            (want_kind, want_unit),
            "{}",
            instrument.name
        );
        assert_eq!(description, instrument.description);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Through real layers, with the listeners given to the builders' `on_event`.
#[test]
fn retry_and_breaker_layers_report_through_the_export() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let export = MetricsExport::new();
        let retry_listener = export.retry("payments").unwrap();
        let breaker_listener = export.breaker("payments-db").unwrap();
        let breaker = CircuitBreaker::builder()
            .name("payments-db")
            .consecutive_failures(3)
            .on_event(move |e| breaker_listener(e))
            .build()
            .unwrap();
        let policy = RetryPolicy::builder()
            .name("payments")
            .max_attempts(3)
            .backoff(Backoff::constant(Duration::from_millis(10)))
            .on_event(move |e| retry_listener(e))
            .build()
            .unwrap();
        // Fails twice, then succeeds; then fails three times (the retries run out, and the
        // breaker opens after three failures in a row); then the open breaker rejects a call.
        let svc = Scripted::new([Reply::err("busy"), Reply::err("busy"), Reply::ok(1)])
            .then_always(Reply::err("down"));
        let guarded = CircuitBreakerLayer::new(breaker).layer(svc);
        let stack = RetryLayer::new(policy).layer(guarded.clone());
        runtime().block_on(async {
            assert_eq!(stack.clone().oneshot(()).await.unwrap(), 1);
            assert!(stack.clone().oneshot(()).await.is_err());
            assert!(guarded.oneshot(()).await.is_err());
        });
    });
    let got = read(&snapshotter);
    let value = |name: &str, attrs: &[(&str, &str)]| got.get(&series(name, attrs)).cloned();
    let (layer, db) = (
        ("steadfast.layer", "payments"),
        ("steadfast.layer", "payments-db"),
    );
    use names::*;
    assert_eq!(
        value(RETRY_RETRIES.name, &[layer, (OUTCOME, "retryable")]),
        Some(Value::Count(4))
    );
    assert_eq!(
        value(
            RETRY_GIVE_UPS.name,
            &[layer, (STOP_REASON, "attempts_exhausted")]
        ),
        Some(Value::Count(1))
    );
    assert_eq!(
        value(BREAKER_CALLS.name, &[db, (OUTCOME, "success")]),
        Some(Value::Count(1))
    );
    assert_eq!(
        value(BREAKER_CALLS.name, &[db, (OUTCOME, "failure")]),
        Some(Value::Count(5))
    );
    assert_eq!(
        value(BREAKER_CALLS.name, &[db, (OUTCOME, "rejected")]),
        Some(Value::Count(1))
    );
    assert_eq!(
        value(
            BREAKER_TRANSITIONS.name,
            &[db, (FROM, "closed"), (TO, "open")]
        ),
        Some(Value::Count(1))
    );
    assert_eq!(
        value(BREAKER_STATUS.name, &[db, (STATE, "open")]),
        Some(Value::Gauge(1.0))
    );
    assert_eq!(
        value(BREAKER_STATUS.name, &[db, (STATE, "closed")]),
        Some(Value::Gauge(0.0))
    );
}

/// The export is an `Observer` that can be shared by every layer of a stack.
#[test]
fn the_export_is_a_shareable_observer() {
    let observer: Arc<dyn Observer> = MetricsExport::new().shared();
    assert!(observer.retry("a").is_some());
}
