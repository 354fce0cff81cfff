//! Body-aware validation: buffering with a cap (never a silent truncation), JSON validators,
//! and invalid requests answered with 422 on a server.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use steadfast::classify::{Attempt, Classify, Outcome};
use steadfast::validate::{ensure, InvalidRequest};
use steadfast_http::validate::{BodyTooLarge, BufferLayer, ValidateRequestsLayer};
use steadfast_http::HttpClassifier;
use tower::{service_fn, Layer, ServiceExt};

type Chunks = StreamBody<tokio_stream_like::Iter<Frame<Bytes>>>;

mod tokio_stream_like {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A stream over frames, ready at once.
    pub(crate) struct Iter<T>(pub(crate) std::vec::IntoIter<T>);

    impl<T: Unpin> futures_core::Stream for Iter<T> {
        type Item = Result<T, std::convert::Infallible>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.next().map(Ok))
        }
    }
}

fn chunked(frames: Vec<Frame<Bytes>>) -> Chunks {
    StreamBody::new(tokio_stream_like::Iter(frames.into_iter()))
}

fn data(s: &'static str) -> Frame<Bytes> {
    Frame::data(Bytes::from_static(s.as_bytes()))
}

#[tokio::test]
async fn a_body_within_the_cap_is_handed_on_whole_with_its_trailers() {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().unwrap());
    let svc = BufferLayer::new(12).layer(service_fn(move |_: ()| {
        let body = chunked(vec![
            data("hello, "),
            data("world"),
            Frame::trailers(trailers.clone()),
        ]);
        async move { Ok::<_, std::io::Error>(Response::new(body)) }
    }));
    let res = svc.oneshot(()).await.unwrap();
    assert_eq!(res.body().bytes(), "hello, world");
    assert_eq!(res.body().trailers().unwrap()["grpc-status"], "0");
    let collected = res.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    assert_eq!(collected.to_bytes(), "hello, world");
}

#[tokio::test]
async fn a_body_over_the_cap_fails_instead_of_being_cut() {
    let svc = BufferLayer::new(11).layer(service_fn(|_: ()| async {
        let mut res = Response::new(chunked(vec![data("hello, "), data("world")]));
        *res.status_mut() = StatusCode::ACCEPTED;
        Ok::<_, std::io::Error>(res)
    }));
    let err = svc.oneshot(()).await.unwrap_err();
    let too_large = err.downcast_ref::<BodyTooLarge>().expect("BodyTooLarge");
    assert_eq!(too_large.cap(), 11);
    assert_eq!(
        too_large.received(),
        12,
        "the frame that crossed the cap is counted"
    );
    assert_eq!(too_large.status(), StatusCode::ACCEPTED);
    assert!(err.to_string().contains("11-byte"), "{err}");
    assert!(err.to_string().contains("12 bytes received"), "{err}");

    // Known too large from its size: refused before reading.
    let svc = BufferLayer::new(3).layer(service_fn(|_: ()| async {
        Ok::<_, std::io::Error>(Response::new(Full::new(Bytes::from_static(b"four"))))
    }));
    let err = svc.oneshot(()).await.unwrap_err();
    assert_eq!(err.downcast_ref::<BodyTooLarge>().unwrap().received(), 0);
    assert!(err.to_string().contains("declared size"), "{err}");

    // The HTTP classifier does not retry it.
    let req = Request::get("/").body(()).unwrap();
    let outcome = Classify::<_, Response<()>, steadfast::BoxError>::classify(
        &HttpClassifier::default(),
        &Attempt::first(&req),
        Err(&err),
    );
    assert_eq!(outcome, Outcome::NonRetryable);
}

/// The JSON validators (the `json` feature) on buffered bodies.
#[cfg(feature = "json")]
mod json_validators {
    use super::*;
    use steadfast::validate::{ValidationContext, Validator};
    use steadfast_http::validate::{json, json_fields, Buffered};

    fn buffered(body: &'static str) -> Response<Buffered> {
        Response::new(Buffered::new(Bytes::from_static(body.as_bytes()), None))
    }

    fn reasons<V: Validator<Response<Buffered>>>(v: &V, body: &'static str) -> Vec<String> {
        let mut out = Vec::new();
        v.validate(
            &buffered(body),
            &ValidationContext::new(1, std::time::Duration::ZERO),
            &mut out,
        );
        out.into_iter().map(|r| r.as_str().to_owned()).collect()
    }

    #[test]
    fn json_validators_name_what_is_wrong() {
        assert!(reasons(&json(), r#"{"a": 1}"#).is_empty());
        assert!(reasons(&json(), r#"{"a": "#)[0].starts_with("body is not valid JSON"));
        let fields = json_fields(["id", "name"]);
        assert!(reasons(&fields, r#"{"id": 1, "name": "x"}"#).is_empty());
        assert_eq!(
            reasons(&fields, r#"{"other": true}"#),
            ["JSON field `id` is missing", "JSON field `name` is missing"]
        );
        assert_eq!(
            reasons(&fields, "[1, 2]"),
            ["body is JSON but not an object"]
        );
    }
}

#[tokio::test]
async fn an_axum_server_answers_invalid_requests_with_422_and_the_reasons() {
    use axum::body::Body;
    let app = axum::Router::new()
        .route("/search", axum::routing::get(|| async { "results" }))
        .layer(ValidateRequestsLayer::new(ensure(
            "the `q` parameter is required",
            |r: &Request<Body>| r.uri().query().is_some_and(|q| q.starts_with("q=")),
        )));
    let res = app
        .clone()
        .oneshot(Request::get("/search").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        res.extensions()
            .get::<InvalidRequest>()
            .unwrap()
            .reasons()
            .len(),
        1
    );
    let text = res.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&text).contains("the `q` parameter is required"),
        "{text:?}"
    );
    let res = app
        .oneshot(Request::get("/search?q=tower").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
