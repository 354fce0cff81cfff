//! steadfast with tonic over real TCP on 127.0.0.1: a deadline travels from the client's
//! token to the server's as `grpc-timeout`; a server whose deadline passes answers
//! `DEADLINE_EXCEEDED`; and a client `Channel` wrapped in the retry stack retries
//! `UNAVAILABLE`, waits for `grpc-retry-pushback-ms`, and leaves `DEADLINE_EXCEEDED` alone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::cancel::CancelLayer;
use steadfast::retry::{Backoff, RetryEvent, RetryLayer, RetryPolicy};
use steadfast::token::CancelToken;
use steadfast_http::deadline::{AcceptDeadlineLayer, PropagateDeadlineLayer};
use steadfast_http::grpc::{GrpcClassifier, TonicBodyLayer};
use steadfast_http::replay::{ReplayCloner, ReplayLayer};
use steadfast_http::CancelLayerExt;
use steadfast_test::echo::{EchoClient, EchoServer, EchoService, SayRequest};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tower::ServiceBuilder;

/// Starts an echo server that accepts callers' deadlines and enforces them.
async fn start() -> (Channel, EchoService) {
    start_with_cap(Duration::from_secs(30)).await
}

/// As [`start`], never granting a call more than `cap`.
async fn start_with_cap(cap: Duration) -> (Channel, EchoService) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = EchoService::new(|ext| ext.get::<CancelToken>().and_then(CancelToken::remaining));
    let service = echo.clone();
    tokio::spawn(async move {
        Server::builder()
            .layer(AcceptDeadlineLayer::new().max(cap))
            .layer(CancelLayer::new().for_grpc())
            .add_service(EchoServer::new(service))
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (channel, echo)
}

fn say(message: &str, token: Option<&CancelToken>) -> tonic::Request<SayRequest> {
    let mut req = tonic::Request::new(SayRequest {
        message: message.to_owned(),
    });
    if let Some(t) = token {
        req.extensions_mut().insert(t.clone());
    }
    req
}

#[tokio::test]
async fn the_clients_deadline_reaches_the_server() {
    let (channel, _) = start().await;
    let mut client = EchoClient::new(
        ServiceBuilder::new()
            .layer(PropagateDeadlineLayer::new())
            .service(channel),
    );
    let token = CancelToken::with_deadline(Instant::now() + Duration::from_secs(5));
    let reply = client.say(say("hi", Some(&token))).await.unwrap();
    let left = reply.into_inner().remaining_ms;
    // Less than the client gave, and not by more than the time the call took.
    assert!(left > 1_000 && left <= 5_000, "{left}");

    // No token, no deadline: the server's handler has none either.
    let reply = client.say(say("hi", None)).await.unwrap();
    assert_eq!(reply.into_inner().remaining_ms, -1);
}

#[tokio::test]
async fn a_deadline_that_passes_on_the_server_ends_the_call_with_deadline_exceeded() {
    // The server grants at most 100 ms, so its deadline passes before the client's own
    // (tonic's client also gives up when the `grpc-timeout` it sent runs out).
    let (channel, _) = start_with_cap(Duration::from_millis(100)).await;
    let mut client = EchoClient::new(
        ServiceBuilder::new()
            .layer(PropagateDeadlineLayer::new())
            .service(channel),
    );
    let token = CancelToken::with_deadline(Instant::now() + Duration::from_secs(5));
    let status = client
        .say(say("sleep:60000", Some(&token)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
}

/// A client channel wrapped in the retry stack, recording the delays it chose.
fn retrying(
    channel: Channel,
    classifier: GrpcClassifier,
) -> (
    EchoClient<
        impl tonic::client::GrpcService<tonic::body::Body, ResponseBody = tonic::body::Body> + Clone,
    >,
    Arc<Mutex<Vec<Duration>>>,
) {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .classify(classifier)
        .clone_requests(ReplayCloner)
        .on_event({
            let delays = delays.clone();
            move |e| {
                if let RetryEvent::Retry { delay, .. } = e {
                    delays.lock().unwrap().push(*delay);
                }
            }
        })
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(ReplayLayer::new())
        .layer(RetryLayer::new(policy))
        .layer(PropagateDeadlineLayer::new())
        .layer(TonicBodyLayer)
        .service(channel);
    (EchoClient::new(service), delays)
}

#[tokio::test]
async fn unavailable_is_retried_through_a_channel() {
    let (channel, echo) = start().await;
    let (mut client, delays) = retrying(channel, GrpcClassifier::default());
    let reply = client.say(say("flaky:2:14", None)).await.unwrap();
    assert_eq!(reply.into_inner().message, "flaky:2:14");
    assert_eq!(echo.calls(), 3);
    assert_eq!(delays.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn resource_exhausted_waits_for_the_servers_pushback() {
    let (channel, echo) = start().await;
    let (mut client, delays) = retrying(channel, GrpcClassifier::default());
    let reply = client.say(say("flaky:1:8:40", None)).await.unwrap();
    assert_eq!(reply.into_inner().message, "flaky:1:8:40");
    assert_eq!(echo.calls(), 2);
    assert_eq!(*delays.lock().unwrap(), [Duration::from_millis(40)]);

    // A negative pushback means "do not retry".
    let (channel, echo) = start().await;
    let (mut client, delays) = retrying(channel, GrpcClassifier::default());
    let status = client.say(say("flaky:1:8:-1", None)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(echo.calls(), 1);
    assert!(delays.lock().unwrap().is_empty());
}

#[tokio::test]
async fn deadline_exceeded_is_not_retried_unless_configured() {
    let (channel, echo) = start().await;
    let (mut client, _) = retrying(channel, GrpcClassifier::default());
    let status = client.say(say("flaky:1:4", None)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    assert_eq!(echo.calls(), 1);

    let (channel, echo) = start().await;
    let classifier = GrpcClassifier::builder()
        .code(
            steadfast_http::GrpcCode::DeadlineExceeded,
            steadfast_http::Rule::Retry,
        )
        .build();
    let (mut client, _) = retrying(channel, classifier);
    client.say(say("flaky:1:4", None)).await.unwrap();
    assert_eq!(echo.calls(), 2);
}

#[tokio::test]
async fn the_breaker_reads_a_unary_calls_status_from_the_trailers_over_tcp() {
    use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
    use steadfast_http::grpc_status::GrpcStatusLayer;

    let (channel, _) = start().await;
    let breaker = CircuitBreaker::builder().build().unwrap();
    let mut client = EchoClient::new(
        ServiceBuilder::new()
            .layer(CircuitBreakerLayer::new(breaker.clone()).classify(GrpcClassifier::default()))
            .layer(GrpcStatusLayer::new())
            .service(channel),
    );
    // A successful unary call sends `grpc-status: 0` in the trailers after its message: it
    // is counted once tonic has read them.
    let reply = client.say(say("hi", None)).await.unwrap();
    assert_eq!(reply.into_inner().message, "hi");
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures), (1, 0));

    // A failed call is answered trailers-only: judged from its headers, counted once.
    let status = client.say(say("flaky:9:14", None)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures), (1, 1));
}
