//! The outcome injection: a response of the user's instead of the service's.

use std::fmt;
use std::sync::Arc;

use super::trigger::{trigger_methods, Trigger};

/// Makes the response of an outcome injection.
type MakeResponse<Req, Res> = Arc<dyn Fn(&Req) -> Res + Send + Sync>;

/// Answers with a response you build instead of calling the service, for a share of requests:
/// Polly's chaos outcome strategy.
///
/// Use it for answers that are not errors to the transport but are to your code: an HTTP 503
/// with `Retry-After` (`steadfast-http`'s `chaos::StatusOutcome` builds those), an empty page,
/// a stale value. For an error, use [`FaultInjection`](super::FaultInjection). The inner
/// service is not called.
///
/// ```
/// use steadfast::chaos::{ChaosLayer, OutcomeInjection};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = ChaosLayer::builder()
///     .outcome(OutcomeInjection::from_fn(|q: &String| format!("stale answer to {q}")).rate(1.0))
///     .build()
///     .unwrap();
/// let svc = layer.layer(service_fn(|q: String| async move { Ok::<_, std::io::Error>(format!("answer to {q}")) }));
/// assert_eq!(svc.oneshot("q".to_string()).await.unwrap(), "stale answer to q");
/// # }
/// ```
pub struct OutcomeInjection<Req, Res> {
    pub(crate) trigger: Trigger<Req>,
    make: MakeResponse<Req, Res>,
}

impl<Req, Res> OutcomeInjection<Req, Res> {
    /// Answers with a copy of `response`.
    pub fn value(response: Res) -> Self
    where
        Res: Clone + Send + Sync + 'static,
    {
        Self::from_fn(move |_: &Req| response.clone())
    }

    /// Answers with what `make` builds from the request (Polly's outcome generator).
    pub fn from_fn<F>(make: F) -> Self
    where
        F: Fn(&Req) -> Res + Send + Sync + 'static,
    {
        OutcomeInjection {
            trigger: Trigger::new(),
            make: Arc::new(make),
        }
    }

    trigger_methods!();

    /// The response for `req`.
    pub(crate) fn make(&self, req: &Req) -> Res {
        (self.make)(req)
    }
}

impl<Req, Res> Clone for OutcomeInjection<Req, Res> {
    fn clone(&self) -> Self {
        OutcomeInjection {
            trigger: self.trigger.clone(),
            make: self.make.clone(),
        }
    }
}

impl<Req, Res> fmt::Debug for OutcomeInjection<Req, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutcomeInjection")
            .field("trigger", &self.trigger)
            .finish_non_exhaustive()
    }
}
