//! Hedging cuts tail latency: a server on 127.0.0.1 answers most requests in a couple of
//! milliseconds, but a few straggle; the same requests are sent without and with a hedge
//! layer, and their latency percentiles compared.
//!
//! ```sh
//! cargo run --release -p steadfast-examples --example hedging
//! ```
//!
//! The hedge layer sends a second attempt when the first has not answered after the 95th
//! percentile of the latencies it has seen (never under 5 ms), paid from a budget of 10% extra
//! requests; the first answer wins and the other attempt is cancelled (its token fires with
//! `HedgeLost` and hyper drops its connection). The example prints p50, p99 and the slowest
//! request, with the extra requests the server saw, and exits non-zero if hedging does not at
//! least halve the p99.

// Real time on purpose: a paused clock cannot drive a real server.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use steadfast::hedge::{HedgeDelay, HedgeEvent, HedgeLayer};
use steadfast::retry::RatioBudget;
use steadfast::token::CancelToken;
use steadfast::BoxError;
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceExt};

/// Requests per run.
const REQUESTS: usize = 600;
/// How long a straggler takes, and how long the others do.
const SLOW: Duration = Duration::from_millis(150);
const FAST: Duration = Duration::from_millis(1);

/// Starts the server; returns its address and the count of requests it has received.
async fn server() -> Result<(std::net::SocketAddr, Arc<AtomicU64>), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let handler =
                    hyper::service::service_fn(move |_: Request<hyper::body::Incoming>| {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        async move {
                            // 3% of requests straggle, spread by a multiplicative hash of their
                            // number so that a straggler's hedge is almost never one too.
                            let slow = n.wrapping_mul(2_654_435_761) % 100 < 3;
                            tokio::time::sleep(if slow { SLOW } else { FAST }).await;
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), handler)
                    .await;
            });
        }
    });
    Ok((addr, seen))
}

/// A copy of a bodiless request: method, URI, headers and extensions (its token with them).
fn copy(req: &Request<Empty<Bytes>>) -> Option<Request<Empty<Bytes>>> {
    let mut copy = Request::new(Empty::new());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    Some(copy)
}

/// Sends `REQUESTS` requests one after the other through `svc`; returns their latencies,
/// sorted.
async fn run<S>(mut svc: S, addr: std::net::SocketAddr) -> Result<Vec<Duration>, BoxError>
where
    S: Service<Request<Empty<Bytes>>, Response = Response<hyper::body::Incoming>>,
    S::Error: Into<BoxError>,
{
    let mut latencies = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let mut req = Request::get(format!("http://{addr}/item")).body(Empty::new())?;
        req.extensions_mut().insert(CancelToken::new());
        let start = Instant::now();
        let res = svc.ready().await.map_err(Into::into)?.call(req).await;
        let body = res.map_err(Into::into)?.into_body().collect().await?;
        latencies.push(start.elapsed());
        assert_eq!(body.to_bytes(), "ok");
    }
    latencies.sort();
    Ok(latencies)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn report(what: &str, sorted: &[Duration], extra: u64) {
    println!(
        "{what:<16} p50 {:>7.1?}  p99 {:>7.1?}  max {:>7.1?}  extra requests {extra} ({:.1}%)",
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        sorted[sorted.len() - 1],
        extra as f64 * 100.0 / REQUESTS as f64,
    );
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (addr, seen) = server().await?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();

    let plain = run(client.clone(), addr).await?;
    let sent_plain = seen.swap(0, Ordering::Relaxed);
    report("without hedging", &plain, sent_plain - REQUESTS as u64);

    let (hedges, losers) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let hedge = HedgeLayer::builder()
        .name("item")
        .delay(
            HedgeDelay::percentile(0.95)
                .floor(Duration::from_millis(5))
                .min_samples(50)
                .fallback(Duration::from_millis(20)),
        )
        .budget(Arc::new(RatioBudget::builder().ratio(0.1).build()?))
        .clone_requests_with(copy)
        .on_event({
            let (hedges, losers) = (hedges.clone(), losers.clone());
            move |e: &HedgeEvent| match e {
                HedgeEvent::HedgeSent { .. } => {
                    hedges.fetch_add(1, Ordering::Relaxed);
                }
                HedgeEvent::LosersCancelled { count } => {
                    losers.fetch_add(*count, Ordering::Relaxed);
                }
                _ => {}
            }
        })
        .build()?;
    let hedged = run(hedge.layer(client), addr).await?;
    let sent_hedged = seen.swap(0, Ordering::Relaxed);
    report("with hedging", &hedged, sent_hedged - REQUESTS as u64);
    // A loser cancelled before its connection was made never reaches the server: the server
    // may count fewer extra requests than hedges were sent.
    println!(
        "hedges sent: {}, losing attempts cancelled: {}",
        hedges.load(Ordering::Relaxed),
        losers.load(Ordering::Relaxed)
    );

    let (before, after) = (percentile(&plain, 0.99), percentile(&hedged, 0.99));
    if after * 2 > before {
        eprintln!("hedging did not halve the p99: {before:?} without, {after:?} with");
        std::process::exit(1);
    }
    println!(
        "p99 {:.1}x lower with hedging",
        before.as_secs_f64() / after.as_secs_f64()
    );
    Ok(())
}
