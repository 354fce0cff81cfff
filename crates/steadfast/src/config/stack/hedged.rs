//! [`HedgedStackLayer`]: a stack's layers with its hedge layer in its place, between the
//! retry layer and the breaker (feature `hedge`).

use tower_layer::{Identity, Layer};

use super::builder::StackBuilder;
use super::layer::{Checked, Guarded, StackLayer};
use super::service::{Optional, OptionalLayer};
use super::validate::BuildValidate;
use crate::cancel::Cancel;
use crate::classify::AnyError;
use crate::config::{ConfigError, StackSettings};
use crate::describe::{Describe, LayerDescription};
use crate::hedge::{Hedge, HedgeLayer};
use crate::retry::{CloneAll, Retry, RetryPolicy};

/// A stack's layers with its `hedge`, outermost first: the total timeout, the retry layer,
/// the hedge layer, the breaker, the attempt timeout and the validate layer, each there only
/// when the stack's settings give it (`docs/composition.md` explains the order). The hedge
/// layer judges answers with the stack's classifier and copies requests with its cloner, as
/// the retry layer does; it and the retry layer each have the budget their settings give.
///
/// Built by [`StackSettings::layer_hedged`] or [`StackBuilder::build_hedged`]. A separate
/// type from [`StackLayer`] because a hedge layer changes the service's type and copies
/// requests while it runs: a stack that never hedges keeps the plainer type.
///
/// ```
/// use std::time::Duration;
/// use steadfast::config::{Config, Format};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let config = Config::from_str(
///     r#"{ "stacks": { "search": {
///         "hedge": { "delay": "50ms", "max_attempts": 2, "budget": { "kind": "ratio", "min_per_second": 10 } }
///     } } }"#,
///     Format::Json,
/// )
/// .unwrap();
/// let stack = config.find_stack("search").unwrap().layer_hedged(steadfast::classify::AnyError).unwrap();
/// assert_eq!(stack.hedge().unwrap().max_attempts(), 2);
/// // The first attempt straggles; the hedge, 50 ms later, answers at once.
/// let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let svc = stack.layer(service_fn(move |_: u32| {
///     let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
///     async move {
///         if n == 0 { tokio::time::sleep(Duration::from_secs(5)).await }
///         Ok::<_, std::io::Error>(n)
///     }
/// }));
/// let started = tokio::time::Instant::now();
/// assert_eq!(svc.oneshot(1).await.unwrap(), 1);
/// assert_eq!(started.elapsed(), Duration::from_millis(50));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HedgedStackLayer<C = AnyError, K = CloneAll, V = Identity> {
    stack: StackLayer<C, K, V>,
    hedge: OptionalLayer<HedgeLayer<C, K>>,
}

/// The service a [`HedgedStackLayer`] makes of `S`.
pub type HedgedStackService<S, C = AnyError, K = CloneAll, V = Identity> =
    Optional<Cancel<HedgedRetried<Checked<S, V>, C, K>>, HedgedRetried<Checked<S, V>, C, K>>;

/// The hedge layer over the breaker, if any.
type Hedged<S, C, K> = Optional<Hedge<Guarded<S, C>, C, K>, Guarded<S, C>>;
/// The retry layer over the hedge layer, if any.
type HedgedRetried<S, C, K> = Optional<Retry<Hedged<S, C, K>, RetryPolicy<C, K>>, Hedged<S, C, K>>;

impl<C: Clone, K: Clone, V> HedgedStackLayer<C, K, V> {
    /// The other layers: the total timeout, retry policy, breaker, attempt timeout and
    /// validate layer.
    pub fn stack(&self) -> &StackLayer<C, K, V> {
        &self.stack
    }

    /// The hedge layer, when the stack has one.
    pub fn hedge(&self) -> Option<&HedgeLayer<C, K>> {
        self.hedge.get()
    }
}

impl<S, C: Clone, K: Clone, V: Layer<S>> Layer<S> for HedgedStackLayer<C, K, V> {
    type Service = HedgedStackService<S, C, K, V>;

    fn layer(&self, inner: S) -> Self::Service {
        let s = &self.stack;
        let checked = s.validate.layer(inner);
        let timed = s.attempt_timeout.layer(checked);
        let guarded = s.breaker.layer(timed);
        let hedged = self.hedge.layer(guarded);
        let retried = s.retry.layer(hedged);
        s.cancel.layer(retried)
    }
}

impl<C: Clone, K: Clone, V: Describe> Describe for HedgedStackLayer<C, K, V> {
    fn describe(&self) -> Vec<LayerDescription> {
        let s = &self.stack;
        let mut out = s.cancel.describe();
        out.extend(s.retry.describe());
        out.extend(self.hedge.describe());
        out.extend(s.breaker.describe());
        out.extend(s.attempt_timeout.describe());
        out.extend(s.validate.describe());
        out
    }
}

impl StackSettings {
    /// The stack's layers with its hedge layer in its place, as one `Layer` (see
    /// [`HedgedStackLayer`]), with `classifier` judging calls for the retry layer, the hedge
    /// layer and the breaker. Requests must be `Clone` (a hedge copies them while the first
    /// attempt runs); [`StackBuilder::clone_requests`] takes a cloner for others.
    pub fn layer_hedged<C: Clone>(
        &self,
        classifier: C,
    ) -> Result<HedgedStackLayer<C>, ConfigError> {
        self.builder().classify(classifier).build_hedged()
    }
}

impl<C, K, V> StackBuilder<C, K, V> {
    /// Builds the layers the settings give, the hedge layer included (see
    /// [`HedgedStackLayer`]), each checked by its builder.
    pub fn build_hedged(self) -> Result<HedgedStackLayer<C, K, V::Layer>, ConfigError>
    where
        C: Clone,
        K: Clone,
        V: BuildValidate,
    {
        let hedge = match &self.settings.hedge {
            Some(h) => Some(
                h.builder()?
                    .classify(self.classifier.clone())
                    .clone_requests(self.cloner.clone())
                    .build()?,
            ),
            None => None,
        };
        Ok(HedgedStackLayer {
            stack: self.build_unhedged()?,
            hedge: OptionalLayer::new(hedge),
        })
    }
}
