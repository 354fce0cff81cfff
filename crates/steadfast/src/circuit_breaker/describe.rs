//! What the circuit breaker layers say about themselves in a stack's description
//! ([`crate::describe`]).

use std::time::Duration;

use super::breaker::BreakerRef;
use super::live::ProbeRule;
use super::{
    CircuitBreaker, CircuitBreakerLayer, CircuitBreakerService, KeyedBreakers,
    KeyedCircuitBreakerLayer, KeyedCircuitBreakerService, SlidingWindow,
};
use crate::describe::{is_type, type_label, Describe, LayerDescription, Setting, Value};

/// `count (size 100)` or `time (length 10s, buckets 10)`.
impl From<SlidingWindow> for Value {
    fn from(w: SlidingWindow) -> Self {
        match w {
            SlidingWindow::Count(n) => Value::variant("count").with("size", n),
            SlidingWindow::Time { length, buckets } => Value::variant("time")
                .with("length", length)
                .with("buckets", buckets),
        }
    }
}

/// A breaker's settings, in the order of its builder's methods.
fn breaker_settings(breaker: &CircuitBreaker) -> Vec<Setting> {
    let core = &*breaker.core;
    let cfg = core.config();
    let percent = |bp: u32| Value::Percent(f64::from(bp) / 100.0);
    let mut out = Vec::new();
    let mut push = |key: &'static str, value: Value| out.push(Setting::new(key, value));
    if let Some(bp) = cfg.failure_rate_bp {
        push("failure_rate", percent(bp));
    }
    if let (Some(bp), Some(threshold)) = (cfg.slow_rate_bp, cfg.slow_threshold) {
        push(
            "slow_call_rate",
            Value::List(vec![percent(bp), threshold.into()]),
        );
    }
    if let Some(n) = cfg.consecutive_failures {
        push("consecutive_failures", n.into());
    }
    push("minimum_calls", cfg.minimum_calls.into());
    let window = match core.window().size() {
        Ok(size) => super::SlidingWindow::Count(size),
        Err((length, buckets)) => super::SlidingWindow::Time { length, buckets },
    };
    push("window", window.into());
    push("half_open_max_calls", cfg.half_open_max_calls.into());
    let rule = match cfg.half_open_rule {
        ProbeRule::FirstFailure => {
            push("success_threshold", cfg.success_threshold.into());
            "first_failure"
        }
        ProbeRule::Rates => "rates",
    };
    push("half_open_rule", Value::text(rule));
    if cfg.max_half_open != u64::MAX {
        push(
            "max_half_open",
            Duration::from_nanos(cfg.max_half_open).into(),
        );
    }
    push("open_backoff", (&cfg.open_backoff).into());
    push("count_cancellations", cfg.count_cancellations.into());
    push("count_invalid", cfg.count_invalid.into());
    out
}

/// A layer of `kind` named as `breaker` is (unless it kept the default name).
fn named(kind: &'static str, breaker: &CircuitBreaker) -> LayerDescription {
    let layer = LayerDescription::new(kind);
    match breaker.name() {
        "circuit-breaker" => layer,
        name => layer.named(name.to_owned()),
    }
}

/// The layer's classifier and fallback, after the breaker's settings.
fn layer_settings<C, F>(
    mut layer: LayerDescription,
    backpressure: Option<Duration>,
) -> LayerDescription {
    layer = layer.with("classify", type_label::<C>());
    if !is_type::<F>("NoFallback") {
        layer = layer.with("fallback", type_label::<F>());
    }
    layer.with_some("backpressure", backpressure)
}

fn describe_breaker<C, F>(
    breaker: &CircuitBreaker,
    backpressure: Option<Duration>,
) -> LayerDescription {
    let mut layer = named("circuit-breaker", breaker);
    for s in breaker_settings(breaker) {
        layer = layer.with(s.key().to_owned(), s.value().clone());
    }
    layer_settings::<C, F>(layer, backpressure)
}

fn describe_keyed<K, KF, C, F>(breakers: &KeyedBreakers<K>) -> LayerDescription {
    let mut layer = LayerDescription::new("keyed-circuit-breaker")
        .with("max_keys", breakers.max_keys())
        .with("idle_timeout", breakers.idle_timeout())
        .with("key", type_label::<KF>());
    if let Some(sample) = breakers.sample() {
        layer = layer.with(
            "breaker",
            Value::Variant {
                kind: "circuit-breaker".into(),
                settings: breaker_settings(&sample),
            },
        );
    }
    layer_settings::<C, F>(layer, None)
}

/// `circuit-breaker "name": failure_rate 50%, minimum_calls 100, window count (size 100), ...`:
/// the breaker's settings, then the layer's classifier, fallback and backpressure.
impl<C, F, B: BreakerRef> Describe for CircuitBreakerLayer<C, F, B> {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![describe_breaker::<C, F>(
            self.breaker(),
            self.backpressure_recheck(),
        )]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe, C, F, B: BreakerRef> Describe for CircuitBreakerService<S, C, F, B> {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut layers = vec![describe_breaker::<C, F>(
            self.breaker(),
            self.backpressure_recheck(),
        )];
        layers.extend(self.get_ref().describe());
        layers
    }
}

/// `keyed-circuit-breaker: max_keys 1024, idle_timeout 10m, key custom, breaker
/// circuit-breaker (...)`: the set's limits, and the settings every key's breaker is built
/// with.
impl<K, KF, C, F> Describe for KeyedCircuitBreakerLayer<K, KF, C, F> {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![describe_keyed::<K, KF, C, F>(self.breakers_ref())]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe, K, KF, C, F> Describe for KeyedCircuitBreakerService<S, K, KF, C, F> {
    fn describe(&self) -> Vec<LayerDescription> {
        let (breakers, inner) = self.parts_ref();
        let mut layers = vec![describe_keyed::<K, KF, C, F>(breakers)];
        layers.extend(inner.describe());
        layers
    }
}
