//! What a stack built from settings says about itself ([`crate::describe`]): the layers it
//! has, outermost first, as if they had been put in a `ServiceBuilder` one by one.

use super::layer::StackLayer;
use super::service::{Optional, OptionalLayer};
use crate::describe::{Describe, LayerDescription};

impl<L: Describe> Describe for OptionalLayer<L> {
    fn describe(&self) -> Vec<LayerDescription> {
        self.get().describe()
    }
}

impl<A: Describe, S: Describe> Describe for Optional<A, S> {
    fn describe(&self) -> Vec<LayerDescription> {
        match self {
            Optional::On(a) => a.describe(),
            Optional::Off(s) => s.describe(),
        }
    }
}

/// ```
/// use steadfast::config::{Config, Format};
/// use steadfast::describe::Describe;
///
/// let config = Config::from_str(
///     r#"{ "stacks": { "inventory": { "cancel": "5s", "retry": { "max_attempts": 3 }, "attempt_timeout": "1s" } } }"#,
///     Format::Json,
/// ).unwrap();
/// let stack = config.find_stack("inventory").unwrap().layer(steadfast::classify::AnyError).unwrap();
/// let layers = stack.describe();
/// let kinds: Vec<&str> = layers.iter().map(|l| l.kind()).collect();
/// assert_eq!(kinds, ["cancel", "retry", "cancel"]);
/// ```
impl<C: Clone, K: Clone, V: Describe> Describe for StackLayer<C, K, V> {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut out = self.cancel.describe();
        out.extend(self.retry.describe());
        out.extend(self.breaker.describe());
        out.extend(self.attempt_timeout.describe());
        out.extend(self.validate.describe());
        out
    }
}
