//! The cancel layer's cost per call: a request that already carries a token, one that gets a
//! fresh token, and one with a timeout, against a bare service and `tower::timeout`; then the
//! same layers on a `u64` request, which cannot carry a token, answered at once; and what
//! waiting on children of one shared parent costs, alone and with a second thread doing the
//! same.
//!
//! In the first group every contender gets the same request built the same way in the timed
//! loop (an `http::Request<()>`, with or without a token in its extensions); the difference
//! between a contender and its bare baseline is the layer's cost. Calls are driven inside a
//! tokio runtime context (timers need one) with a no-op waker, as in the other benches.

use std::future::{ready, Ready};
use std::hint::black_box;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use steadfast::cancel::CancelLayer;
use steadfast::token::CancelToken;
use tower::{Layer, Service};

mod common;

use common::{call_now, call_result, Bare};

/// A bare HTTP-shaped service: answers every request at once.
#[derive(Clone, Copy, Debug)]
struct BareHttp;

impl Service<http::Request<()>> for BareHttp {
    type Response = u64;
    type Error = std::io::Error;
    type Future = Ready<Result<u64, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<()>) -> Self::Future {
        ready(Ok(req.extensions().len() as u64))
    }
}

/// The least any layer that reuses the caller's token must do: find it in the extensions and
/// keep a handle on it while the call runs.
#[derive(Clone, Copy, Debug)]
struct LooksUpToken;

impl Service<http::Request<()>> for LooksUpToken {
    type Response = u64;
    type Error = std::io::Error;
    type Future = Ready<Result<u64, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<()>) -> Self::Future {
        let held = black_box(req.extensions().get::<CancelToken>().cloned());
        let n = req.extensions().len() as u64 + u64::from(held.is_some());
        ready(Ok(n))
    }
}

fn cancel(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let token = CancelToken::new();
    let with_token = || {
        let mut r = http::Request::new(());
        r.extensions_mut().insert(token.clone());
        r
    };
    let plain = || http::Request::new(());
    // A request whose extensions map already exists (servers and routers usually put
    // something there), so inserting the token does not have to allocate the map.
    let with_map = || {
        let mut r = http::Request::new(());
        r.extensions_mut().insert(7u32);
        r
    };

    let mut group = c.benchmark_group("cancel");
    let mut bare = BareHttp;
    group.bench_function("bare_plain_request", |b| {
        b.iter(|| call_result(&mut bare, black_box(plain())).unwrap())
    });
    group.bench_function("bare_request_with_token", |b| {
        b.iter(|| call_result(&mut bare, black_box(with_token())).unwrap())
    });
    group.bench_function("bare_request_with_extensions", |b| {
        b.iter(|| call_result(&mut bare, black_box(with_map())).unwrap())
    });

    let mut lookup = LooksUpToken;
    group.bench_function("bare_looks_up_and_holds_token", |b| {
        b.iter(|| call_result(&mut lookup, black_box(with_token())).unwrap())
    });
    let mut reuse = CancelLayer::new().layer(BareHttp);
    group.bench_function("steadfast_reuses_callers_token", |b| {
        b.iter(|| call_result(&mut reuse, black_box(with_token())).unwrap())
    });
    let mut fresh = CancelLayer::new().layer(BareHttp);
    group.bench_function("steadfast_fresh_token", |b| {
        b.iter(|| call_result(&mut fresh, black_box(plain())).unwrap())
    });
    group.bench_function("steadfast_fresh_token_extensions_present", |b| {
        b.iter(|| call_result(&mut fresh, black_box(with_map())).unwrap())
    });
    let mut timed = CancelLayer::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("valid layer")
        .layer(BareHttp);
    group.bench_function("steadfast_timeout", |b| {
        b.iter(|| call_result(&mut timed, black_box(plain())).unwrap())
    });
    let mut tower_timeout =
        tower::timeout::TimeoutLayer::new(Duration::from_secs(30)).layer(BareHttp);
    group.bench_function("tower_timeout", |b| {
        b.iter(|| call_result(&mut tower_timeout, black_box(plain())).unwrap())
    });
    group.finish();

    // A request that cannot carry a token: nothing below the layer can see one, so an answer
    // ready at once needs no token, no clock read and no timer.
    let mut group = c.benchmark_group("cancel_u64");
    let mut bare = Bare;
    group.bench_function("bare", |b| b.iter(|| call_now(&mut bare, black_box(7))));
    let mut plain_layer = CancelLayer::new().layer(Bare);
    group.bench_function("steadfast_no_timeout", |b| {
        b.iter(|| call_now(&mut plain_layer, black_box(7)))
    });
    let mut timed = CancelLayer::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("valid layer")
        .layer(Bare);
    group.bench_function("steadfast_timeout", |b| {
        b.iter(|| call_now(&mut timed, black_box(7)))
    });
    // With a parent the response future keeps a handle on the layer's settings (one
    // reference count), to make the token from if the answer is not ready.
    let mut parented = CancelLayer::builder()
        .timeout(Duration::from_secs(30))
        .parent(CancelToken::new())
        .build()
        .expect("valid layer")
        .layer(Bare);
    group.bench_function("steadfast_timeout_and_parent", |b| {
        b.iter(|| call_now(&mut parented, black_box(7)))
    });
    let mut tower_timeout = tower::timeout::TimeoutLayer::new(Duration::from_secs(30)).layer(Bare);
    group.bench_function("tower_timeout", |b| {
        b.iter(|| call_now(&mut tower_timeout, black_box(7)))
    });
    group.finish();
}

/// Two threads, each repeatedly making a child of one shared parent (a server's shutdown
/// token), waiting on it once (the poll that registers, as a pending request's does) and
/// dropping both: what every waiting request costs the token all of them descend from, with
/// the other thread doing the same. Reported per child, on the measuring thread.
fn contended_parent(c: &mut Criterion) {
    use std::future::Future;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Context as TaskContext, Waker};

    fn wait_once(parent: &CancelToken) {
        let child = parent.child();
        let mut waiting = std::pin::pin!(child.cancelled());
        let mut cx = TaskContext::from_waker(Waker::noop());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
    }

    let parent = CancelToken::new();
    let mut group = c.benchmark_group("cancel_shared_parent");
    group.bench_function("child_waited_alone", |b| b.iter(|| wait_once(&parent)));
    let stop = Arc::new(AtomicBool::new(false));
    let other = std::thread::spawn({
        let (parent, stop) = (parent.clone(), stop.clone());
        move || {
            while !stop.load(Ordering::Relaxed) {
                wait_once(&parent);
            }
        }
    });
    group.bench_function("child_waited_two_threads", |b| {
        b.iter(|| wait_once(&parent))
    });
    stop.store(true, Ordering::Relaxed);
    other.join().expect("the other thread");
    group.finish();
}

criterion_group!(benches, cancel, contended_parent);
criterion_main!(benches);
