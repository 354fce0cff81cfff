//! The OpenTelemetry export, read back through the SDK's in-memory exporter: every instrument,
//! its values and attributes, its unit and description; then through a real stack of every
//! kind of layer.
#![cfg(all(
    feature = "opentelemetry",
    feature = "retry",
    feature = "circuit-breaker",
    feature = "cancel",
    feature = "validate",
    feature = "chaos"
))]

mod export_common;

use std::collections::BTreeMap;

use export_common::{check, check_stack, feed, instruments, run_stack, series, Series, Value};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use steadfast::export::{names, OtelExport};
use steadfast::observe::Observer;

struct Sdk {
    provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

fn sdk() -> (Sdk, OtelExport) {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let export = OtelExport::new(&provider.meter("steadfast-test"));
    (Sdk { provider, exporter }, export)
}

fn attributes<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> Vec<(String, String)> {
    kvs.map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

impl Sdk {
    /// Collects, and calls `f` with every metric the provider exported.
    fn collect<R>(&self, f: impl FnOnce(Vec<&Metric>) -> R) -> R {
        self.provider.force_flush().unwrap();
        let mut batches = self.exporter.get_finished_metrics().unwrap();
        let last = batches.pop().expect("one collection");
        f(last
            .scope_metrics()
            .flat_map(|scope| scope.metrics())
            .collect())
    }

    /// Every series, with its value.
    fn read(&self) -> BTreeMap<Series, Value> {
        let mut out = BTreeMap::new();
        self.collect(|metrics| {
            for metric in metrics {
                let name = metric.name().to_owned();
                let mut put = |attrs: Vec<(String, String)>, value: Value| {
                    let attrs: Vec<(&str, &str)> = attrs
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    let key = series(&name, &attrs);
                    assert!(out.insert(key, value).is_none(), "a series reported twice");
                };
                match metric.data() {
                    AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                        assert!(sum.is_monotonic(), "{name}");
                        for p in sum.data_points() {
                            put(attributes(p.attributes()), Value::Count(p.value()));
                        }
                    }
                    AggregatedMetrics::I64(MetricData::Sum(sum)) => {
                        assert!(!sum.is_monotonic(), "{name}");
                        for p in sum.data_points() {
                            put(attributes(p.attributes()), Value::Gauge(p.value() as f64));
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            put(
                                attributes(p.attributes()),
                                Value::Histogram(p.count(), p.sum()),
                            );
                        }
                    }
                    other => panic!("{name}: unexpected data {other:?}"),
                }
            }
        });
        out
    }
}

#[test]
fn every_instrument_reports_every_event_under_its_attributes() {
    let (sdk, export) = sdk();
    feed(&export);
    check(sdk.read());
}

#[test]
fn every_instrument_has_its_unit_and_description() {
    let (sdk, export) = sdk();
    feed(&export);
    sdk.collect(|metrics| {
        assert_eq!(metrics.len(), instruments().len());
        for instrument in instruments() {
            let metric = metrics
                .iter()
                .find(|m| m.name() == instrument.name)
                .unwrap_or_else(|| panic!("{} not exported", instrument.name));
            assert_eq!(metric.unit(), instrument.unit, "{}", instrument.name);
            assert_eq!(metric.description(), instrument.description);
        }
    });
}

/// Layers built again under the same name share their counters: one series, not two.
#[test]
fn layers_of_the_same_name_share_their_series() {
    let (sdk, export) = sdk();
    for _ in 0..2 {
        let listener = export.retry("same").unwrap();
        listener(&steadfast::retry::RetryEvent::BudgetExhausted { attempts: 1 });
    }
    let got = sdk.read();
    assert_eq!(
        got.get(&series(
            names::RETRY_BUDGET_REJECTIONS.name,
            &[("steadfast.layer", "same")]
        )),
        Some(&Value::Count(2))
    );
}

/// Through a real stack, the export given to every layer's builder (`observe`).
#[test]
fn a_real_stack_reports_every_instrument_through_the_export() {
    let (sdk, export) = sdk();
    run_stack(export.shared());
    check_stack(sdk.read());
}

/// A real hedge layer's request, the export given to its builder (`observe`).
#[cfg(feature = "hedge")]
#[test]
fn a_real_hedge_layer_reports_through_the_export() {
    let (sdk, export) = sdk();
    export_common::hedge::run(export.shared());
    export_common::hedge::check_run(&sdk.read());
}

#[test]
fn the_export_is_a_shareable_observer() {
    let (_sdk, export) = sdk();
    let observer = export.shared();
    assert!(observer.breaker("a").is_some());
}
