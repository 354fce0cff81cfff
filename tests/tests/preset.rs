//! The standard client and server presets against real servers on 127.0.0.1: hints honoured,
//! bodies replayed, the deadline and the cancellation reaching the server, the breaker
//! opening, the concurrency limit refusing, and the file equivalent of the client preset.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::circuit_breaker::{CircuitState, Rejected};
use steadfast::classify::find_source;
use steadfast::retry::{Backoff, RetryEvent};
use steadfast::token::CancelReason;
use steadfast_http::into_axum_response;
use steadfast_http::preset::{standard_http_client, standard_http_server, StandardClient};
use steadfast_http::replay::ReplayBody;
use steadfast_test::server::{Answer, ScriptedServer};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::{Layer, ServiceBuilder, ServiceExt};

mod common;
use common::{server_tokens_fired, waiting_server};

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

fn transport() -> Client<hyper_util::client::legacy::connect::HttpConnector, ReplayBody<Body>> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn empty() -> Body {
    Full::new(Bytes::new()).boxed_unsync()
}

/// A body in three chunks, streamed.
fn streamed(chunks: [&'static str; 3]) -> Body {
    struct Iter<I>(I);
    impl<I: Iterator + Unpin> futures_core::Stream for Iter<I> {
        type Item = I::Item;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<I::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    let frames = chunks.map(|c| {
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from_static(
            c.as_bytes(),
        )))
    });
    StreamBody::new(Iter(frames.into_iter())).boxed_unsync()
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_after_the_servers_wait() {
    let server = ScriptedServer::start([Answer::status(503).header("retry-after", "1")]).await;
    let delays = Arc::new(Mutex::new(Vec::new()));
    let layer = standard_http_client()
        .retry(|r| {
            let delays = delays.clone();
            r.on_event(move |e| {
                if let RetryEvent::Retry { delay, .. } = e {
                    delays.lock().unwrap().push(*delay);
                }
            })
        })
        .build()
        .unwrap();
    let client = layer.layer(transport());
    let start = Instant::now();
    let req = Request::get(server.url("/stock")).body(empty()).unwrap();
    let res = client.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    // The server's second, not the preset's own 1-2 s backoff.
    assert_eq!(*delays.lock().unwrap(), [Duration::from_secs(1)]);
    assert!(start.elapsed() >= Duration::from_secs(1));
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    // The retry says so, and both attempts told the server how long they had.
    assert_eq!(seen[1].headers["x-retry-attempt"], "2");
    for r in &seen {
        let ms: u64 = r.headers["x-request-timeout-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(ms > 0 && ms <= 10_000, "{ms}");
    }
}

#[tokio::test]
async fn a_streamed_post_with_an_idempotency_key_is_replayed() {
    let server = ScriptedServer::start([Answer::status(503), Answer::status(502)]).await;
    let layer = standard_http_client()
        .retry(|r| r.backoff(Backoff::constant(Duration::from_millis(5))))
        .build()
        .unwrap();
    let client = layer.layer(transport());
    let req = Request::post(server.url("/orders"))
        .header("idempotency-key", "order-1")
        .body(streamed(["{\"sku\":", "\"A-17\",", "\"qty\":2}"]))
        .unwrap();
    let res = client.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let bodies: Vec<Bytes> = server.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| b == "{\"sku\":\"A-17\",\"qty\":2}"));

    // Without a key, a POST is sent once and its 503 returned.
    server.push([Answer::status(503)]);
    let req = Request::post(server.url("/pay"))
        .body(streamed(["a", "b", "c"]))
        .unwrap();
    let res = client.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn the_breaker_opens_and_ends_requests_at_once() {
    let server = ScriptedServer::start((0..8).map(|_| Answer::status(503))).await;
    let layer = standard_http_client()
        .retry(|r| r.backoff(Backoff::none()))
        .breaker(|b| b.minimum_calls(8))
        .build()
        .unwrap();
    let client = layer.layer(transport());
    for _ in 0..2 {
        let req = Request::get(server.url("/flaky")).body(empty()).unwrap();
        let res = client.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 503); // four attempts, the last answer returned
    }
    assert_eq!(server.requests().len(), 8);
    assert_eq!(layer.breaker().metrics().state, CircuitState::Open);
    let req = Request::get(server.url("/flaky")).body(empty()).unwrap();
    let err = client.oneshot(req).await.unwrap_err();
    assert!(find_source::<Rejected>(&*err).is_some(), "{err}");
    assert_eq!(server.requests().len(), 8, "an open breaker sends nothing");
}

#[tokio::test]
async fn over_the_concurrency_limit_a_request_is_refused_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "late"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let layer = standard_http_client().concurrency_limit(1).build().unwrap();
    let client = layer.layer(transport());
    let url = format!("http://{addr}/slow");
    let first = tokio::spawn(
        client
            .clone()
            .oneshot(Request::get(&url).body(empty()).unwrap()),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = client
        .clone()
        .oneshot(Request::get(&url).body(empty()).unwrap())
        .await
        .unwrap_err();
    assert!(err.is::<tower::load_shed::error::Overloaded>(), "{err}");
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    // The permit is back.
    let res = client
        .oneshot(Request::get(&url).body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_attempt_timeout_reaches_the_server_and_cancels_its_token() {
    let (addr, mut ended) = waiting_server().await;
    let layer = standard_http_client()
        .total_timeout(Duration::from_millis(1_500))
        .attempt_timeout(Duration::from_millis(300))
        .retry(|r| r.max_attempts(2).backoff(Backoff::none()))
        .build()
        .unwrap();
    let client = layer.layer(transport());
    let start = Instant::now();
    let req = Request::get(format!("http://{addr}/wait"))
        .body(empty())
        .unwrap();
    let result = client.oneshot(req).await;
    // Each attempt's token on the server fired with the attempt, not after the server's 20 s.
    server_tokens_fired(&mut ended, 2, 300).await;
    // The server answered 504 at its deadline (or the client gave up on the attempts first);
    // either way the request ended after two attempts, well within its total.
    match result {
        Ok(res) => assert_eq!(res.status(), 504),
        Err(e) => assert!(
            find_source::<steadfast::cancel::Cancelled>(&*e).is_some()
                || find_source::<steadfast::retry::RetryError>(&*e).is_some(),
            "{e}"
        ),
    }
    assert!(start.elapsed() < Duration::from_millis(1_500));
}

#[tokio::test]
async fn the_total_timeout_bounds_the_attempts_and_their_deadlines() {
    let (addr, mut ended) = waiting_server().await;
    let layer = standard_http_client()
        .total_timeout(Duration::from_millis(500))
        .attempt_timeout(Duration::from_millis(300))
        .retry(|r| r.backoff(Backoff::none()))
        .build()
        .unwrap();
    let client = layer.layer(transport());
    let start = Instant::now();
    let req = Request::get(format!("http://{addr}/wait"))
        .body(empty())
        .unwrap();
    let result = client.oneshot(req).await;
    assert!(
        start.elapsed() < Duration::from_millis(800),
        "{:?}",
        start.elapsed()
    );
    // The total timeout fired, or the server's answer to the deadline it was sent came just
    // before it.
    match result {
        Ok(res) => assert_eq!(res.status(), 504),
        Err(e) => assert!(
            find_source::<steadfast::cancel::Cancelled>(&*e).is_some(),
            "{e}"
        ),
    }
    // The second attempt was sent what was left of the total, not a whole attempt's time.
    let mut headers = Vec::new();
    while let Ok(Some((_, header, _))) =
        tokio::time::timeout(Duration::from_secs(2), ended.recv()).await
    {
        headers.push(header.unwrap().parse::<u64>().unwrap());
    }
    // (A third attempt may start in the last millisecond, when the server's answer to the
    // second comes just before the total timeout.)
    assert!(headers.len() >= 2, "{headers:?}");
    assert!(headers[1..].iter().all(|&ms| ms <= 200), "{headers:?}");
}

#[tokio::test]
async fn the_server_preset_honours_the_callers_deadline_and_retry_marks() {
    let (addr, mut ended) = waiting_server().await;
    let plain = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let start = Instant::now();
    let req = Request::get(format!("http://{addr}/wait"))
        .header("x-request-timeout-ms", "200")
        .body(Full::default())
        .unwrap();
    let res = plain.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 504);
    assert!(start.elapsed() < Duration::from_secs(2));
    let (reason, _, lasted) = ended.recv().await.unwrap();
    assert_eq!(reason, Some(CancelReason::Deadline));
    assert!(lasted < Duration::from_millis(500), "{lasted:?}");

    let ask = |retry: Option<&'static str>| {
        let mut req = Request::get(format!("http://{addr}/retries"));
        if let Some(n) = retry {
            req = req.header("x-retry-attempt", n);
        }
        plain.clone().oneshot(req.body(Full::default()).unwrap())
    };
    let body = |res: http::Response<hyper::body::Incoming>| async move {
        res.into_body().collect().await.unwrap().to_bytes()
    };
    assert_eq!(body(ask(None).await.unwrap()).await, "retries allowed");
    assert_eq!(body(ask(Some("2")).await.unwrap()).await, "no retries");
}

#[tokio::test]
async fn the_server_preset_validates_requests_and_speaks_grpc() {
    use steadfast_http::validate::{has_header, ValidateRequestsLayer};

    let layer = standard_http_server()
        .grpc()
        .validate_requests(ValidateRequestsLayer::new(has_header(
            http::HeaderName::from_static("x-tenant"),
        )))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(20)).await;
                "late"
            }),
        )
        .layer(
            ServiceBuilder::new()
                .map_response(into_axum_response)
                .layer(layer),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let plain = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let call = |tenant: bool| {
        let mut req = Request::get(format!("http://{addr}/slow"))
            .header("content-type", "application/grpc")
            .header("grpc-timeout", "100m");
        if tenant {
            req = req.header("x-tenant", "acme");
        }
        plain.clone().oneshot(req.body(Full::default()).unwrap())
    };
    // Without the header: refused before the handler, with a status and the reason.
    let res = call(false).await.unwrap();
    assert_eq!(res.status(), 422);
    let text = res.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&text).contains("x-tenant"),
        "{text:?}"
    );
    // With it: the handler runs past the caller's 100 ms, and the answer is gRPC's.
    let start = Instant::now();
    let res = call(true).await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["grpc-status"], "4", "DEADLINE_EXCEEDED");
}

#[test]
fn a_timeout_rule_broken_is_refused_with_its_field() {
    let err = standard_http_client()
        .total_timeout(Duration::from_secs(5))
        .attempt_timeout(Duration::from_secs(5))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "attempt_timeout");
    let err = standard_http_client()
        .breaker(|b| {
            b.window(steadfast::circuit_breaker::SlidingWindow::time(
                Duration::from_secs(15),
            ))
        })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "breaker.window");
    let err = standard_http_client()
        .concurrency_limit(0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "concurrency_limit");
    let err = standard_http_server()
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "timeout");
}

/// The first TOML block after `heading` in docs/configuration.md.
fn documented_toml(heading: &str) -> String {
    let doc = include_str!("../../docs/configuration.md");
    let section = doc
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("a section {heading:?}"));
    let block = section.split("```toml\n").nth(1).expect("a TOML block");
    block.split("```").next().unwrap().to_owned()
}

/// `stack` with its layers' names taken out (a file names layers after the stack; a preset
/// leaves them unnamed).
fn unnamed(stack: &steadfast::config::StackSettings) -> steadfast::config::StackSettings {
    let mut s = stack.clone();
    for c in [&mut s.cancel, &mut s.attempt_timeout]
        .into_iter()
        .flatten()
    {
        c.name = None;
    }
    if let Some(r) = &mut s.retry {
        r.name = None;
    }
    if let Some(h) = &mut s.hedge {
        h.name = None;
    }
    if let Some(b) = &mut s.breaker {
        b.name = None;
    }
    s
}

#[test]
fn the_documented_file_yields_the_presets_settings() {
    use steadfast::config::{lint, Config, Format, LintKind};
    use steadfast::describe::Describe;

    let config = Config::from_str(&documented_toml("## Presets"), Format::Toml).unwrap();
    let stack = config.stack("standard_http_client").unwrap();
    // The same settings as data, names apart.
    assert_eq!(unnamed(stack), StandardClient::stack_settings());

    // And the same layers, setting by setting.
    let from_file = StandardClient::from_stack(stack).unwrap().build().unwrap();
    let preset = standard_http_client()
        .name("standard_http_client")
        .build()
        .unwrap();
    assert_eq!(
        from_file.description().to_string(),
        preset.description().to_string()
    );

    // The one warning the docs explain: four attempts of 10 s do not fit in 30 s.
    let kinds: Vec<LintKind> = lint(&config).iter().map(|l| l.kind).collect();
    assert_eq!(kinds, [LintKind::RetriesOutlastTotal]);
}

#[test]
fn a_files_stack_adjusts_the_preset_setting_by_setting() {
    use steadfast::config::{Config, Format};

    let config = Config::from_str(
        r#"
        [stacks.inventory]
        cancel = "20s"
        retry = { max_attempts = 2, backoff = { max = "4s" } }
        "#,
        Format::Toml,
    )
    .unwrap();
    let layer = StandardClient::from_stack(config.stack("inventory").unwrap())
        .unwrap()
        .build()
        .unwrap();
    let text = steadfast::describe::Describe::description(&layer).to_string();
    assert!(text.contains("cancel \"inventory\": timeout 20s"), "{text}");
    // The file's attempts and cap, the preset's base, factor and jitter.
    assert!(
        text.contains(
            "max_attempts 2, backoff exponential (base 2s, factor 2, max 4s, jitter equal)"
        ),
        "{text}"
    );
    // The breaker and attempt timeout the file does not give are the preset's (unnamed:
    // `StandardClient::name` names every layer).
    assert!(text.contains("failure_rate 10%"), "{text}");
    assert!(text.contains("\n7. cancel: timeout 10s\n"), "{text}");

    let config = Config::from_str(
        "[stacks.s]\nretry = { classify = \"grpc\" }\n",
        Format::Toml,
    )
    .unwrap();
    let err = StandardClient::from_stack(config.stack("s").unwrap()).unwrap_err();
    assert_eq!(err.field(), "retry.classify");
}

#[test]
fn the_documented_file_yields_the_hedging_presets_settings() {
    use steadfast::config::{Config, Format};
    use steadfast::describe::Describe;
    use steadfast_http::preset::{standard_hedging_client, StandardHedgingClient};

    let config =
        Config::from_str(&documented_toml("### The hedging preset"), Format::Toml).unwrap();
    let stack = config.stack("catalog").unwrap();
    // The same settings as data, names apart.
    assert_eq!(unnamed(stack), StandardHedgingClient::stack_settings());

    // And the same layers, setting by setting.
    let from_file = StandardHedgingClient::from_stack(stack)
        .unwrap()
        .build()
        .unwrap();
    let preset = standard_hedging_client().name("catalog").build().unwrap();
    assert_eq!(
        from_file.description().to_string(),
        preset.description().to_string()
    );
}

#[test]
fn a_files_stack_adjusts_the_hedging_preset_setting_by_setting() {
    use steadfast::config::{Config, Format};
    use steadfast_http::preset::StandardHedgingClient;

    let config = Config::from_str(
        r#"
        [stacks.catalog]
        hedge = { delay = "300ms", max_attempts = 3 }
        attempt_timeout = "2s"

        [stacks.retrying]
        retry = { max_attempts = 2 }

        [stacks.grpc]
        hedge = { classify = "grpc" }
        "#,
        Format::Toml,
    )
    .unwrap();
    let layer = StandardHedgingClient::from_stack(config.stack("catalog").unwrap())
        .unwrap()
        .build()
        .unwrap();
    let text = steadfast::describe::Describe::description(&layer).to_string();
    // The file's delay and attempts, the preset's mode; its own attempt timeout, the
    // preset's total timeout and breaker.
    assert_eq!(layer.hedge().delay().to_string(), "fixed 300ms");
    assert_eq!(layer.hedge().max_attempts(), 3);
    assert!(text.contains("timeout 30s"), "{text}");
    assert!(
        text.contains("cancel \"catalog-attempt\": timeout 2s"),
        "{text}"
    );
    assert!(text.contains("failure_rate 10%"), "{text}");

    // A layer the preset does not have, and another classifier, are refused.
    let err = StandardHedgingClient::from_stack(config.stack("retrying").unwrap()).unwrap_err();
    assert_eq!(err.field(), "retry");
    let err = StandardHedgingClient::from_stack(config.stack("grpc").unwrap()).unwrap_err();
    assert_eq!(err.field(), "hedge.classify");
    assert_eq!(err.rule(), "the preset classifies with `http` (got `grpc`)");
}
