//! The cancel layer on tokio's paused clock: every source, the first reason winning, the
//! reuse of a caller's token, and cancellation when the response future is dropped.

#![cfg(all(feature = "cancel", feature = "retry", feature = "http"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::cancel::{CancelLayer, Cancelled};
use steadfast::retry::{Backoff, RetryError, RetryLayer, RetryPolicy, StopReason};
use steadfast::token::{CancelReason, CancelToken, HasCancelToken};
use steadfast::BoxError;
use steadfast_test::{Reply, Scripted};
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceExt};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

type Req = http::Request<()>;

fn req() -> Req {
    http::Request::new(())
}

fn cancelled(err: &BoxError) -> &CancelReason {
    err.downcast_ref::<Cancelled>()
        .unwrap_or_else(|| panic!("expected Cancelled, got {err:?}"))
        .reason()
}

/// A handler that records the token it was given and then takes `work` to answer.
fn handler(
    work: Duration,
    seen: Arc<Mutex<Option<CancelToken>>>,
) -> impl Service<Req, Response = &'static str, Error = std::io::Error, Future = impl Send> + Clone
{
    service_fn(move |req: Req| {
        let seen = seen.clone();
        async move {
            *seen.lock().unwrap() = req.cancel_token().cloned();
            tokio::time::sleep(work).await;
            Ok("done")
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_timeout_cancels_the_request_and_its_token() {
    let seen = Arc::new(Mutex::new(None));
    let svc = CancelLayer::builder()
        .timeout(secs(2))
        .build()
        .unwrap()
        .layer(handler(secs(10), seen.clone()));
    let start = Instant::now();
    let err = svc.oneshot(req()).await.unwrap_err();
    assert_eq!(start.elapsed(), secs(2));
    assert_eq!(cancelled(&err), &CancelReason::Timeout(secs(2)));
    assert_eq!(err.to_string(), "request cancelled: timed out after 2s");
    let token = seen.lock().unwrap().clone().unwrap();
    assert!(token.is_cancelled());
    assert_eq!(token.deadline(), Some(start + secs(2)));
}

#[tokio::test(start_paused = true)]
async fn an_answer_in_time_leaves_the_token_alone() {
    let seen = Arc::new(Mutex::new(None));
    let svc = CancelLayer::builder()
        .timeout(secs(2))
        .build()
        .unwrap()
        .layer(handler(secs(1), seen.clone()));
    assert_eq!(svc.oneshot(req()).await.unwrap(), "done");
    assert!(!seen.lock().unwrap().as_ref().unwrap().is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn a_deadline_cancels_with_its_own_reason() {
    let seen = Arc::new(Mutex::new(None));
    let svc = CancelLayer::builder()
        .deadline(Instant::now() + secs(3))
        .timeout(secs(60))
        .build()
        .unwrap()
        .layer(handler(secs(10), seen));
    let err = svc.oneshot(req()).await.unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Deadline);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_carried_by_the_callers_token_is_enforced() {
    // As when an inbound `grpc-timeout` header became the token's deadline.
    let seen = Arc::new(Mutex::new(None));
    let svc = CancelLayer::new().layer(handler(secs(10), seen.clone()));
    let start = Instant::now();
    let caller = CancelToken::with_deadline(start + secs(4));
    let mut r = req();
    r.set_cancel_token(caller.clone()).unwrap();
    let err = svc.clone().oneshot(r).await.unwrap_err();
    assert_eq!(start.elapsed(), secs(4));
    assert_eq!(cancelled(&err), &CancelReason::Deadline);
    // The handler's token is a child: the caller's own token is left as it was.
    assert!(seen.lock().unwrap().as_ref().unwrap().is_cancelled());
    assert!(!caller.is_cancelled());

    // A layer timeout that comes first keeps its own reason.
    let svc = CancelLayer::builder()
        .timeout(secs(1))
        .build()
        .unwrap()
        .layer(handler(secs(10), seen));
    let mut r = req();
    r.set_cancel_token(CancelToken::with_deadline(Instant::now() + secs(4)))
        .unwrap();
    let err = svc.oneshot(r).await.unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Timeout(secs(1)));
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_every_request_in_flight() {
    let shutdown = CancelToken::new();
    let seen = Arc::new(Mutex::new(None));
    let svc = CancelLayer::builder()
        .parent(shutdown.clone())
        .build()
        .unwrap()
        .layer(handler(secs(10), seen.clone()));
    let a = tokio::spawn(svc.clone().oneshot(req()));
    let b = tokio::spawn(svc.oneshot(req()));
    tokio::time::sleep(secs(1)).await;
    shutdown.cancel_with(CancelReason::Shutdown);
    for t in [a, b] {
        let err = t.await.unwrap().unwrap_err();
        assert_eq!(cancelled(&err), &CancelReason::Shutdown);
    }
    assert_eq!(shutdown.reason(), Some(CancelReason::Shutdown));
}

#[tokio::test(start_paused = true)]
async fn the_first_source_to_fire_sets_the_reason() {
    for (shutdown_after, timeout, want) in [
        (secs(1), secs(2), CancelReason::Shutdown),
        (secs(3), secs(2), CancelReason::Timeout(secs(2))),
    ] {
        let shutdown = CancelToken::new();
        let seen = Arc::new(Mutex::new(None));
        let svc = CancelLayer::builder()
            .parent(shutdown.clone())
            .timeout(timeout)
            .build()
            .unwrap()
            .layer(handler(secs(10), seen.clone()));
        let task = tokio::spawn(svc.oneshot(req()));
        tokio::time::sleep(shutdown_after).await;
        shutdown.cancel_with(CancelReason::Shutdown);
        let err = task.await.unwrap().unwrap_err();
        assert_eq!(cancelled(&err), &want);
        // The request's token agrees with the error.
        assert_eq!(seen.lock().unwrap().as_ref().unwrap().reason(), Some(want));
    }
}

#[tokio::test(start_paused = true)]
async fn a_callers_token_is_reused_as_is_when_the_layer_adds_nothing() {
    let seen = Arc::new(Mutex::new(None));
    let svc = CancelLayer::new().layer(handler(secs(10), seen.clone()));
    let caller = CancelToken::new();
    let mut r = req();
    r.set_cancel_token(caller.clone()).unwrap();
    let task = tokio::spawn(svc.oneshot(r));
    tokio::time::sleep(secs(1)).await;
    caller.cancel_with(CancelReason::manual("user pressed stop"));
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::manual("user pressed stop"));
    let handed = seen.lock().unwrap().clone().unwrap();
    assert!(
        handed.same_as(&caller),
        "the handler got the caller's own token"
    );
}

#[tokio::test(start_paused = true)]
async fn a_callers_token_still_reaches_a_request_with_a_timeout() {
    let shutdown = CancelToken::new();
    let seen = Arc::new(Mutex::new(None));
    let svc = CancelLayer::builder()
        .timeout(secs(30))
        .parent(shutdown.clone())
        .build()
        .unwrap()
        .layer(handler(secs(60), seen.clone()));
    let caller = CancelToken::new();
    let mut r = req();
    r.set_cancel_token(caller.clone()).unwrap();
    let task = tokio::spawn(svc.oneshot(r));
    tokio::time::sleep(secs(1)).await;
    caller.cancel_with(CancelReason::Signal(15));
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Signal(15));
    assert!(!shutdown.is_cancelled(), "the parent is not touched");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_response_future_cancels_the_work_it_started() {
    let seen = Arc::new(Mutex::new(None));
    let svc = CancelLayer::new().layer(handler(secs(60), seen.clone()));
    let fut = svc.oneshot(req());
    // Let the handler start, then drop the request the way hyper does when a client leaves.
    let task = tokio::spawn(async move {
        tokio::select! {
            _ = fut => unreachable!("the handler takes a minute"),
            _ = tokio::time::sleep(secs(1)) => {}
        }
    });
    task.await.unwrap();
    let token = seen.lock().unwrap().clone().unwrap();
    assert_eq!(token.reason(), Some(CancelReason::ClientDisconnected));
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_token_already_fired_is_never_sent() {
    let svc_calls = Scripted::<&'static str, Req>::new([]);
    let svc = CancelLayer::builder()
        .timeout(secs(5))
        .build()
        .unwrap()
        .layer(svc_calls.clone());
    let caller = CancelToken::new();
    caller.cancel_with(CancelReason::Shutdown);
    let mut r = req();
    r.set_cancel_token(caller).unwrap();
    let err = svc.oneshot(r).await.unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Shutdown);
    assert_eq!(svc_calls.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_leaves_stops_the_outbound_retries_it_caused() {
    // An outbound client that keeps failing, wrapped in a retry layer with long backoffs.
    let outbound = Scripted::<&'static str, Req>::new([]).then_always(Reply::err("unavailable"));
    let client = RetryLayer::new(
        RetryPolicy::builder()
            .max_attempts(100)
            .backoff(Backoff::constant(secs(10)))
            .build()
            .unwrap(),
    )
    .layer(outbound.clone());

    // The handler hands its request's token to a background task calling the client.
    let background = Arc::new(Mutex::new(None));
    let server = CancelLayer::new().layer(service_fn({
        let background = background.clone();
        move |req: Req| {
            let client = client.clone();
            let background = background.clone();
            async move {
                let mut outbound_req = http::Request::new(());
                outbound_req
                    .set_cancel_token(req.cancel_token().unwrap().clone())
                    .unwrap();
                *background.lock().unwrap() = Some(tokio::spawn(client.oneshot(outbound_req)));
                std::future::pending::<Result<&'static str, std::io::Error>>().await
            }
        }
    }));

    let inbound = server.oneshot(req());
    tokio::select! {
        _ = inbound => unreachable!(),
        _ = tokio::time::sleep(secs(25)) => {}
    }
    // The client hung up at 25 s: attempts at 0, 10 and 20 s were made, then the token fired
    // during the third backoff and the retries stopped at once.
    let handle = background.lock().unwrap().take().unwrap();
    let err = handle.await.unwrap().unwrap_err();
    let retry = err.downcast_ref::<RetryError>().unwrap();
    assert_eq!(
        retry.reason(),
        &StopReason::Cancelled(CancelReason::ClientDisconnected)
    );
    assert_eq!(outbound.calls(), 3);
    tokio::time::sleep(secs(100)).await;
    assert_eq!(outbound.calls(), 3, "nothing is sent after the client left");
}

#[test]
fn a_zero_timeout_is_rejected() {
    let e = CancelLayer::builder()
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!((e.layer(), e.field()), ("cancel", "timeout"));
}

#[tokio::test(start_paused = true)]
async fn a_watched_condition_cancels_while_it_holds() {
    let (maintenance, rx) = tokio::sync::watch::channel(false);
    let seen = Arc::new(Mutex::new(None));
    let svc = CancelLayer::builder()
        .cancel_when(rx)
        .build()
        .unwrap()
        .layer(handler(secs(10), seen.clone()));

    let in_flight = tokio::spawn(svc.clone().oneshot(req()));
    tokio::time::sleep(secs(1)).await;
    maintenance.send(true).unwrap();
    let err = in_flight.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Condition(None));

    // While it holds, new requests are refused at once.
    let start = Instant::now();
    let err = svc.clone().oneshot(req()).await.unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Condition(None));
    assert_eq!(start.elapsed(), Duration::ZERO);

    // Once it no longer holds, requests go through again.
    maintenance.send(false).unwrap();
    tokio::task::yield_now().await;
    assert_eq!(svc.oneshot(req()).await.unwrap(), "done");
}

#[tokio::test(start_paused = true)]
async fn a_polled_condition_is_checked_at_its_interval() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let aborted = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(None));
    let svc = CancelLayer::builder()
        .cancel_if(Duration::from_millis(100), {
            let aborted = aborted.clone();
            move || aborted.load(Ordering::SeqCst)
        })
        .build()
        .unwrap()
        .layer(handler(secs(10), seen.clone()));
    let start = Instant::now();
    let task = tokio::spawn(svc.oneshot(req()));
    tokio::time::sleep(Duration::from_millis(250)).await;
    aborted.store(true, Ordering::SeqCst);
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Condition(None));
    // Seen at the next check after it became true.
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

#[test]
fn a_polled_condition_needs_a_sane_interval() {
    let e = CancelLayer::builder()
        .cancel_if(Duration::ZERO, || false)
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "cancel_if.every");
}

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_drains_then_cancels() {
    use steadfast::cancel::Shutdown;
    let shutdown = Shutdown::new(secs(5));
    // A server handler calls a failing downstream through a retry layer with 1 s backoffs.
    let downstream = Scripted::<String, Req>::new([]).then_always(Reply::err("unavailable"));
    let client = RetryLayer::new(
        RetryPolicy::builder()
            .max_attempts(100)
            .backoff(Backoff::constant(secs(1)))
            .build()
            .unwrap(),
    )
    .layer(downstream.clone());
    let svc = CancelLayer::builder()
        .shutdown(&shutdown)
        .build()
        .unwrap()
        .layer(service_fn(move |req: Req| {
            let client = client.clone();
            async move {
                let mut out = http::Request::new(());
                out.set_cancel_token(req.cancel_token().unwrap().clone())
                    .unwrap();
                client.oneshot(out).await
            }
        }));
    let slow = Arc::new(Mutex::new(None));
    let long_running = CancelLayer::builder()
        .shutdown(&shutdown)
        .build()
        .unwrap()
        .layer(handler(secs(60), slow));

    let retrying = tokio::spawn(svc.clone().oneshot(req()));
    let working = tokio::spawn(long_running.oneshot(req()));
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(downstream.calls(), 3, "attempts at 0, 1 and 2 s");
    shutdown.begin();

    // Draining: the retry stops at once (no new attempt), new requests are refused...
    let err = retrying.await.unwrap().unwrap_err();
    let retry = err.downcast_ref::<RetryError>().unwrap();
    assert_eq!(retry.reason(), &StopReason::Draining);
    assert_eq!(downstream.calls(), 3);
    let refused = svc.oneshot(req()).await.unwrap_err();
    assert_eq!(cancelled(&refused), &CancelReason::Shutdown);

    // ...work in progress may go on for the grace period, then it is cancelled.
    tokio::time::sleep(secs(4)).await;
    assert!(!working.is_finished());
    let start = Instant::now();
    let err = working.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Shutdown);
    assert_eq!(start.elapsed(), secs(1));
    assert!(shutdown.is_stopped());
}

#[tokio::test(start_paused = true)]
async fn running_operations_are_listed_and_cancelled_by_label_or_name() {
    use steadfast::cancel::operations::{Operation, Operations};
    let ops = Operations::new();
    let svc = CancelLayer::builder()
        .operations(&ops)
        .build()
        .unwrap()
        .layer(service_fn(|req: Req| async move {
            let token = req.cancel_token().unwrap().clone();
            token.report_progress("started");
            tokio::time::sleep(secs(1)).await;
            // Progress can be reported from any child of the request's token too.
            token.child().report_progress("half way");
            tokio::time::sleep(secs(60)).await;
            Ok::<_, std::io::Error>("done")
        }));
    let labelled = |name: &str, user: &str| {
        let mut r = req();
        r.extensions_mut()
            .insert(Operation::new(name.to_string()).label("user", user.to_string()));
        r
    };
    let a = tokio::spawn(svc.clone().oneshot(labelled("export users", "7")));
    tokio::time::sleep(secs(1)).await;
    let b = tokio::spawn(svc.clone().oneshot(labelled("export orders", "8")));
    let c = tokio::spawn(
        svc.clone()
            .oneshot(http::Request::get("/reports/q3").body(()).unwrap()),
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let running = ops.list();
    let names: Vec<&str> = running.iter().map(|o| o.name()).collect();
    assert_eq!(names, ["export users", "export orders", "GET /reports/q3"]);
    assert_eq!(running[0].age(), Duration::from_millis(2_500));
    assert_eq!(running[0].progress().as_deref(), Some("half way"));
    assert_eq!(running[0].labels().collect::<Vec<_>>(), [("user", "7")]);

    assert_eq!(
        ops.cancel_labelled("user", "8", CancelReason::manual("admin")),
        1
    );
    let err = b.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::manual("admin"));
    assert_eq!(ops.len(), 2, "a finished request leaves the registry");

    assert_eq!(ops.cancel_named("export *", CancelReason::Shutdown), 1);
    assert_eq!(
        cancelled(&a.await.unwrap().unwrap_err()),
        &CancelReason::Shutdown
    );
    let id = ops.list()[0].id();
    assert!(ops.cancel(id, CancelReason::Condition(None)));
    assert_eq!(
        cancelled(&c.await.unwrap().unwrap_err()),
        &CancelReason::Condition(None)
    );
    assert!(ops.is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_registry_holds_only_what_is_in_flight() {
    use steadfast::cancel::operations::Operations;
    let ops = Operations::new();
    let mut svc = CancelLayer::builder()
        .operations(&ops)
        .build()
        .unwrap()
        .layer(service_fn(|_: Req| async { Ok::<_, std::io::Error>(()) }));
    for _ in 0..100_000 {
        svc.ready().await.unwrap().call(req()).await.unwrap();
    }
    assert_eq!(ops.len(), 0);
    // And one still in flight is listed.
    let pending = svc.ready().await.unwrap().call(req());
    assert_eq!(ops.len(), 1);
    drop(pending);
    assert_eq!(ops.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn stop_now_and_cancel_all_end_everything_at_once() {
    use steadfast::cancel::operations::Operations;
    use steadfast::cancel::Shutdown;
    let ops = Operations::new();
    let shutdown = Shutdown::new(secs(3600));
    // A handler that keeps nothing of its request once it is dropped.
    let svc = CancelLayer::builder()
        .operations(&ops)
        .shutdown(&shutdown)
        .build()
        .unwrap()
        .layer(service_fn(|_: Req| async {
            tokio::time::sleep(secs(60)).await;
            Ok::<_, std::io::Error>("done")
        }));
    let a = tokio::spawn(svc.clone().oneshot(req()));
    let b = tokio::spawn(svc.clone().oneshot(req()));
    tokio::time::sleep(secs(1)).await;
    assert_eq!(ops.cancel_all(CancelReason::manual("maintenance")), 2);
    for t in [a, b] {
        let err = t.await.unwrap().unwrap_err();
        assert_eq!(cancelled(&err), &CancelReason::manual("maintenance"));
    }
    assert!(ops.is_empty());

    let c = tokio::spawn(svc.oneshot(req()));
    tokio::time::sleep(secs(1)).await;
    shutdown.stop_now();
    let start = Instant::now();
    let err = c.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Shutdown);
    assert_eq!(start.elapsed(), Duration::ZERO, "no grace period");
    assert!(shutdown.is_draining() && shutdown.is_stopped());
}

/// The layer's token replaces the caller's where it was, and is added to a request that had
/// none: either way the request carries exactly one token, the layer's, a child of the
/// caller's.
#[tokio::test(start_paused = true)]
async fn the_layers_token_takes_the_callers_place() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let layer = CancelLayer::builder().timeout(secs(5)).build().unwrap();
    let mut svc = layer.layer(service_fn({
        let seen = seen.clone();
        move |req: Req| {
            let entries = req.extensions().len();
            seen.lock()
                .unwrap()
                .push((req.cancel_token().cloned(), entries));
            async { Ok::<_, std::io::Error>("ok") }
        }
    }));
    let caller = CancelToken::new();
    let mut with_token = req();
    with_token.extensions_mut().insert(caller.clone());
    svc.ready().await.unwrap().call(with_token).await.unwrap();
    svc.ready().await.unwrap().call(req()).await.unwrap();
    let seen = seen.lock().unwrap();
    let (child, entries) = &seen[0];
    let child = child.as_ref().expect("a token");
    assert_eq!(*entries, 1);
    assert!(
        !child.same_as(&caller),
        "the layer's own token, not the caller's"
    );
    assert!(child.deadline().is_some());
    caller.cancel_with(CancelReason::Shutdown);
    assert_eq!(child.reason(), Some(CancelReason::Shutdown));
    let (fresh, entries) = &seen[1];
    assert_eq!(*entries, 1);
    assert!(fresh.as_ref().is_some_and(|t| t.deadline().is_some()));
}
