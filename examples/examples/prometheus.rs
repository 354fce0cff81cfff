//! Layer metrics for Prometheus: an axum app with a retrying, circuit-breaking client inside,
//! and a `/metrics` route for Prometheus to scrape.
//!
//! ```sh
//! cargo run -p steadfast-examples --example prometheus
//! ```
//!
//! steadfast's `MetricsExport` (feature `metrics`) turns each layer's events into `metrics`
//! counters, histograms and gauges, tagged with the layer's name; `metrics-exporter-prometheus`
//! renders them. The app's `/quote` handler calls a backend that fails two calls of every three
//! through a retry layer (`quotes`, three attempts) over a circuit breaker (`quotes-backend`,
//! open after three failures in a row); `POST /outage` takes the backend down. The code is in
//! the library (`steadfast_examples::prometheus`), where a test uses it too.
//!
//! The example plays Prometheus: it asks for three quotes (each needs two retries), takes the
//! backend down, asks for one more (the retries run out and the breaker opens), then scrapes
//! `/metrics` over HTTP, prints the steadfast series, checks them and exits non-zero if they
//! are not what happened.

use axum::http::StatusCode;
use steadfast_examples::prometheus::{app, recorder, sample, send, serve};

#[tokio::main]
async fn main() {
    let recorder = recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("no recorder installed yet");
    let addr = serve(app(handle)).await;
    println!("serving on http://{addr} (GET /quote, POST /outage, GET /metrics)");

    for _ in 0..3 {
        let (status, body) = send(addr, "GET", "/quote").await;
        println!("GET /quote -> {status} {body}");
    }
    send(addr, "POST", "/outage").await;
    let (status, body) = send(addr, "GET", "/quote").await;
    println!("GET /quote during the outage -> {status} {body}");
    let gave_up = status == StatusCode::SERVICE_UNAVAILABLE;

    let (_, scrape) = send(addr, "GET", "/metrics").await;
    println!("\nGET /metrics (steadfast's series with a value):");
    for line in scrape.lines() {
        if line.starts_with("steadfast_") && !line.ends_with(" 0") {
            println!("  {line}");
        }
    }

    let mut failed = 0;
    let mut check = |ok: bool, what: &str| {
        println!("  {}  {what}", if ok { "ok  " } else { "FAIL" });
        failed += u32::from(!ok);
    };
    println!();
    let retry = ("steadfast_layer", "quotes");
    let breaker = ("steadfast_layer", "quotes-backend");
    check(gave_up, "the request during the outage was answered 503");
    check(
        sample(
            &scrape,
            "steadfast_retry_retries",
            &[retry, ("steadfast_outcome", "retryable")],
        ) == Some(8.0),
        "8 retries: 2 for each good quote, 2 during the outage",
    );
    check(
        sample(
            &scrape,
            "steadfast_retry_give_ups",
            &[retry, ("steadfast_stop_reason", "attempts_exhausted")],
        ) == Some(1.0),
        "1 give-up: the attempts ran out",
    );
    check(
        sample(
            &scrape,
            "steadfast_retry_attempts",
            &[retry, ("steadfast_outcome", "retryable")],
        ) == Some(9.0),
        "9 failed attempts: 2 for each good quote, 3 during the outage",
    );
    check(
        sample(
            &scrape,
            "steadfast_retry_requests",
            &[retry, ("steadfast_retry_end", "success")],
        ) == Some(3.0),
        "3 requests ended in a success",
    );
    check(
        sample(
            &scrape,
            "steadfast_retry_request_duration_count",
            &[retry, ("steadfast_retry_end", "gave_up")],
        ) == Some(1.0),
        "1 request duration recorded for the request that gave up",
    );
    check(
        sample(
            &scrape,
            "steadfast_circuit_breaker_calls",
            &[breaker, ("steadfast_outcome", "failure")],
        ) == Some(9.0),
        "9 failed calls seen by the breaker",
    );
    check(
        sample(
            &scrape,
            "steadfast_circuit_breaker_status",
            &[breaker, ("steadfast_circuit_breaker_state", "open")],
        ) == Some(1.0),
        "the breaker is open",
    );
    if failed > 0 {
        std::process::exit(1);
    }
    println!("all checks passed");
}
