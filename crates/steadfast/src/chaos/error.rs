//! Which injection fired, and the error a fault injection returns by default.

use std::error::Error as StdError;
use std::fmt;

use crate::trace::DecisionTrace;

/// One of the four things a [`ChaosLayer`](super::ChaosLayer) can inject, as Polly's four chaos
/// strategies: a fault, an outcome, latency, or a behaviour.
///
/// Named in the `tracing` event the layer emits for every injection (field `injection`) and
/// in [`ChaosError`].
///
/// ```
/// use steadfast::chaos::Injection;
/// assert_eq!(Injection::Latency.as_str(), "latency");
/// assert_eq!(Injection::Fault.to_string(), "fault");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Injection {
    /// An error returned instead of calling the service.
    Fault,
    /// A response returned instead of calling the service.
    Outcome,
    /// A delay before the service's answer.
    Latency,
    /// A closure run before the service is called.
    Behavior,
}

impl Injection {
    /// The injection's name: `"fault"`, `"outcome"`, `"latency"` or `"behavior"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Injection::Fault => "fault",
            Injection::Outcome => "outcome",
            Injection::Latency => "latency",
            Injection::Behavior => "behavior",
        }
    }
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error injected by a [`ChaosLayer`](super::ChaosLayer): what
/// [`FaultInjection::chaos`](super::FaultInjection::chaos) returns instead of calling the
/// service.
///
/// It says which layer (the name given to
/// [`ChaosLayerBuilder::name`](super::ChaosLayerBuilder::name)) and which injection made it,
/// so a test can tell a rehearsed failure from a real one. Downcast the layer's `BoxError` to
/// find it:
///
/// ```
/// use steadfast::chaos::{ChaosError, ChaosLayer, FaultInjection, Injection};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = ChaosLayer::builder()
///     .name("inventory")
///     .fault(FaultInjection::chaos().rate(1.0))
///     .build()
///     .unwrap();
/// let svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
/// let err = svc.oneshot(7).await.unwrap_err();
/// let chaos = err.downcast_ref::<ChaosError>().unwrap();
/// assert_eq!((chaos.layer(), chaos.injection()), ("inventory", Injection::Fault));
/// assert_eq!(chaos.to_string(), "chaos layer `inventory` injected a fault");
/// # }
/// ```
///
/// Two are equal when their layers and injections are.
#[derive(Debug, Clone)]
pub struct ChaosError {
    layer: &'static str,
    injection: Injection,
    trace: Option<DecisionTrace>,
}

impl PartialEq for ChaosError {
    fn eq(&self, other: &Self) -> bool {
        (self.layer, self.injection) == (other.layer, other.injection)
    }
}

impl Eq for ChaosError {}

impl ChaosError {
    /// An error injected by the layer named `layer`.
    pub fn new(layer: &'static str, injection: Injection) -> Self {
        ChaosError {
            layer,
            injection,
            trace: None,
        }
    }

    /// Gives this error the decision trace of the request it ends.
    pub(crate) fn set_trace(&mut self, trace: DecisionTrace) {
        self.trace = Some(trace);
    }

    /// The [decision trace](crate::trace) of the request this error ends, when it carried
    /// one: its last entries are the layer's injections.
    pub fn decision_trace(&self) -> Option<&DecisionTrace> {
        self.trace.as_ref()
    }

    /// The name of the layer that injected it.
    pub fn layer(&self) -> &'static str {
        self.layer
    }

    /// The injection that made it.
    pub fn injection(&self) -> Injection {
        self.injection
    }
}

impl fmt::Display for ChaosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "chaos layer `{}` injected a {}",
            self.layer, self.injection
        )
    }
}

impl StdError for ChaosError {}

impl crate::error::AsDynError for ChaosError {
    fn as_dyn_error(&self) -> &(dyn StdError + 'static) {
        self
    }
}
