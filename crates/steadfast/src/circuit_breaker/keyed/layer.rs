//! The layer and service that send each request through the breaker of its key.

use std::fmt;
use std::hash::Hash;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::KeyedBreakers;
use crate::circuit_breaker::future::ResponseFuture;
use crate::circuit_breaker::service::{call_guarded, Fallback, NoFallback};
use crate::classify::{AnyError, Classify};
use crate::token::HasCancelToken;
use crate::BoxError;

/// Wraps services so that each request goes through the breaker of its key.
///
/// ```
/// use steadfast::circuit_breaker::{CircuitBreaker, KeyedBreakers, KeyedCircuitBreakerLayer};
/// use tower::{service_fn, ServiceBuilder};
///
/// let per_route = KeyedBreakers::<String>::builder(|| CircuitBreaker::builder().consecutive_failures(3))
///     .build()
///     .unwrap();
/// let svc = ServiceBuilder::new()
///     .layer(KeyedCircuitBreakerLayer::new(per_route, |req: &http::Request<()>| req.uri().path().to_owned()))
///     .service(service_fn(|_req: http::Request<()>| async { Ok::<_, std::io::Error>("ok") }));
/// # let _ = svc;
/// ```
pub struct KeyedCircuitBreakerLayer<K, KF, C = AnyError, F = NoFallback> {
    breakers: KeyedBreakers<K>,
    key: KF,
    classifier: C,
    fallback: F,
}

impl<K, KF: Clone, C: Clone, F: Clone> Clone for KeyedCircuitBreakerLayer<K, KF, C, F> {
    fn clone(&self) -> Self {
        KeyedCircuitBreakerLayer {
            breakers: self.breakers.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

impl<K, KF, C, F> fmt::Debug for KeyedCircuitBreakerLayer<K, KF, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerLayer")
            .field("breakers", &self.breakers)
            .finish_non_exhaustive()
    }
}

impl<K, KF> KeyedCircuitBreakerLayer<K, KF> {
    /// A layer that guards each request with the breaker of `key(&request)`.
    pub fn new(breakers: KeyedBreakers<K>, key: KF) -> Self {
        KeyedCircuitBreakerLayer {
            breakers,
            key,
            classifier: AnyError,
            fallback: NoFallback,
        }
    }
}

impl<K, KF, C, F> KeyedCircuitBreakerLayer<K, KF, C, F> {
    /// Decides which results count as failures; see
    /// [`CircuitBreakerLayer::classify`](crate::circuit_breaker::CircuitBreakerLayer::classify).
    pub fn classify<C2>(self, classifier: C2) -> KeyedCircuitBreakerLayer<K, KF, C2, F> {
        KeyedCircuitBreakerLayer {
            breakers: self.breakers,
            key: self.key,
            classifier,
            fallback: self.fallback,
        }
    }

    /// Answers rejected calls with `fallback`.
    pub fn fallback<F2>(self, fallback: F2) -> KeyedCircuitBreakerLayer<K, KF, C, F2> {
        KeyedCircuitBreakerLayer {
            breakers: self.breakers,
            key: self.key,
            classifier: self.classifier,
            fallback,
        }
    }
}

impl<K, KF, C, F> KeyedCircuitBreakerLayer<K, KF, C, F> {
    /// The set of breakers (for the layer's description).
    pub(crate) fn breakers_ref(&self) -> &KeyedBreakers<K> {
        &self.breakers
    }
}

impl<S, K, KF, C, F> KeyedCircuitBreakerService<S, K, KF, C, F> {
    /// The set of breakers and the inner service (for the service's description).
    pub(crate) fn parts_ref(&self) -> (&KeyedBreakers<K>, &S) {
        (&self.breakers, &self.inner)
    }
}

impl<S, K, KF: Clone, C: Clone, F: Clone> Layer<S> for KeyedCircuitBreakerLayer<K, KF, C, F> {
    type Service = KeyedCircuitBreakerService<S, K, KF, C, F>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreakerService {
            inner,
            breakers: self.breakers.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

/// The service made by [`KeyedCircuitBreakerLayer`]. Rejected calls fail fast.
///
/// ```
/// use steadfast::circuit_breaker::{CircuitBreaker, KeyedBreakers, KeyedCircuitBreakerLayer};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let per_host = KeyedBreakers::<String>::builder(|| CircuitBreaker::builder().consecutive_failures(3))
///     .build()
///     .unwrap();
/// let by_host = |req: &http::Request<()>| req.uri().host().unwrap_or_default().to_owned();
/// let svc = KeyedCircuitBreakerLayer::new(per_host.clone(), by_host)
///     .layer(service_fn(|_: http::Request<()>| async { Ok::<_, std::io::Error>(204) }));
/// let req = http::Request::get("http://acme.example/orders").body(()).unwrap();
/// assert_eq!(svc.oneshot(req).await.unwrap(), 204);
/// assert_eq!(per_host.get(&"acme.example".to_string()).unwrap().metrics().successes, 1);
/// # }
/// ```
pub struct KeyedCircuitBreakerService<S, K, KF, C = AnyError, F = NoFallback> {
    inner: S,
    breakers: KeyedBreakers<K>,
    key: KF,
    classifier: C,
    fallback: F,
}

impl<S: Clone, K, KF: Clone, C: Clone, F: Clone> Clone
    for KeyedCircuitBreakerService<S, K, KF, C, F>
{
    fn clone(&self) -> Self {
        KeyedCircuitBreakerService {
            inner: self.inner.clone(),
            breakers: self.breakers.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

impl<S: fmt::Debug, K, KF, C, F> fmt::Debug for KeyedCircuitBreakerService<S, K, KF, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerService")
            .field("inner", &self.inner)
            .field("breakers", &self.breakers)
            .finish_non_exhaustive()
    }
}

impl<S, K, KF, C, F, Req> Service<Req> for KeyedCircuitBreakerService<S, K, KF, C, F>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    K: Hash + Eq + Clone,
    KF: Fn(&Req) -> K,
    C: Classify<Req, S::Response, S::Error> + Clone,
    F: Fallback<Req, S::Response>,
    Req: HasCancelToken,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C, Req, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = (self.key)(&req);
        match self.breakers.get(&key) {
            Ok(breaker) => call_guarded(
                &breaker,
                &mut self.inner,
                req,
                &self.classifier,
                &self.fallback,
            ),
            // No breaker for the key (no room, or invalid settings): fail the call rather than
            // send it unguarded.
            Err(mut e) => {
                if crate::trace::armed() {
                    if let Some(trace) = req.decision_trace() {
                        e = e.with_trace(trace);
                    }
                }
                ResponseFuture::fallback(Err(e.into_box()))
            }
        }
    }
}
