//! Durations too long to add to the clock (`Duration::MAX` is a common way to say "no
//! limit") mean "never": no panic, no timer that fires.

#![cfg(all(feature = "cancel", feature = "http"))]

use std::time::Duration;

use steadfast::cancel::{CancelLayer, Shutdown};
use steadfast::token::{CancelToken, HasCancelToken};
use tower::{service_fn, Layer, ServiceExt};

const HOUR: Duration = Duration::from_secs(3600);

/// Answers after an hour, with whether its token has a deadline and has fired.
async fn slow_http(req: http::Request<()>) -> Result<(bool, bool), std::io::Error> {
    let token = req.cancel_token().cloned().expect("the layer gives one");
    tokio::time::sleep(HOUR).await;
    Ok((token.deadline().is_some(), token.is_cancelled()))
}

#[tokio::test(start_paused = true)]
async fn a_timeout_of_duration_max_never_fires() {
    let layer = CancelLayer::builder()
        .timeout(Duration::MAX)
        .build()
        .expect("a huge timeout is valid");
    let (has_deadline, fired) = layer
        .layer(service_fn(slow_http))
        .oneshot(http::Request::new(()))
        .await
        .expect("never times out");
    assert!(!has_deadline, "no deadline the clock cannot represent");
    assert!(!fired);

    // A request that cannot carry a token (its token and timer are made on the first poll
    // that finds the answer not ready).
    let slow = service_fn(|n: u64| async move {
        tokio::time::sleep(HOUR).await;
        Ok::<_, std::io::Error>(n)
    });
    assert_eq!(layer.layer(slow).oneshot(7).await.unwrap(), 7);

    // Below a parent and a caller's token with a deadline of its own, too.
    let parent = CancelToken::new();
    let layer = CancelLayer::builder()
        .timeout(Duration::MAX)
        .parent(parent.clone())
        .build()
        .unwrap();
    let mut req = http::Request::new(());
    let deadline = tokio::time::Instant::now() + 2 * HOUR;
    req.extensions_mut()
        .insert(CancelToken::with_deadline(deadline));
    let (has_deadline, fired) = layer
        .layer(service_fn(slow_http))
        .oneshot(req)
        .await
        .unwrap();
    assert!(has_deadline, "the caller's deadline still stands");
    assert!(!fired);
}

#[tokio::test(start_paused = true)]
async fn huge_polling_intervals_and_grace_periods_mean_never() {
    let layer = CancelLayer::builder()
        .cancel_if(Duration::MAX, || false)
        .build()
        .unwrap();
    let (_, fired) = layer
        .layer(service_fn(slow_http))
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    assert!(!fired);

    let shutdown = Shutdown::new(Duration::MAX);
    shutdown.begin();
    tokio::time::sleep(HOUR).await;
    assert!(shutdown.is_draining());
    assert!(!shutdown.is_stopped());
}
