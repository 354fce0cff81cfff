//! What the chaos layer says about itself in a stack's description ([`crate::describe`]).

use super::config::Config;
use super::trigger::Trigger;
use super::{Chaos, ChaosLayer, ChaosSwitch};
use crate::describe::{Describe, LayerDescription, Value};

fn switch(s: &ChaosSwitch) -> Value {
    Value::text(if s.is_on() { "on" } else { "off" })
}

/// An injection: its kind and parameters, then when it fires.
fn injection<Req>(kind: Value, trigger: &Trigger<Req>) -> Value {
    let mut v = kind.with("rate", Value::Percent(trigger.rate * 100.0));
    if let Some(s) = &trigger.switch {
        v = v.with("switch", switch(s));
    }
    if trigger.when.is_some() {
        v = v.with("when", "custom");
    }
    v
}

fn describe_config<Req, Res>(config: &Config<Req, Res>) -> LayerDescription {
    let mut d = LayerDescription::new("chaos");
    if config.name != "chaos" {
        d = d.named(config.name);
    }
    d = d.with("switch", switch(&config.switch));
    if config.when.is_some() {
        d = d.with("when", "custom");
    }
    if let Some(b) = &config.behavior {
        d = d.with("behavior", injection(Value::variant("custom"), &b.trigger));
    }
    if let Some(l) = &config.latency {
        d = d.with("latency", injection(l.delay_value(), &l.trigger));
    }
    if let Some(f) = &config.fault {
        let kind = if f.is_chaos_error() {
            "chaos"
        } else {
            "custom"
        };
        d = d.with("fault", injection(Value::variant(kind), &f.trigger));
    }
    if let Some(o) = &config.outcome {
        d = d.with("outcome", injection(Value::variant("custom"), &o.trigger));
    }
    d
}

/// `chaos "name": switch on, latency fixed (delay 50ms, rate 10%), fault chaos (rate 1%)`:
/// the layer's switch and each injection with its rate.
impl<Req, Res> Describe for ChaosLayer<Req, Res> {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![describe_config(self.config_ref())]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe, Req, Res> Describe for Chaos<S, Req, Res> {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut layers = vec![describe_config(self.config_ref())];
        layers.extend(self.get_ref().describe());
        layers
    }
}
