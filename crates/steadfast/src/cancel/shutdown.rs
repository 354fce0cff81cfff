//! Graceful shutdown: stop starting new work, let work in progress finish within a grace
//! period, then cancel what is left.

use std::time::Duration;

use crate::token::{CancelReason, CancelToken};

/// Coordinates a graceful shutdown for the requests of one or more cancel layers.
///
/// Give it to [`CancelLayerBuilder::shutdown`](super::CancelLayerBuilder::shutdown). Then
/// [`begin`](Self::begin):
///
/// 1. at once, every request's token *drains*: new requests are refused (503 in the HTTP
///    form), and the retry layer makes no new attempt and no new retry, stopping with
///    [`StopReason::Draining`](crate::retry::StopReason::Draining);
/// 2. attempts in progress may finish during the grace period;
/// 3. after it, every request still running is cancelled with
///    [`CancelReason::Shutdown`].
///
/// ```
/// use std::time::Duration;
/// use steadfast::cancel::{CancelLayer, Shutdown};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let shutdown = Shutdown::new(Duration::from_secs(10));
/// let layer = CancelLayer::builder().shutdown(&shutdown).build().unwrap();
/// # let _ = layer;
/// shutdown.begin();
/// assert!(shutdown.is_draining() && !shutdown.is_stopped());
/// tokio::time::sleep(Duration::from_secs(11)).await;
/// assert!(shutdown.is_stopped());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Shutdown {
    drain: CancelToken,
    stop: CancelToken,
    grace: Duration,
}

impl Shutdown {
    /// A shutdown that gives work in progress `grace` to finish.
    pub fn new(grace: Duration) -> Self {
        Shutdown {
            drain: CancelToken::new(),
            stop: CancelToken::new(),
            grace,
        }
    }

    /// Starts the shutdown: drain now, cancel everything left after the grace period. Calling
    /// it again does nothing. Needs a tokio runtime for the grace timer; outside one,
    /// everything is cancelled at once.
    pub fn begin(&self) {
        if !self.drain.cancel_with(CancelReason::Shutdown) {
            return;
        }
        let stop = self.stop.clone();
        let grace = self.grace;
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(grace) => {}
                    _ = stop.cancelled() => {}
                }
                stop.cancel_with(CancelReason::Shutdown);
            });
        } else {
            stop.cancel_with(CancelReason::Shutdown);
        }
    }

    /// Cancels everything now, without waiting for the grace period.
    pub fn stop_now(&self) {
        self.drain.cancel_with(CancelReason::Shutdown);
        self.stop.cancel_with(CancelReason::Shutdown);
    }

    /// `true` once the shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.drain.is_cancelled()
    }

    /// `true` once the grace period is over and everything was cancelled.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// The token that fires when the shutdown begins (for servers' own graceful shutdown,
    /// e.g. `axum::serve(..).with_graceful_shutdown(token.cancelled_owned())`).
    pub fn draining(&self) -> CancelToken {
        self.drain.clone()
    }

    /// The token that fires when the grace period is over.
    pub fn stopped(&self) -> CancelToken {
        self.stop.clone()
    }
}
