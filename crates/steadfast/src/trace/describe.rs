//! What the trace layer says about itself in a stack's description ([`crate::describe`]).

use super::{TraceLayer, Traced};
use crate::describe::{Describe, LayerDescription, Value};

fn describe_settings(every: u64, capacity: usize) -> LayerDescription {
    let sample = if every == 0 {
        Value::text("callers' traces only")
    } else {
        Value::text(format!("1 in {every}"))
    };
    LayerDescription::new("trace")
        .with("sample", sample)
        .with("capacity", capacity)
}

/// `trace: sample 1 in 100, capacity 64`.
impl Describe for TraceLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![describe_settings(self.every(), self.capacity_of())]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe> Describe for Traced<S> {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut layers = vec![describe_settings(self.every(), self.capacity_of())];
        layers.extend(self.get_ref().describe());
        layers
    }
}
