//! The retry layer.

use tower_layer::Layer;

use super::policy::{PolicyRef, RetryPolicy};
use super::service::Retry;

/// Wraps services in [`Retry`] with a shared [`RetryPolicy`].
///
/// ```
/// use std::time::Duration;
/// use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let policy = RetryPolicy::builder()
///     .max_attempts(4)
///     .backoff(Backoff::constant(Duration::from_millis(10)))
///     .build()
///     .unwrap();
///
/// let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let flaky = service_fn({
///     let calls = calls.clone();
///     move |name: &'static str| {
///         let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
///         async move {
///             if n < 2 { Err("temporarily unavailable") } else { Ok(format!("hello {name}")) }
///         }
///     }
/// });
///
/// let svc = RetryLayer::new(policy).layer(flaky);
/// assert_eq!(svc.oneshot("world").await.unwrap(), "hello world");
/// assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer<P = RetryPolicy> {
    policy: P,
}

impl<P: PolicyRef> RetryLayer<P> {
    /// A layer that retries with `policy`: a [`RetryPolicy`], or a `&'static RetryPolicy` for
    /// the cheapest success path (see [`PolicyRef`]).
    pub fn new(policy: P) -> Self {
        RetryLayer { policy }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy<P::Classifier, P::Cloner, P::Recover> {
        self.policy.policy()
    }
}

impl<S, P: Clone> Layer<S> for RetryLayer<P> {
    type Service = Retry<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(inner, self.policy.clone())
    }
}
