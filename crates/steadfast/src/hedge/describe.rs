//! What a hedge layer says about itself in a stack's description ([`crate::describe`]).

use super::delay::{DelayKind, HedgeDelay, HedgeMode};
use super::layer::HedgeLayer;
use super::service::Hedge;
use super::settings::Settings;
use crate::describe::{type_label, Describe, LayerDescription, Value};

/// A delay's kind and settings, under the names of the methods that set them.
fn describe_delay(delay: &HedgeDelay) -> Value {
    match &delay.0 {
        DelayKind::Fixed(d) => Value::variant("fixed").with("delay", *d),
        DelayKind::Fn(_) => Value::text("custom"),
        DelayKind::Percentile(p) => Value::variant("percentile")
            .with("quantile", p.quantile)
            .with("floor", p.floor)
            .with("min_samples", p.min_samples)
            .with("fallback", p.fallback)
            .with("window", p.histogram.window()),
    }
}

/// The settings, in the order of the builder's methods (the delay only for the latency mode,
/// the only one that waits).
fn describe_settings<C, K>(s: &Settings) -> LayerDescription {
    let mut d = LayerDescription::new("hedge");
    if let Some(name) = &s.name {
        d = d.named(name.clone());
    }
    d = d
        .with("mode", Value::text(s.mode.to_string()))
        .with_some(
            "delay",
            (s.mode == HedgeMode::Latency).then(|| describe_delay(&s.delay)),
        )
        .with("max_attempts", s.max_attempts)
        .with_some("budget", s.budget.as_ref().map(|b| b.describe()));
    if !s.deposit {
        d = d.with("deposit_requests", false);
    }
    d = d
        .with("classify", type_label::<C>())
        .with("clone_requests", type_label::<K>());
    if !s.listeners.is_empty() {
        d = d.with("on_event", true);
    }
    d
}

/// `hedge "name": mode latency, delay percentile (...), max_attempts 2, budget ...`.
impl<C, K> Describe for HedgeLayer<C, K> {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![describe_settings::<C, K>(self.settings())]
    }
}

/// The hedge layer's description, then the inner service's.
impl<S: Describe, C, K> Describe for Hedge<S, C, K> {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut layers = vec![describe_settings::<C, K>(self.settings())];
        layers.extend(self.get_ref().describe());
        layers
    }
}
