//! One method per steadfast layer on tower's `ServiceBuilder`, in the order they belong.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::cancel::CancelLayer;
//! use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
//! use steadfast::retry::{Backoff, RetryPolicy};
//! use steadfast::validate::{ensure, ValidateLayer};
//! use steadfast::ServiceBuilderExt;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let breaker = CircuitBreaker::builder().name("backend").build().unwrap();
//! let svc = ServiceBuilder::new()
//!     // 1. The request's deadline bounds everything below, retries included.
//!     .cancel(CancelLayer::builder().timeout(Duration::from_secs(10)).build().unwrap())
//!     // 2. Retry each failed attempt...
//!     .retry_with(RetryPolicy::builder().max_attempts(3).backoff(Backoff::constant(Duration::from_millis(100))).build().unwrap())
//!     // 3. ...through the breaker, which counts every attempt and stops retries into an
//!     //    open circuit...
//!     .circuit_breaker(CircuitBreakerLayer::new(breaker))
//!     // 4. ...each attempt with its own time limit...
//!     .attempt_timeout(CancelLayer::builder().timeout(Duration::from_secs(2)).build().unwrap())
//!     // 5. ...and its answer checked.
//!     .validate(ValidateLayer::builder().response(ensure("empty answer", |s: &String| !s.is_empty())).build().unwrap())
//!     .service_fn(|q: String| async move { Ok::<_, std::io::Error>(format!("answer to {q}")) });
//! assert_eq!(svc.oneshot("q".to_string()).await.unwrap(), "answer to q");
//! # }
//! ```
//!
//! The order matters; `docs/composition.md` in the repository explains why each layer sits
//! where it does and what changes if two are swapped. In short:
//!
//! | position | layer | why there |
//! |---|---|---|
//! | outermost | [`cancel`](ServiceBuilderExt::cancel) | its token and deadline cover every attempt and every backoff sleep |
//! | 2 | [`retry_with`](ServiceBuilderExt::retry_with) | sees each attempt's outcome, sleeps between them, reads the token |
//! | 3 | [`hedge`](ServiceBuilderExt::hedge) | races backup attempts under the request's token; each one crosses the breaker and has its own time limit |
//! | 4 | [`circuit_breaker`](ServiceBuilderExt::circuit_breaker) | counts every attempt (never a hedge race's loser); when open, refuses at once and retry stops |
//! | 5 | [`attempt_timeout`](ServiceBuilderExt::attempt_timeout) | bounds one attempt; its timeout is a retryable failure the breaker counts |
//! | innermost | [`validate`](ServiceBuilderExt::validate) | turns a wrong answer into an error every layer above sees |

use tower::ServiceBuilder;
use tower_layer::Stack;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// steadfast's layers as `ServiceBuilder` methods; see the [module docs](self) for the order
/// and a stack with every layer.
///
/// Sealed: implemented for `tower::ServiceBuilder` only. Bring it into scope and call the
/// methods on a `ServiceBuilder`:
///
/// ```
/// use std::time::Duration;
/// use steadfast::retry::{Backoff, RetryPolicy};
/// use steadfast::ServiceBuilderExt;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let svc = ServiceBuilder::new()
///     .retry_with(RetryPolicy::builder().max_attempts(3).backoff(Backoff::none()).build().unwrap())
///     .service_fn({
///         let calls = calls.clone();
///         move |n: u32| {
///             // Fails once, then answers.
///             let first = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
///             async move {
///                 if first { Err(std::io::Error::other("reset")) } else { Ok(n * 2) }
///             }
///         }
///     });
/// assert_eq!(svc.oneshot(21).await.unwrap(), 42);
/// assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
/// # }
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Adds a cancel layer: the request's token, timeout, deadline and other sources. Put it
    /// outermost. Takes a [`CancelLayer`](crate::cancel::CancelLayer) or a form made from it
    /// (steadfast-http's `for_http()` and `for_grpc()`); see [`CancelKind`].
    #[cfg(feature = "cancel")]
    fn cancel<C>(self, layer: C) -> ServiceBuilder<Stack<C, L>>
    where
        C: cancel_kind::CancelKind;

    /// Adds a retry layer with `policy` (a `RetryPolicy` or a `&'static` one). Named so as not
    /// to collide with `tower::ServiceBuilder::retry`, which adds tower's own retry layer.
    #[cfg(feature = "retry")]
    fn retry_with<P>(self, policy: P) -> ServiceBuilder<Stack<crate::retry::RetryLayer<P>, L>>
    where
        P: crate::retry::PolicyRef;

    /// Adds a hedge layer. Put it under the cancel layer (its attempts' tokens are children
    /// of the request's, and the deadline bounds every hedge) and any retry layer, and above
    /// the breaker and the attempt timeout, so that each attempt is counted and timed on its
    /// own; see `docs/composition.md`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use steadfast::hedge::{HedgeDelay, HedgeLayer};
    /// use steadfast::retry::TokenBucket;
    /// use steadfast::ServiceBuilderExt;
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let hedge = HedgeLayer::builder()
    ///     .delay(HedgeDelay::fixed(Duration::from_millis(30)))
    ///     .budget(Arc::new(TokenBucket::builder().build().unwrap()))
    ///     .build()
    ///     .unwrap();
    /// let svc = ServiceBuilder::new()
    ///     .hedge(hedge)
    ///     .service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n + 1) });
    /// assert_eq!(svc.oneshot(1).await.unwrap(), 2);
    /// # }
    /// ```
    #[cfg(feature = "hedge")]
    fn hedge<C, K>(
        self,
        layer: crate::hedge::HedgeLayer<C, K>,
    ) -> ServiceBuilder<Stack<crate::hedge::HedgeLayer<C, K>, L>>;

    /// Adds a circuit breaker layer. Put it under the retry layer, so each attempt counts.
    #[cfg(feature = "circuit-breaker")]
    fn circuit_breaker<C, F, B>(
        self,
        layer: crate::circuit_breaker::CircuitBreakerLayer<C, F, B>,
    ) -> ServiceBuilder<Stack<crate::circuit_breaker::CircuitBreakerLayer<C, F, B>, L>>;

    /// Adds a per-attempt time limit: a cancel layer built with a timeout (build it with
    /// `CancelLayer::builder().timeout(d).build()?`, which checks the duration). Put it under
    /// the retry layer and the breaker: a timed-out attempt fails with
    /// [`Cancelled`](crate::cancel::Cancelled) (reason `Timeout`), which retry retries and the
    /// breaker counts, while the request's own token (from the outer cancel layer) stays alive.
    #[cfg(feature = "cancel")]
    fn attempt_timeout(
        self,
        layer: crate::cancel::CancelLayer,
    ) -> ServiceBuilder<Stack<crate::cancel::CancelLayer, L>>;

    /// Adds a validate layer. Put it innermost, so every layer above sees an invalid answer
    /// as a failure.
    #[cfg(feature = "validate")]
    fn validate<Q, P>(
        self,
        layer: crate::validate::ValidateLayer<Q, P>,
    ) -> ServiceBuilder<Stack<crate::validate::ValidateLayer<Q, P>, L>>;

    /// Adds a [`TraceLayer`](crate::trace::TraceLayer): a decision trace for a sample of
    /// requests, handed back on each traced request's response. Put it outermost, so every
    /// layer below records into the traces it starts.
    fn decision_trace(
        self,
        layer: crate::trace::TraceLayer,
    ) -> ServiceBuilder<Stack<crate::trace::TraceLayer, L>>;
}

#[cfg(feature = "cancel")]
mod cancel_kind {
    /// Marks the layers [`ServiceBuilderExt::cancel`](super::ServiceBuilderExt::cancel) takes:
    /// [`CancelLayer`](crate::cancel::CancelLayer) and the forms made from it, such as
    /// steadfast-http's `HttpCancelLayer` (`CancelLayer::builder()...build()?.for_http()`).
    ///
    /// It promises nothing the compiler checks: it keeps `cancel` for the outermost layer
    /// that gives requests their tokens. Implement it for a layer of your own that wraps a
    /// `CancelLayer`.
    ///
    /// ```
    /// use steadfast::builder::CancelKind;
    /// use steadfast::cancel::{Cancel, CancelLayer};
    /// use steadfast::ServiceBuilderExt;
    /// use tower::{Layer, ServiceBuilder};
    ///
    /// /// A cancel layer that also logs each request.
    /// #[derive(Clone)]
    /// struct Logged(CancelLayer);
    ///
    /// impl<S> Layer<S> for Logged {
    ///     type Service = Cancel<S>;
    ///     fn layer(&self, inner: S) -> Cancel<S> {
    ///         self.0.layer(inner)
    ///     }
    /// }
    ///
    /// impl CancelKind for Logged {}
    ///
    /// let svc = ServiceBuilder::new()
    ///     .cancel(Logged(CancelLayer::new()))
    ///     .service_fn(|n: u64| async move { Ok::<_, std::io::Error>(n) });
    /// # let _ = svc;
    /// ```
    pub trait CancelKind {}

    impl CancelKind for crate::cancel::CancelLayer {}
}

#[cfg(feature = "cancel")]
pub use cancel_kind::CancelKind;

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    #[cfg(feature = "cancel")]
    fn cancel<C>(self, layer: C) -> ServiceBuilder<Stack<C, L>>
    where
        C: cancel_kind::CancelKind,
    {
        self.layer(layer)
    }

    #[cfg(feature = "retry")]
    fn retry_with<P>(self, policy: P) -> ServiceBuilder<Stack<crate::retry::RetryLayer<P>, L>>
    where
        P: crate::retry::PolicyRef,
    {
        self.layer(crate::retry::RetryLayer::new(policy))
    }

    #[cfg(feature = "hedge")]
    fn hedge<C, K>(
        self,
        layer: crate::hedge::HedgeLayer<C, K>,
    ) -> ServiceBuilder<Stack<crate::hedge::HedgeLayer<C, K>, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "circuit-breaker")]
    fn circuit_breaker<C, F, B>(
        self,
        layer: crate::circuit_breaker::CircuitBreakerLayer<C, F, B>,
    ) -> ServiceBuilder<Stack<crate::circuit_breaker::CircuitBreakerLayer<C, F, B>, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "cancel")]
    fn attempt_timeout(
        self,
        layer: crate::cancel::CancelLayer,
    ) -> ServiceBuilder<Stack<crate::cancel::CancelLayer, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "validate")]
    fn validate<Q, P>(
        self,
        layer: crate::validate::ValidateLayer<Q, P>,
    ) -> ServiceBuilder<Stack<crate::validate::ValidateLayer<Q, P>, L>> {
        self.layer(layer)
    }

    fn decision_trace(
        self,
        layer: crate::trace::TraceLayer,
    ) -> ServiceBuilder<Stack<crate::trace::TraceLayer, L>> {
        self.layer(layer)
    }
}
