//! A stack's `validate` section from a file, built by steadfast-http's `validate_layer`, in
//! front of hyper-util's client and a real server on 127.0.0.1: an invalid answer is retried
//! until the body is right, a request without a required header is never sent, and a body
//! larger than `max_body` fails the call.

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::classify::find_source;
use steadfast::config::{Config, Format};
use steadfast::retry::CloneRequest;
use steadfast::validate::InvalidRequest;
use steadfast_http::by_name::validate_layer;
use steadfast_http::validate::BodyTooLarge;
use steadfast_http::HttpClassifier;
use steadfast_test::server::{Answer, ScriptedServer};
use tower::{Layer, ServiceExt};

const FILE: &str = r#"
[stacks.items]
cancel = "10s"
retry = { max_attempts = 3, backoff = { kind = "none" } }
attempt_timeout = "5s"

[stacks.items.validate]
request_headers = ["authorization"]
success_status = true
response_headers = ["content-type"]
json_fields = ["id", "name"]
max_body = 64
"#;

/// Copies a bodiless request for a retry.
#[derive(Clone)]
struct Resend;

impl CloneRequest<Request<Empty<Bytes>>> for Resend {
    fn clone_request(&self, req: &Request<Empty<Bytes>>) -> Option<Request<Empty<Bytes>>> {
        let mut copy = Request::new(Empty::new());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.headers_mut() = req.headers().clone();
        Some(copy)
    }
}

fn json(body: &'static str) -> Answer {
    Answer::ok(body).header("content-type", "application/json")
}

#[tokio::test]
async fn the_files_checks_are_followed_on_real_answers() {
    let server = ScriptedServer::start([
        // Half a document, then a complete one without a field, then the right one.
        json(r#"{"id": 7, "na"#),
        json(r#"{"id": 7}"#),
        json(r#"{"id": 7, "name": "widget"}"#),
        // Too large for the 64-byte buffer.
        json(r#"{"id": 7, "name": "a widget with a name far longer than the buffer allows"}"#),
    ])
    .await;
    let config = Config::from_str(FILE, Format::Toml).unwrap();
    let stack = config
        .find_stack("items")
        .unwrap()
        .builder()
        .classify(HttpClassifier::default())
        .clone_requests(Resend)
        .validate_with(validate_layer)
        .build()
        .unwrap();
    let client = stack.layer(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());
    let get = |auth: bool| {
        let mut req = Request::get(server.url("/item"));
        if auth {
            req = req.header("authorization", "Bearer t");
        }
        req.body(Empty::new()).unwrap()
    };

    // Retried until the body has every field.
    let res = client.clone().oneshot(get(true)).await.unwrap();
    assert_eq!(res.body().bytes(), &br#"{"id": 7, "name": "widget"}"#[..]);
    assert_eq!(server.requests().len(), 3);
    let metrics = stack.breaker().map(|b| b.metrics());
    assert!(metrics.is_none(), "the file gives no breaker");

    // A request without the header is refused before it is sent.
    let err = client.clone().oneshot(get(false)).await.unwrap_err();
    assert!(find_source::<InvalidRequest>(&*err).is_some(), "{err}");
    assert_eq!(server.requests().len(), 3);

    // A body over `max_body` fails the call, not retried (the server answered).
    let err = client.oneshot(get(true)).await.unwrap_err();
    assert!(find_source::<BodyTooLarge>(&*err).is_some(), "{err}");
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn the_validate_layer_describes_its_checks_in_the_stacks_place() {
    use steadfast::describe::Describe;

    let config = Config::from_str(FILE, Format::Toml).unwrap();
    let stack = config
        .find_stack("items")
        .unwrap()
        .builder()
        .validate_with(validate_layer)
        .build()
        .unwrap();
    let layers = stack.describe();
    let kinds: Vec<&str> = layers.iter().map(|l| l.kind()).collect();
    assert_eq!(kinds, ["cancel", "retry", "cancel", "validate", "buffer"]);
}
