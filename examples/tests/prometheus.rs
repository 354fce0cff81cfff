//! The Prometheus example's app, served on 127.0.0.1 and scraped over HTTP: the series the
//! client stack's layers report, with their values, names and types.

use axum::http::StatusCode;
use steadfast_examples::prometheus::{app, recorder, sample, send, serve};

#[tokio::test]
async fn the_scrape_shows_what_the_client_stack_did() {
    let recorder = recorder();
    let handle = recorder.handle();
    // The layers' handles are registered with this recorder when the app is built; the
    // events reach them from whichever thread serves the request.
    let app = metrics::with_local_recorder(&recorder, || app(handle));
    let addr = serve(app).await;

    for n in [3, 6, 9] {
        assert_eq!(
            send(addr, "GET", "/quote").await,
            (StatusCode::OK, format!("quote {n}"))
        );
    }
    assert_eq!(
        send(addr, "POST", "/outage").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(addr, "GET", "/quote").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let (status, scrape) = send(addr, "GET", "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let retry = ("steadfast_layer", "quotes");
    let breaker = ("steadfast_layer", "quotes-backend");
    let value = |name: &str, labels: &[(&str, &str)]| sample(&scrape, name, labels);
    let outcome = |o| ("steadfast_outcome", o);

    assert_eq!(
        value("steadfast_retry_retries", &[retry, outcome("retryable")]),
        Some(8.0)
    );
    assert_eq!(
        value("steadfast_retry_retries", &[retry, outcome("invalid")]),
        Some(0.0)
    );
    assert_eq!(
        value(
            "steadfast_retry_give_ups",
            &[retry, ("steadfast_stop_reason", "attempts_exhausted")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value("steadfast_retry_budget_rejections", &[retry]),
        Some(0.0)
    );
    // Each quote took three attempts (two failed, the third succeeded); the request during the
    // outage took three failed attempts and gave up.
    for (o, n) in [("success", 3.0), ("retryable", 9.0), ("invalid", 0.0)] {
        assert_eq!(
            value("steadfast_retry_attempts", &[retry, outcome(o)]),
            Some(n),
            "{o}"
        );
        assert_eq!(
            value(
                "steadfast_retry_attempt_duration_count",
                &[retry, outcome(o)]
            ),
            Some(n),
            "{o}"
        );
    }
    let end = |e| ("steadfast_retry_end", e);
    for (e, n) in [("success", 3.0), ("gave_up", 1.0), ("failed", 0.0)] {
        assert_eq!(
            value("steadfast_retry_requests", &[retry, end(e)]),
            Some(n),
            "{e}"
        );
        assert_eq!(
            value("steadfast_retry_request_duration_count", &[retry, end(e)]),
            Some(n),
            "{e}"
        );
    }
    // Every request waited out two 5 ms backoffs.
    let waited = value(
        "steadfast_retry_request_duration_sum",
        &[retry, end("success")],
    )
    .expect("a sum");
    assert!(waited >= 3.0 * 0.010, "{waited}");
    for (o, n) in [("success", 3.0), ("failure", 9.0), ("rejected", 0.0)] {
        assert_eq!(
            value("steadfast_circuit_breaker_calls", &[breaker, outcome(o)]),
            Some(n),
            "{o}"
        );
    }
    assert_eq!(
        value(
            "steadfast_circuit_breaker_transitions",
            &[
                breaker,
                ("steadfast_circuit_breaker_from", "closed"),
                ("steadfast_circuit_breaker_to", "open")
            ]
        ),
        Some(1.0)
    );
    for (state, v) in [("open", 1.0), ("closed", 0.0), ("half_open", 0.0)] {
        assert_eq!(
            value(
                "steadfast_circuit_breaker_status",
                &[breaker, ("steadfast_circuit_breaker_state", state)]
            ),
            Some(v),
            "{state}"
        );
    }
    // Each instrument is described, with its kind; the durations are histograms.
    for line in [
        "# TYPE steadfast_retry_retries counter",
        "# TYPE steadfast_circuit_breaker_status gauge",
        "# TYPE steadfast_retry_attempt_duration histogram",
        "# TYPE steadfast_retry_request_duration histogram",
        "# TYPE steadfast_retry_requests counter",
        "# HELP steadfast_retry_give_ups Requests the retry layer stopped retrying without a success, by why",
    ] {
        assert!(scrape.lines().any(|l| l == line), "{line} missing");
    }
}
