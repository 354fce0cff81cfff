//! The HTTP cancel layer's body watches the request's token only while something besides the
//! layer holds it, and `into_axum_response` hands axum its own body back, without boxing, when
//! the body watches nothing.
#![cfg(feature = "axum")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use http::{Request, Response};
use http_body_util::BodyExt;
use steadfast::cancel::CancelLayer;
use steadfast::token::{CancelReason, CancelToken, HasCancelToken};
use steadfast_http::cancel::CancelBody;
use steadfast_http::into_axum_response;
use steadfast_http::CancelLayerExt;
use steadfast_test::alloc::{allocations_in, CountingAllocator};
use tower::{service_fn, Layer, ServiceExt};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// What the handler does with the request's token.
#[derive(Clone, Copy)]
enum Keep {
    Nothing,
    Clone,
    Child,
    TokioToken,
}

/// One request through the HTTP cancel layer (with a timeout) around a handler answering
/// "hello" that does `keep` with the request's token; returns the response and what the
/// handler kept.
async fn answer(keep: Keep) -> (Response<CancelBody<Body>>, Arc<Mutex<Vec<CancelToken>>>) {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let store = kept.clone();
    let handler = service_fn(move |req: Request<Body>| {
        let token = req
            .cancel_token()
            .expect("the layer gave the request a token");
        let mut store = store.lock().unwrap();
        match keep {
            Keep::Nothing => {}
            Keep::Clone => store.push(token.clone()),
            Keep::Child => store.push(token.child()),
            // Made and let go at once: the layer cannot count a tokio-util token's holders,
            // so having made one at all keeps the body watching.
            Keep::TokioToken => {
                let _ = token.as_tokio().clone();
            }
        }
        async { Ok::<_, Infallible>(Response::new(Body::from("hello"))) }
    });
    let layer = CancelLayer::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
        .for_http();
    let resp = layer
        .layer(handler)
        .oneshot(Request::new(Body::empty()))
        .await
        .unwrap();
    (resp, kept)
}

async fn text(resp: Response<Body>) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_token_nobody_else_holds_is_not_watched_and_axum_gets_its_body_unboxed() {
    let (resp, _) = answer(Keep::Nothing).await;
    assert!(!resp.body().is_watching());
    let mut out = None;
    assert_eq!(
        allocations_in(|| out = Some(into_axum_response(resp))),
        0,
        "an unwatched body goes back to axum as it is"
    );
    assert_eq!(text(out.unwrap()).await, "hello");
}

#[tokio::test]
async fn a_token_someone_else_holds_is_watched_until_the_body_ends() {
    for keep in [Keep::Clone, Keep::Child, Keep::TokioToken] {
        let (resp, kept) = answer(keep).await;
        assert!(resp.body().is_watching());
        // Boxed for axum, still watching: read to its end, it cancels nothing.
        let resp = into_axum_response(resp);
        assert_eq!(text(resp).await, "hello");
        for token in kept.lock().unwrap().iter() {
            assert!(!token.is_cancelled());
        }
    }
}

#[tokio::test]
async fn a_watched_body_dropped_before_its_end_cancels_the_token() {
    for keep in [Keep::Clone, Keep::Child] {
        let (resp, kept) = answer(keep).await;
        // The client leaves before reading anything.
        drop(into_axum_response(resp));
        let kept = kept.lock().unwrap();
        assert_eq!(
            kept[0].reason(),
            Some(CancelReason::ClientDisconnected),
            "the handler's token learns that the client left"
        );
    }
}

#[tokio::test]
async fn a_registered_operation_stays_listed_while_its_body_streams() {
    let ops = steadfast::cancel::operations::Operations::new();
    let layer = CancelLayer::builder()
        .operations(&ops)
        .build()
        .unwrap()
        .for_http();
    let handler = service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("hello")))
    });
    let resp = layer
        .layer(handler)
        .oneshot(Request::new(Body::empty()))
        .await
        .unwrap();
    // The registry can reach the token (it may cancel it), so the body keeps it.
    assert!(resp.body().is_watching());
    assert_eq!(ops.list().len(), 1, "listed until the body ends");
    assert_eq!(text(into_axum_response(resp)).await, "hello");
    assert!(ops.list().is_empty());
}

#[tokio::test]
async fn a_callers_token_passed_through_is_never_the_bodys_to_cancel() {
    // No sources of its own: the layer passes the caller's token through as it is.
    let layer = CancelLayer::new().for_http();
    let handler = service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("hello")))
    });
    let caller = CancelToken::new();
    let mut req = Request::new(Body::empty());
    req.extensions_mut().insert(caller.clone());
    let resp = layer.layer(handler).oneshot(req).await.unwrap();
    assert!(!resp.body().is_watching());
    // Dropped before its end, it leaves the caller's token alone.
    drop(into_axum_response(resp));
    assert!(!caller.is_cancelled());
}
