//! A client stack from a settings file with every section a stack can have:
//! `examples/config/catalog.toml`'s `catalog` stack (a total timeout, retries that also retry
//! a `500`, a hedge after 200 ms, a breaker, an attempt timeout, and a validate section that
//! checks each answer's status, header and JSON fields) in front of hyper-util's client,
//! calling an axum server on 127.0.0.1.
//!
//! ```sh
//! cargo run -p steadfast-examples --example config_validate [-- path/to/settings.toml]
//! ```
//!
//! What it shows, and checks (the example exits non-zero if the stack does not do what the
//! file says):
//! 1. an answer with half a JSON document, then one without a `name`, are retried until the
//!    body has every field the file asks for;
//! 2. a `500` is retried, by the rule the file gives the classifier;
//! 3. an answer that straggles past 200 ms is raced by a hedge, which answers first.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use bytes::Bytes;
use http::{header, Request, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::config::load;
use steadfast::describe::Describe;
use steadfast_http::by_name::{classifier_with_rules, validate_layer, NamedClassifier};
use steadfast_http::replay::{ReplayCloner, ReplayLayer};
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};

/// Requests each route of the server received.
#[derive(Default)]
struct Hits {
    partial: AtomicU32,
    error: AtomicU32,
    straggler: AtomicU32,
}

const JSON: [(header::HeaderName, &str); 1] = [(header::CONTENT_TYPE, "application/json")];

/// A server whose routes answer badly first: half a document, then a document without a
/// field; a `500`; and a first answer that takes 3 s.
async fn serve(hits: Arc<Hits>) -> std::net::SocketAddr {
    let app = axum::Router::new()
        .route(
            "/partial",
            get({
                let hits = hits.clone();
                move || async move {
                    match hits.partial.fetch_add(1, Ordering::SeqCst) {
                        0 => (JSON, r#"{"id": 7, "na"#),
                        1 => (JSON, r#"{"id": 7}"#),
                        _ => (JSON, r#"{"id": 7, "name": "lamp"}"#),
                    }
                }
            }),
        )
        .route(
            "/error",
            get({
                let hits = hits.clone();
                move || async move {
                    match hits.error.fetch_add(1, Ordering::SeqCst) {
                        0 => (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            JSON,
                            r#"{"error": "oops"}"#,
                        ),
                        _ => (StatusCode::OK, JSON, r#"{"id": 8, "name": "desk"}"#),
                    }
                }
            }),
        )
        .route(
            "/straggler",
            get(move || async move {
                if hits.straggler.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                (JSON, r#"{"id": 9, "name": "chair"}"#)
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
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/config/catalog.toml").to_owned());
    let config = match load(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = match config.find_stack("catalog") {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // The classifier the file names, with the rules it gives.
    let retry = settings.retry.as_ref().expect("the stack retries");
    let classifier = match classifier_with_rules(
        "stacks.catalog.retry.classify",
        retry.classify.as_deref().unwrap_or("http"),
        retry.classify_rules.as_ref(),
    ) {
        Ok(NamedClassifier::Http(c)) => c,
        Ok(_) => {
            eprintln!("stacks.catalog.retry.classify: this client speaks HTTP, not gRPC");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // The file gives the settings; the code gives how to judge an answer, how to keep a
    // request's body for a retry or a hedge, and what builds the validate section's checks.
    let stack = match settings
        .builder()
        .classify(classifier)
        .clone_requests(ReplayCloner)
        .validate_with(validate_layer)
        .build_hedged()
    {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "The catalog stack, outermost first:\n{}",
        stack.description()
    );
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

    println!("1. GET /partial: half a document, a document without a name, then a whole one");
    let res = client.clone().oneshot(get("/partial")).await;
    check(
        res.as_ref()
            .is_ok_and(|r| r.body().bytes().as_ref() == br#"{"id": 7, "name": "lamp"}"#),
        "the third answer, the first valid one, came back",
        &mut failures,
    );
    check(
        hits.partial.load(Ordering::SeqCst) == 3,
        "three attempts reached the server",
        &mut failures,
    );

    println!("2. GET /error: a 500, then 200");
    let res = client.clone().oneshot(get("/error")).await;
    check(
        res.as_ref().is_ok_and(|r| r.status() == StatusCode::OK),
        "the 500 was retried, as the file's classifier rule says",
        &mut failures,
    );

    println!("3. GET /straggler: the first answer takes 3 s");
    let started = Instant::now();
    let res = client.oneshot(get("/straggler")).await;
    let took = started.elapsed();
    println!("  answered after {took:?}");
    check(res.is_ok(), "the request succeeded", &mut failures);
    check(
        hits.straggler.load(Ordering::SeqCst) == 2 && took < Duration::from_secs(1),
        "a hedge sent after 200 ms answered first",
        &mut failures,
    );

    if failures == 0 {
        println!("The stack followed the file.");
        ExitCode::SUCCESS
    } else {
        println!("{failures} check(s) failed.");
        ExitCode::FAILURE
    }
}
