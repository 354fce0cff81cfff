//! The `metrics` facade export, read back through `metrics-util`'s debugging recorder: every
//! instrument, its values and attributes, its unit and description; then through a real stack
//! of every kind of layer.
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

use export_common::{check, check_stack, feed, instruments, run_stack, series, Series, Value};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use steadfast::export::{names, MetricsExport};
use steadfast::observe::Observer;

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
    assert_eq!(described.len(), instruments().len());
    for instrument in instruments() {
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

/// Through a real stack, the export given to every layer's builder (`observe`).
#[test]
fn a_real_stack_reports_every_instrument_through_the_export() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || run_stack(MetricsExport::new().shared()));
    check_stack(read(&snapshotter));
}

/// A real hedge layer's request, the export given to its builder (`observe`).
#[cfg(feature = "hedge")]
#[test]
fn a_real_hedge_layer_reports_through_the_export() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        export_common::hedge::run(MetricsExport::new().shared())
    });
    export_common::hedge::check_run(&read(&snapshotter));
}

/// The export is an `Observer` that can be shared by every layer of a stack.
#[test]
fn the_export_is_a_shareable_observer() {
    let observer: Arc<dyn Observer> = MetricsExport::new().shared();
    assert!(observer.retry("a").is_some());
}
