//! The retry layer.

use tower_layer::Layer;

use super::policy::{PolicyRef, RetryPolicy};
use super::service::Retry;
use super::start_jitter::StartJitterLayer;

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

    /// The same layer, with the random wait of the policy's
    /// [`start_jitter`](super::RetryPolicyBuilder::start_jitter) before each request's first
    /// attempt: its services are [`StartJitter`](super::StartJitter)s around [`Retry`]. The
    /// wait is taken in `poll_ready`, before the inner service is asked for readiness, so no
    /// readiness is held while it lasts; a request whose
    /// [`CancelToken`](crate::token::CancelToken) fired meanwhile is not sent. A plain
    /// [`RetryLayer`] does not wait, whatever the policy says, and costs nothing for it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::retry::{RetryLayer, RetryPolicy};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let policy = RetryPolicy::builder()
    ///     .start_jitter(Duration::from_secs(5))
    ///     .build()
    ///     .unwrap();
    /// let svc = RetryLayer::new(policy)
    ///     .with_start_jitter()
    ///     .layer(service_fn(|_: ()| async { Ok::<_, std::io::Error>(tokio::time::Instant::now()) }));
    /// let start = tokio::time::Instant::now();
    /// let sent_at = svc.oneshot(()).await.unwrap();
    /// assert!(sent_at - start <= Duration::from_secs(5));
    /// # }
    /// ```
    pub fn with_start_jitter(self) -> StartJitterLayer<P> {
        StartJitterLayer::new(self.policy)
    }
}
impl<S, P: Clone> Layer<S> for RetryLayer<P> {
    type Service = Retry<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(inner, self.policy.clone())
    }
}
