//! [`TraceLayer`]: starts a decision trace for a sample of requests, and hands every
//! request's trace back on its response.

use tower_layer::Layer;

use super::service::Traced;
use super::DEFAULT_CAPACITY;
use crate::config::ConfigError;

/// Wraps services in [`Traced`]: 1 request in `every` (from [`sample`](Self::sample)) that
/// does not already carry a [`DecisionTrace`](super::DecisionTrace) gets a new one, and the
/// trace a request carries (sampled or put there by its caller) is put on its response
/// ([`CarryTrace`](super::CarryTrace); for `http::Response`, in its extensions).
///
/// Put it outermost, so every layer below records into the trace it starts. A request that
/// fails still has its trace: steadfast's errors carry the trace of the request they end.
///
/// ```
/// use steadfast::trace::{DecisionTrace, TraceLayer};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // Every 10th request is traced.
/// let layer = TraceLayer::sample(10).unwrap();
/// let mut svc = layer.layer(service_fn(|req: http::Request<()>| async move {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// }));
/// let res = svc.ready().await.unwrap().call(http::Request::new(())).await.unwrap();
/// assert!(res.extensions().get::<DecisionTrace>().is_some()); // the 1st of 10
/// let res = svc.ready().await.unwrap().call(http::Request::new(())).await.unwrap();
/// assert!(res.extensions().get::<DecisionTrace>().is_none()); // the 2nd
///
/// // A caller that asks for a trace gets it, sampled or not.
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(DecisionTrace::new());
/// let res = svc.oneshot(req).await.unwrap();
/// assert!(res.extensions().get::<DecisionTrace>().is_some());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TraceLayer {
    every: u64,
    capacity: usize,
}

impl TraceLayer {
    /// A layer that starts no trace of its own: it hands back the traces callers put on
    /// their requests.
    pub fn new() -> Self {
        TraceLayer {
            every: 0,
            capacity: DEFAULT_CAPACITY,
        }
    }

    /// A layer that traces 1 request in `every`. Each service counts its own requests: one the
    /// layer makes traces its first, then every `every`th; a clone starts at a random point of
    /// the same cycle (see [`Traced`]). `every` must be at least 1 (1 traces every request).
    pub fn sample(every: u64) -> Result<Self, ConfigError> {
        if every == 0 {
            return Err(ConfigError::new(
                "trace",
                "sample",
                "must be at least 1 (1 traces every request); use TraceLayer::new() to trace none",
            ));
        }
        Ok(TraceLayer {
            every,
            ..Self::new()
        })
    }

    /// The most entries each trace this layer starts keeps (default
    /// [`DEFAULT_CAPACITY`](super::DEFAULT_CAPACITY)); at least 1.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }
}

impl TraceLayer {
    pub(super) fn every(&self) -> u64 {
        self.every
    }

    pub(super) fn capacity_of(&self) -> usize {
        self.capacity
    }
}

impl Default for TraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Traced::new(inner, self.every, self.capacity)
    }
}
