//! The fault injection: an error instead of the service's answer.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use super::error::{ChaosError, Injection};
use super::trigger::{trigger_methods, Trigger};
use crate::BoxError;

/// Makes the error of a fault injection.
type MakeError<Req> = Arc<dyn Fn(&Req) -> BoxError + Send + Sync>;

/// Returns an error instead of calling the service, for a share of requests: Polly's chaos
/// fault strategy.
///
/// The error is a [`ChaosError`] ([`chaos`](Self::chaos)), a copy of a value of yours
/// ([`error`](Self::error)), or what a closure of yours makes from the request
/// ([`error_fn`](Self::error_fn)), so the code under test sees exactly the error it would in
/// production. The inner service is not called.
///
/// ```
/// use std::io;
/// use steadfast::chaos::{ChaosLayer, FaultInjection};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = ChaosLayer::builder()
///     .seed(7)
///     .fault(
///         FaultInjection::error_fn(|key: &String| io::Error::new(io::ErrorKind::ConnectionReset, format!("reset while reading {key}")))
///             .rate(1.0)
///             .when(|key: &String| key.starts_with("user:")),
///     )
///     .build()
///     .unwrap();
/// let cache = layer.layer(service_fn(|key: String| async move { Ok::<_, io::Error>(key.len()) }));
///
/// let err = cache.clone().oneshot("user:42".to_string()).await.unwrap_err();
/// assert_eq!(err.downcast_ref::<io::Error>().unwrap().kind(), io::ErrorKind::ConnectionReset);
/// assert_eq!(cache.oneshot("order:9".to_string()).await.unwrap(), 7);
/// # }
/// ```
pub struct FaultInjection<Req> {
    pub(crate) trigger: Trigger<Req>,
    make: Option<MakeError<Req>>,
}

impl<Req> FaultInjection<Req> {
    /// Injects a [`ChaosError`] naming the layer.
    pub fn chaos() -> Self {
        FaultInjection {
            trigger: Trigger::new(),
            make: None,
        }
    }

    /// Injects a copy of `error`.
    pub fn error<E>(error: E) -> Self
    where
        E: StdError + Clone + Send + Sync + 'static,
    {
        FaultInjection {
            trigger: Trigger::new(),
            make: Some(Arc::new(move |_: &Req| Box::new(error.clone()) as BoxError)),
        }
    }

    /// Injects the error `make` builds from the request (Polly's fault generator).
    pub fn error_fn<E, F>(make: F) -> Self
    where
        F: Fn(&Req) -> E + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        FaultInjection {
            trigger: Trigger::new(),
            make: Some(Arc::new(move |req: &Req| make(req).into())),
        }
    }

    trigger_methods!();

    /// The error for `req`, injected by the layer named `layer`.
    /// Whether the fault is the layer's own `ChaosError` (for the layer's description).
    pub(crate) fn is_chaos_error(&self) -> bool {
        self.make.is_none()
    }

    pub(crate) fn make(&self, layer: &'static str, req: &Req) -> BoxError {
        match &self.make {
            Some(make) => make(req),
            None => Box::new(ChaosError::new(layer, Injection::Fault)),
        }
    }
}

impl<Req> Clone for FaultInjection<Req> {
    fn clone(&self) -> Self {
        FaultInjection {
            trigger: self.trigger.clone(),
            make: self.make.clone(),
        }
    }
}

impl<Req> fmt::Debug for FaultInjection<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultInjection")
            .field("trigger", &self.trigger)
            .field(
                "error",
                &if self.make.is_some() {
                    "yours"
                } else {
                    "ChaosError"
                },
            )
            .finish()
    }
}
