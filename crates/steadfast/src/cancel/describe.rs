//! What the cancel layer says about itself in a stack's description ([`crate::describe`]).

use super::plan::Config;
use super::{Cancel, CancelLayer};
use crate::describe::{until, Describe, LayerDescription, Value};

/// `cancel: timeout 2s, ...`: the sources of cancellation the layer adds to every request's
/// token, under the names of the builder methods that add them.
pub(crate) fn describe_config(config: &Config) -> LayerDescription {
    let mut d = LayerDescription::new("cancel");
    if let Some(name) = &config.name {
        d = d.named(name.clone());
    }
    let mut d = d
        .with_some("timeout", config.timeout)
        .with_some("deadline", config.deadline.map(until));
    if config.parent.is_some() {
        d = d.with("parent", true);
    }
    if config.drain.is_some() {
        d = d.with("shutdown", true);
    }
    if config.operations.is_some() {
        d = d.with("operations", true);
    }
    if let Some(condition) = &config.condition {
        let (every, name) = condition.polled_every();
        d = match every {
            Some(every) => d.with("cancel_if", Value::variant("poll").with("every", every)),
            None => d.with("cancel_when", Value::text("watch")),
        };
        if let Some(name) = name {
            d = d.with("condition_name", name.to_owned());
        }
    }
    d
}

/// `cancel: timeout 2s, deadline in 30s, parent true, shutdown true, operations true,
/// cancel_if poll (every 1s), condition_name "..."`: what the layer adds to every request's
/// token (a layer with none of these is just `cancel`).
impl Describe for CancelLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![describe_config(&self.config)]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe> Describe for Cancel<S> {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut layers = vec![describe_config(self.config_ref())];
        layers.extend(self.get_ref().describe());
        layers
    }
}
