//! The behaviour injection: a closure of the user's run before the service is called.

use std::fmt;
use std::sync::Arc;

use super::trigger::{trigger_methods, Trigger};

/// Runs a closure of yours before the service is called, for a share of requests: Polly's
/// chaos behavior strategy.
///
/// The closure gets the request mutably, so it can rehearse what the code under test meets
/// on a bad day: drop a pooled connection, empty a cache, strip a header, restart a
/// dependency. The request then goes on (to the other injections and the service) as the
/// closure left it. The closure runs synchronously in the service's `call`; keep it quick, and
/// spawn any longer work.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use steadfast::chaos::{BehaviorInjection, ChaosLayer};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let dropped = Arc::new(AtomicU32::new(0));
/// let layer = ChaosLayer::builder()
///     .behavior(BehaviorInjection::new({
///         let dropped = dropped.clone();
///         move |req: &mut Vec<u8>| {
///             dropped.fetch_add(1, Ordering::SeqCst); // e.g. close the pool's connections
///             req.clear();
///         }
///     }))
///     .build()
///     .unwrap();
/// let svc = layer.layer(service_fn(|req: Vec<u8>| async move { Ok::<_, std::io::Error>(req.len()) }));
/// assert_eq!(svc.oneshot(vec![1, 2, 3]).await.unwrap(), 0);
/// assert_eq!(dropped.load(Ordering::SeqCst), 1);
/// # }
/// ```
pub struct BehaviorInjection<Req> {
    pub(crate) trigger: Trigger<Req>,
    run: Arc<dyn Fn(&mut Req) + Send + Sync>,
}

impl<Req> BehaviorInjection<Req> {
    /// Runs `behavior` on the request before it is sent.
    pub fn new<F>(behavior: F) -> Self
    where
        F: Fn(&mut Req) + Send + Sync + 'static,
    {
        BehaviorInjection {
            trigger: Trigger::new(),
            run: Arc::new(behavior),
        }
    }

    trigger_methods!();

    /// Runs the behaviour on `req`.
    pub(crate) fn run(&self, req: &mut Req) {
        (self.run)(req)
    }
}

impl<Req> Clone for BehaviorInjection<Req> {
    fn clone(&self) -> Self {
        BehaviorInjection {
            trigger: self.trigger.clone(),
            run: self.run.clone(),
        }
    }
}

impl<Req> fmt::Debug for BehaviorInjection<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BehaviorInjection")
            .field("trigger", &self.trigger)
            .finish_non_exhaustive()
    }
}
