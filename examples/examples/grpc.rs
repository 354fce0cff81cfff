//! steadfast with tonic: a gRPC server that honours its callers' deadlines, and a client
//! `Channel` that retries what gRPC says can be retried.
//!
//! ```sh
//! cargo run -p steadfast-examples --example grpc
//! ```
//!
//! The service is a small echo service (its `.proto` and generated code live in the
//! `steadfast-test` crate). The server stacks steadfast-http's `AcceptDeadlineLayer`
//! (`grpc-timeout` becomes the call's token deadline, capped at 30 s) over steadfast's
//! `CancelLayer` in its gRPC form (`.for_grpc()`, from steadfast-http's `CancelLayerExt`),
//! which fires the token at the deadline and answers `DEADLINE_EXCEEDED`. The client stacks
//! `ReplayLayer`, `RetryLayer` with the `GrpcClassifier`, and `PropagateDeadlineLayer` over a
//! tonic `Channel`.
//!
//! The example checks what it shows and exits non-zero if something did not happen.

use std::time::Duration;

use steadfast::cancel::CancelLayer;
use steadfast::retry::{Backoff, RetryEvent, RetryLayer, RetryPolicy};
use steadfast::token::CancelToken;
use steadfast_http::deadline::{AcceptDeadlineLayer, PropagateDeadlineLayer};
use steadfast_http::grpc::{GrpcClassifier, TonicBodyLayer};
use steadfast_http::replay::{ReplayCloner, ReplayLayer};
use steadfast_http::CancelLayerExt;
use steadfast_test::echo::{EchoClient, EchoServer, EchoService, SayRequest};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};
use tower::ServiceBuilder;

fn request(message: &str, token: &CancelToken) -> tonic::Request<SayRequest> {
    let mut req = tonic::Request::new(SayRequest {
        message: message.into(),
    });
    // The token rides in the request's extensions, as it would from an inbound request.
    req.extensions_mut().insert(token.clone());
    req
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let echo = EchoService::new(|ext| ext.get::<CancelToken>().and_then(CancelToken::remaining));
    let server_echo = echo.clone();
    tokio::spawn(async move {
        Server::builder()
            .layer(AcceptDeadlineLayer::new().max(Duration::from_secs(30)))
            .layer(CancelLayer::new().for_grpc())
            .add_service(EchoServer::new(server_echo))
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
    });

    // The client.
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .backoff(Backoff::exponential(Duration::from_millis(20)))
        .classify(GrpcClassifier::default())
        .clone_requests(ReplayCloner)
        .on_event(|e| {
            if let RetryEvent::Retry {
                attempt,
                delay,
                outcome,
                ..
            } = e
            {
                println!("  attempt {attempt}: {outcome}; next in {delay:?}");
            }
        })
        .build()?;
    let mut client = EchoClient::new(
        ServiceBuilder::new()
            .layer(ReplayLayer::new())
            .layer(RetryLayer::new(policy))
            .layer(PropagateDeadlineLayer::new())
            .layer(TonicBodyLayer)
            .service(channel),
    );

    let mut failed = 0;
    let mut check = |ok: bool, what: &str| {
        println!("  {}  {what}", if ok { "ok  " } else { "FAIL" });
        failed += u32::from(!ok);
    };

    println!("1. a call with 2 s left");
    let token = CancelToken::with_deadline(tokio::time::Instant::now() + Duration::from_secs(2));
    let reply = client.say(request("hello", &token)).await?.into_inner();
    check(
        reply.remaining_ms > 0 && reply.remaining_ms <= 2_000,
        &format!("the server's handler saw {} ms left", reply.remaining_ms),
    );

    println!("2. the server answers UNAVAILABLE until it has had three calls");
    let before = echo.calls();
    let reply = client
        .say(request("flaky:3:14", &token))
        .await?
        .into_inner();
    check(reply.message == "flaky:3:14", "the call succeeded");
    check(echo.calls() - before == 3, "after three attempts");

    println!("3. RESOURCE_EXHAUSTED with grpc-retry-pushback-ms: -1 (do not retry)");
    let before = echo.calls();
    let status = client
        .say(request("flaky:1000:8:-1", &token))
        .await
        .expect_err("a failure");
    check(
        status.code() == tonic::Code::ResourceExhausted && echo.calls() - before == 1,
        "the status reached the caller after one attempt",
    );

    println!("4. a handler slower than the call's deadline");
    let short =
        CancelToken::with_deadline(tokio::time::Instant::now() + Duration::from_millis(100));
    let started = tokio::time::Instant::now();
    let status = client
        .say(request("sleep:60000", &short))
        .await
        .expect_err("a deadline");
    // The server answers DEADLINE_EXCEEDED when its copy of the deadline passes; tonic's client
    // also watches the `grpc-timeout` it sent and may report CANCELLED a moment first.
    check(
        matches!(
            status.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ) && started.elapsed() < Duration::from_secs(5),
        &format!("the call ended at its deadline ({:?})", status.code()),
    );

    if failed > 0 {
        std::process::exit(1);
    }
    println!("all checks passed");
    Ok(())
}
