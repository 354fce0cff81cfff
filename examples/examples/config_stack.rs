//! A whole client stack from a settings file in one call: `examples/config/inventory.toml`'s
//! `inventory` stack (a 5 s total timeout, three attempts with exponential backoff, a breaker
//! over the last 30 s of calls, 1 s per attempt) in front of hyper-util's client, calling an
//! axum server on 127.0.0.1.
//!
//! ```sh
//! cargo run -p steadfast-examples --example config_stack [-- path/to/settings.toml]
//! ```
//!
//! What it shows, and checks (the example exits non-zero if the stack does not do what the
//! file says):
//! 1. a `503` is retried, and the third attempt's answer comes back;
//! 2. an attempt that takes longer than 1 s is cut off and retried, three times in all;
//! 3. once half of at least ten calls have failed, the breaker opens and refuses calls
//!    without sending them.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::circuit_breaker::{CircuitState, Rejected};
use steadfast::classify::find_source;
use steadfast::config::load;
use steadfast::describe::Describe;
use steadfast_http::replay::{ReplayCloner, ReplayLayer};
use steadfast_http::HttpClassifier;
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};

/// Requests each route of the server received.
#[derive(Default)]
struct Hits {
    flaky: AtomicU32,
    slow: AtomicU32,
    down: AtomicU32,
}

/// A server with a route that fails twice then answers, one that answers after 3 s, and one
/// that is down.
async fn serve(hits: Arc<Hits>) -> std::net::SocketAddr {
    let app = axum::Router::new()
        .route(
            "/flaky",
            get({
                let hits = hits.clone();
                move || async move {
                    match hits.flaky.fetch_add(1, Ordering::SeqCst) {
                        0 | 1 => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
                        _ => (StatusCode::OK, "12 in stock"),
                    }
                }
            }),
        )
        .route(
            "/slow",
            get({
                let hits = hits.clone();
                move || async move {
                    hits.slow.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "late"
                }
            }),
        )
        .route(
            "/down",
            get(move || async move {
                hits.down.fetch_add(1, Ordering::SeqCst);
                (StatusCode::SERVICE_UNAVAILABLE, "down")
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn check(ok: bool, what: &str, failures: &mut u32) {
    if ok {
        println!("  ok    {what}");
    } else {
        println!("  FAIL  {what}");
        *failures += 1;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/inventory.toml").to_owned()
    });
    let config = match load(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // The file gives the settings; the code gives what a file cannot: how to judge an HTTP
    // answer, and how to keep a request's body for a retry.
    let settings = match config.find_stack("inventory") {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let stack = settings
        .builder()
        .classify(HttpClassifier::default())
        .clone_requests(ReplayCloner)
        .build()
        .expect("a file that loaded builds its layers");
    println!(
        "The inventory stack, outermost first:\n{}",
        stack.description()
    );
    let breaker = stack.breaker().expect("the stack has a breaker").clone();
    let client = ServiceBuilder::new()
        .layer(ReplayLayer::new())
        .layer(stack)
        .service(Client::builder(TokioExecutor::new()).build_http::<_>());

    let hits = Arc::new(Hits::default());
    let addr = serve(hits.clone()).await;
    let get = |path: &str| {
        Request::get(format!("http://{addr}{path}"))
            .body(Empty::<Bytes>::new())
            .expect("a request")
    };
    let mut failures = 0;

    println!("1. GET /flaky: 503, 503, then 200");
    let res = client.clone().oneshot(get("/flaky")).await;
    check(
        res.as_ref().is_ok_and(|r| r.status() == StatusCode::OK),
        "the third attempt's answer came back",
        &mut failures,
    );
    check(
        hits.flaky.load(Ordering::SeqCst) == 3,
        "three attempts reached the server",
        &mut failures,
    );

    println!("2. GET /slow: the server takes 3 s, the file allows 1 s per attempt");
    let started = Instant::now();
    let res = client.clone().oneshot(get("/slow")).await;
    let took = started.elapsed();
    println!(
        "  failed after {took:?}: {}",
        res.as_ref()
            .err()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    check(res.is_err(), "the request failed", &mut failures);
    check(
        hits.slow.load(Ordering::SeqCst) == 3,
        "each of the three attempts was cut off and retried",
        &mut failures,
    );
    check(
        took >= Duration::from_secs(3) && took < Duration::from_secs(5),
        "three attempts of 1 s, plus backoffs under 1 s each, within the 5 s total",
        &mut failures,
    );

    println!("3. GET /down until the breaker opens (half of at least ten calls failed)");
    let mut refused = None;
    for n in 1..=5 {
        match client.clone().oneshot(get("/down")).await {
            Err(e) if find_source::<Rejected>(&*e).is_some() => {
                refused = Some(n);
                break;
            }
            _ => {}
        }
    }
    println!(
        "  breaker {:?} after {} calls ({} failed)",
        breaker.state(),
        breaker.metrics().successes + breaker.metrics().failures,
        breaker.metrics().failures
    );
    check(
        breaker.state() == CircuitState::Open,
        "the breaker opened",
        &mut failures,
    );
    check(
        refused.is_some(),
        "a request was refused by the open breaker",
        &mut failures,
    );
    let sent = hits.down.load(Ordering::SeqCst);
    let res = client.clone().oneshot(get("/down")).await;
    check(
        res.as_ref()
            .err()
            .is_some_and(|e| find_source::<Rejected>(&**e).is_some())
            && hits.down.load(Ordering::SeqCst) == sent,
        "while open, a request is refused without reaching the server",
        &mut failures,
    );

    if failures == 0 {
        println!("every check passed");
        ExitCode::SUCCESS
    } else {
        println!("{failures} check(s) failed");
        ExitCode::FAILURE
    }
}
