//! One breaker per key taken from the request (a host, a route, a tenant), created on
//! demand, evicted when idle, bounded in number.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use super::breaker::{CircuitBreaker, CircuitBreakerBuilder};
use super::future::ResponseFuture;
use super::service::{call_guarded, Fallback, NoFallback};
use crate::classify::{AnyError, Classify};
use crate::config::ConfigError;
use crate::token::HasCancelToken;
use crate::BoxError;

type Template<K> = Arc<dyn Fn(&K) -> CircuitBreakerBuilder + Send + Sync>;

struct Entry {
    breaker: CircuitBreaker,
    last_used: AtomicU64,
}

struct Inner<K> {
    template: Template<K>,
    max_keys: usize,
    idle_timeout: Duration,
    origin: Instant,
    map: RwLock<HashMap<K, Arc<Entry>>>,
}

/// A set of breakers, one per key, made from a template.
///
/// A breaker is created the first time its key is seen. When the set is full, breakers idle
/// for longer than the idle timeout are dropped first, then the least recently used one, so
/// the set never holds more than `max_keys` breakers. Cheap to clone; clones share the set.
///
/// ```
/// use std::time::Duration;
/// use steadfast::circuit_breaker::{CircuitBreaker, KeyedBreakers};
///
/// let per_host = KeyedBreakers::builder(|host: &String| {
///     CircuitBreaker::builder().name(format!("upstream {host}")).consecutive_failures(5)
/// })
/// .max_keys(1_000)
/// .idle_timeout(Duration::from_secs(600))
/// .build();
/// let a = per_host.get(&"a.example".to_string()).unwrap();
/// assert_eq!(a.name(), "upstream a.example");
/// assert_eq!(per_host.len(), 1);
/// ```
///
/// # Invariants
///
/// Lookups of known keys take the read lock and touch one atomic timestamp; the write lock is
/// taken only to add a key (and to evict, at the same time), so the bound holds after every
/// insertion.
pub struct KeyedBreakers<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for KeyedBreakers<K> {
    fn clone(&self) -> Self {
        KeyedBreakers {
            inner: self.inner.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedBreakers<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakers")
            .field("max_keys", &self.inner.max_keys)
            .field("idle_timeout", &self.inner.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds [`KeyedBreakers`].
pub struct KeyedBreakersBuilder<K> {
    template: Template<K>,
    max_keys: usize,
    idle_timeout: Duration,
}

impl<K> fmt::Debug for KeyedBreakersBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakersBuilder")
            .field("max_keys", &self.max_keys)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl<K> KeyedBreakers<K>
where
    K: Hash + Eq + Clone,
{
    /// Starts a builder: `template` configures the breaker for a new key. Defaults: at most
    /// 1,024 breakers, idle after 10 minutes.
    pub fn builder(
        template: impl Fn(&K) -> CircuitBreakerBuilder + Send + Sync + 'static,
    ) -> KeyedBreakersBuilder<K> {
        KeyedBreakersBuilder {
            template: Arc::new(template),
            max_keys: 1_024,
            idle_timeout: Duration::from_secs(600),
        }
    }

    fn now(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.inner.origin)
            .as_nanos()
            .min(u128::from(u64::MAX)) as u64
    }

    /// The idle timeout in nanoseconds, saturating (a timeout past `u64::MAX` ns is "never").
    fn idle_nanos(&self) -> u64 {
        self.inner.idle_timeout.as_nanos().min(u128::from(u64::MAX)) as u64
    }

    /// The breaker for `key`, created if needed. Fails only if the template's settings are
    /// invalid.
    pub fn get(&self, key: &K) -> Result<CircuitBreaker, ConfigError> {
        let now = self.now();
        if let Some(e) = self.read().get(key) {
            e.last_used.store(now, Ordering::Relaxed);
            return Ok(e.breaker.clone());
        }
        let mut map = self.inner.map.write().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get(key) {
            e.last_used.store(now, Ordering::Relaxed);
            return Ok(e.breaker.clone());
        }
        let breaker = (self.inner.template)(key).build()?;
        if map.len() >= self.inner.max_keys {
            let idle = self.idle_nanos();
            map.retain(|_, e| now.saturating_sub(e.last_used.load(Ordering::Relaxed)) < idle);
            while map.len() >= self.inner.max_keys {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => map.remove(&k),
                    None => break,
                };
            }
        }
        map.insert(
            key.clone(),
            Arc::new(Entry {
                breaker: breaker.clone(),
                last_used: AtomicU64::new(now),
            }),
        );
        Ok(breaker)
    }

    /// The breaker for `key` if it exists, without creating it.
    pub fn peek(&self, key: &K) -> Option<CircuitBreaker> {
        self.read().get(key).map(|e| e.breaker.clone())
    }

    /// Drops every breaker idle for longer than the idle timeout; returns how many.
    pub fn evict_idle(&self) -> usize {
        let now = self.now();
        let idle = self.idle_nanos();
        let mut map = self.inner.map.write().unwrap_or_else(|p| p.into_inner());
        let before = map.len();
        map.retain(|_, e| now.saturating_sub(e.last_used.load(Ordering::Relaxed)) < idle);
        before - map.len()
    }

    /// How many breakers the set holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// `true` when the set holds no breaker.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<K, Arc<Entry>>> {
        self.inner.map.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl<K> KeyedBreakersBuilder<K> {
    /// The most breakers kept at once (at least 1).
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n.max(1);
        self
    }

    /// How long a breaker may go unused before it may be dropped.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Builds the set (empty).
    pub fn build(self) -> KeyedBreakers<K> {
        KeyedBreakers {
            inner: Arc::new(Inner {
                template: self.template,
                max_keys: self.max_keys,
                idle_timeout: self.idle_timeout,
                origin: Instant::now(),
                map: RwLock::new(HashMap::new()),
            }),
        }
    }
}

/// Wraps services so that each request goes through the breaker of its key.
///
/// ```
/// use steadfast::circuit_breaker::{CircuitBreaker, KeyedBreakers, KeyedCircuitBreakerLayer};
/// use tower::{service_fn, ServiceBuilder};
///
/// let per_route = KeyedBreakers::builder(|_: &String| CircuitBreaker::builder().consecutive_failures(3)).build();
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
    /// [`CircuitBreakerLayer::classify`](super::CircuitBreakerLayer::classify).
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
            // The template is invalid: fail the call with the configuration error rather than
            // sending it unguarded.
            Err(e) => ResponseFuture::fallback(Err(Box::new(e))),
        }
    }
}
