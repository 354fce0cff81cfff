//! The client preset's defaults in time, on a paused clock: the retry schedule of .NET's
//! standard handler, and a backend that never answers cut off by the 30 s total timeout.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use steadfast::cancel::Cancelled;
use steadfast::retry::{RetryError, StopReason};
use steadfast::token::CancelReason;
use steadfast_http::preset::standard_http_client;
use steadfast_http::replay::ReplayBody;
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};

type Req = Request<ReplayBody<Full<Bytes>>>;

fn get() -> Request<Full<Bytes>> {
    Request::get("http://inventory.internal/stock")
        .body(Full::default())
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn three_retries_wait_about_2_4_and_8_seconds() {
    let calls = Arc::new(AtomicU32::new(0));
    let at = Arc::new(std::sync::Mutex::new(Vec::new()));
    let start = Instant::now();
    let transport = service_fn({
        let (calls, at) = (calls.clone(), at.clone());
        move |_req: Req| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            at.lock().unwrap().push(start.elapsed());
            async move {
                let status = if n < 3 { 503 } else { 200 };
                Ok::<_, std::convert::Infallible>(
                    Response::builder().status(status).body(()).unwrap(),
                )
            }
        }
    });
    let client = standard_http_client()
        .retry(|r| r.seed(7))
        .build()
        .unwrap()
        .layer(transport);
    let res = client.oneshot(get()).await.unwrap();
    assert_eq!(res.status(), 200);
    let at = at.lock().unwrap().clone();
    assert_eq!(at.len(), 4);
    // Exponential from 2 s, doubling, equal jitter: each wait is half to all of its step.
    for (i, step) in [2u64, 4, 8].into_iter().enumerate() {
        let wait = at[i + 1] - at[i];
        assert!(
            wait >= Duration::from_secs(step) / 2 && wait <= Duration::from_secs(step),
            "wait {i}: {wait:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_backend_that_never_answers_is_cut_off_at_30_seconds() {
    let calls = Arc::new(AtomicU32::new(0));
    let transport = service_fn({
        let calls = calls.clone();
        move |_req: Req| {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<Response<()>, std::convert::Infallible>>()
        }
    });
    let client = standard_http_client()
        .retry(|r| r.seed(7))
        .build()
        .unwrap()
        .layer(transport);
    let start = Instant::now();
    let err = client.oneshot(get()).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    // The third attempt's own timeout and the total fire together, at the deadline: the
    // request ends with the total's `Cancelled`, or with the retry layer's `RetryError`
    // stopped by that deadline.
    match err.downcast::<RetryError>() {
        Ok(e) => assert_eq!(e.reason(), &StopReason::Deadline, "{e:?}"),
        Err(e) => assert_eq!(
            e.downcast_ref::<Cancelled>().map(Cancelled::reason),
            Some(&CancelReason::Timeout(Duration::from_secs(30))),
            "{e:?}"
        ),
    }
    // 10 s attempts with waits of 1-2 s and 2-4 s between them: the third was running.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
