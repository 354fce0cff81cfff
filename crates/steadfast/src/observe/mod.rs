//! Watching the layers: one [`Observer`] handed to every layer's builder gets each layer's
//! events, tagged with the layer's name.
//!
//! Every layer reports what it does as events: [`RetryEvent`](crate::retry::RetryEvent),
//! [`BreakerEvent`](crate::circuit_breaker::BreakerEvent),
//! [`CancelEvent`](crate::cancel::CancelEvent), [`ValidateEvent`](crate::validate::ValidateEvent),
//! [`ChaosEvent`](crate::chaos::ChaosEvent) and [`HedgeEvent`](crate::hedge::HedgeEvent). A listener registered on one layer's builder
//! (`on_event`) sees that layer's events. An [`Observer`] is asked, when each layer is built,
//! for a listener for that layer, given its name: one observer (a metrics export, say) serves
//! a whole stack. A layer with no listener reads no clock and builds no event.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use steadfast::observe::{Observer, RetryListener};
//! use steadfast::retry::{RetryEvent, RetryPolicy};
//!
//! /// Counts retries, whatever the layer.
//! #[derive(Default)]
//! struct Retries(Arc<AtomicU64>);
//!
//! impl Observer for Retries {
//!     fn retry(&self, _layer: &str) -> Option<RetryListener> {
//!         let count = self.0.clone();
//!         Some(Arc::new(move |event: &RetryEvent<'_>| {
//!             if let RetryEvent::Retry { .. } = event {
//!                 count.fetch_add(1, Ordering::Relaxed);
//!             }
//!         }))
//!     }
//! }
//!
//! let retries = Retries::default();
//! let count = retries.0.clone();
//! let policy = RetryPolicy::builder()
//!     .name("payments")
//!     .max_attempts(3)
//!     .observe(Arc::new(retries))
//!     .build()
//!     .unwrap();
//! policy.run_blocking(|n| if n < 3 { Err("busy") } else { Ok(()) }).unwrap();
//! assert_eq!(count.load(Ordering::Relaxed), 2);
//! ```

pub(crate) mod span;

/// A listener for one retry layer's events.
#[cfg(feature = "retry")]
pub type RetryListener = std::sync::Arc<dyn Fn(&crate::retry::RetryEvent<'_>) + Send + Sync>;
/// A listener for one circuit breaker's events.
#[cfg(feature = "circuit-breaker")]
pub type BreakerListener =
    std::sync::Arc<dyn Fn(&crate::circuit_breaker::BreakerEvent<'_>) + Send + Sync>;
/// A listener for one cancel layer's events.
#[cfg(feature = "cancel")]
pub type CancelListener = std::sync::Arc<dyn Fn(&crate::cancel::CancelEvent<'_>) + Send + Sync>;
/// A listener for one validate layer's events.
#[cfg(feature = "validate")]
pub type ValidateListener =
    std::sync::Arc<dyn Fn(&crate::validate::ValidateEvent<'_>) + Send + Sync>;
/// A listener for one hedge layer's events.
#[cfg(feature = "hedge")]
pub type HedgeListener = std::sync::Arc<dyn Fn(&crate::hedge::HedgeEvent) + Send + Sync>;
/// A listener for one chaos layer's events.
#[cfg(feature = "chaos")]
pub type ChaosListener = std::sync::Arc<dyn Fn(&crate::chaos::ChaosEvent) + Send + Sync>;

/// Something that watches layers: asked once per layer, when the layer is built, for a
/// listener to that layer's events. Each method has a default that watches nothing, so an
/// observer implements only the layers it cares about.
///
/// `layer` is the layer's name (its builder's `name`, or the layer kind's default name).
pub trait Observer: Send + Sync + 'static {
    /// A listener for the retry layer named `layer`, or `None` to leave it unwatched.
    #[cfg(feature = "retry")]
    fn retry(&self, layer: &str) -> Option<RetryListener> {
        let _ = layer;
        None
    }

    /// A listener for the circuit breaker named `layer`, or `None`.
    #[cfg(feature = "circuit-breaker")]
    fn breaker(&self, layer: &str) -> Option<BreakerListener> {
        let _ = layer;
        None
    }

    /// A listener for the cancel layer named `layer`, or `None`.
    #[cfg(feature = "cancel")]
    fn cancel(&self, layer: &str) -> Option<CancelListener> {
        let _ = layer;
        None
    }

    /// A listener for the validate layer named `layer`, or `None`.
    #[cfg(feature = "validate")]
    fn validate(&self, layer: &str) -> Option<ValidateListener> {
        let _ = layer;
        None
    }

    /// A listener for the chaos layer named `layer`, or `None`.
    #[cfg(feature = "chaos")]
    fn chaos(&self, layer: &str) -> Option<ChaosListener> {
        let _ = layer;
        None
    }

    /// A listener for the hedge layer named `layer`, or `None`.
    #[cfg(feature = "hedge")]
    fn hedge(&self, layer: &str) -> Option<HedgeListener> {
        let _ = layer;
        None
    }
}
