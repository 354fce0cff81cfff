//! The hedge layer.

use std::fmt;

use tower_layer::Layer;

use super::delay::{HedgeDelay, HedgeMode};
use super::service::Hedge;
use super::settings::Settings;
use crate::classify::AnyError;
use crate::per_thread_arc::PerThreadArc;
use crate::retry::CloneAll;

/// Wraps services in [`Hedge`]: a slow request gets backup attempts, the first acceptable
/// answer wins and the others are cancelled. Built by [`HedgeLayer::builder`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use steadfast::hedge::{HedgeDelay, HedgeLayer};
/// use steadfast::retry::TokenBucket;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
/// // The first call straggles for a second; the others answer in 5 ms.
/// let backend = service_fn({
///     let calls = calls.clone();
///     move |q: &'static str| {
///         let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
///         async move {
///             let took = if n == 0 { 1000 } else { 5 };
///             tokio::time::sleep(Duration::from_millis(took)).await;
///             Ok::<_, std::io::Error>(format!("{q} from call {n}"))
///         }
///     }
/// });
/// let layer = HedgeLayer::builder()
///     .delay(HedgeDelay::fixed(Duration::from_millis(20)))
///     .budget(Arc::new(TokenBucket::builder().build().unwrap()))
///     .build()
///     .unwrap();
/// let start = tokio::time::Instant::now();
/// let answer = layer.layer(backend).oneshot("stock").await.unwrap();
/// assert_eq!(answer, "stock from call 1");
/// assert_eq!(start.elapsed(), Duration::from_millis(25)); // 20 ms delay + 5 ms
/// # }
/// ```
pub struct HedgeLayer<C = AnyError, K = CloneAll> {
    settings: PerThreadArc<Settings>,
    classifier: C,
    cloner: K,
}

impl<C, K> HedgeLayer<C, K> {
    pub(super) fn from_parts(settings: PerThreadArc<Settings>, classifier: C, cloner: K) -> Self {
        HedgeLayer {
            settings,
            classifier,
            cloner,
        }
    }

    /// The layer's mode.
    pub fn mode(&self) -> HedgeMode {
        self.settings.mode
    }

    /// The delay of [`HedgeMode::Latency`].
    pub fn delay(&self) -> &HedgeDelay {
        &self.settings.delay
    }

    /// The most attempts a request gets, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.settings.max_attempts
    }

    /// The layer's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.settings.name.as_deref()
    }

    pub(super) fn settings(&self) -> &Settings {
        &self.settings
    }
}

impl<C: Clone, K: Clone> Clone for HedgeLayer<C, K> {
    fn clone(&self) -> Self {
        HedgeLayer {
            settings: self.settings.clone(),
            classifier: self.classifier.clone(),
            cloner: self.cloner.clone(),
        }
    }
}

impl<C, K> fmt::Debug for HedgeLayer<C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeLayer")
            .field("settings", &self.settings)
            .finish()
    }
}

impl<S, C: Clone, K: Clone> Layer<S> for HedgeLayer<C, K> {
    type Service = Hedge<S, C, K>;

    fn layer(&self, inner: S) -> Self::Service {
        Hedge::new(
            inner,
            self.settings.clone(),
            self.classifier.clone(),
            self.cloner.clone(),
        )
    }
}
