//! The soak's server: an axum app on 127.0.0.1 behind a stack of chaos layers, one per kind
//! of fault, each drawing from its own seed.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use hyper_util::rt::TokioIo;
use steadfast::chaos::{
    ChaosLayer, ChaosSwitch, FaultInjection, LatencyInjection, OutcomeInjection,
};
use steadfast::{BoxError, ConfigError};
use steadfast_http::chaos::StatusOutcome;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::{ServiceBuilder, ServiceExt};

use super::settings::Settings;

/// The answer of `GET /item`.
pub const ITEM: &str = r#"{"id":7,"name":"widget","stock":42}"#;

/// The share of requests each fault is injected into, as the report lists them.
pub const FAULTS: [(&str, f64); 7] = [
    ("slow answer (1 ms up to --slow-max-ms)", SLOW),
    (
        "stalled answer (--stall-ms, past the attempt timeout)",
        STALL,
    ),
    ("hang-up: connection closed without an answer", HANG_UP),
    ("503 Service Unavailable", UNAVAILABLE),
    ("429 Too Many Requests with Retry-After: 1", TOO_MANY),
    ("reset mid-body: 200 whose body fails after 12 bytes", RESET),
    ("invalid JSON: 200 with a cut-off JSON body", BAD_JSON),
];

const SLOW: f64 = 0.05;
const STALL: f64 = 0.01;
const HANG_UP: f64 = 0.01;
const UNAVAILABLE: f64 = 0.02;
const TOO_MANY: f64 = 0.01;
const RESET: f64 = 0.01;
const BAD_JSON: f64 = 0.01;

type Chaos = ChaosLayer<Request<Body>, Response<Body>>;

/// A running soak server; [`ChaosServer::shutdown`] stops it and its outage timer.
#[derive(Debug)]
pub struct ChaosServer {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    outages: Option<JoinHandle<()>>,
}

impl ChaosServer {
    /// Starts the server on an ephemeral port of 127.0.0.1, with the faults of [`FAULTS`]
    /// drawn from `settings.seed`, and outages every `settings.outage_every`.
    pub async fn start(settings: &Settings) -> Result<ChaosServer, BoxError> {
        let outage = ChaosSwitch::new(false);
        let app = Router::new()
            .route(
                "/item",
                get(|| async { json(Bytes::from_static(ITEM.as_bytes())) }),
            )
            .route(
                "/echo",
                post(|body: Bytes| async move {
                    json(Bytes::from(format!("{{\"received\":{}}}", body.len())))
                }),
            );
        let svc = ServiceBuilder::new()
            .layer(chaos_layers(settings.seed, settings, &outage)?)
            .service(app.into_service::<Body>());

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let svc = svc.clone();
                tokio::spawn(async move {
                    let handler =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            svc.clone().oneshot(req.map(Body::new))
                        });
                    // A hang-up or a reset ends the connection with an error: that is the point.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), handler)
                        .await;
                });
            }
        });
        let outages = (!settings.outage_every.is_zero()).then(|| {
            let (every, length) = (settings.outage_every, settings.outage);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every - length).await;
                    outage.turn_on();
                    tokio::time::sleep(length).await;
                    outage.turn_off();
                }
            })
        });
        Ok(ChaosServer {
            addr,
            accept,
            outages,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and stops the outage timer. Connections already open end
    /// when their clients close them.
    pub fn shutdown(self) {
        self.accept.abort();
        if let Some(outages) = self.outages {
            outages.abort();
        }
    }
}

fn json(body: Bytes) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// The chaos layers, outermost first: an outage switch, then one layer per fault.
type Layers = (Chaos, Chaos, Chaos, Chaos, Chaos, Chaos, Chaos, Chaos);

fn chaos_layers(
    seed: u64,
    settings: &Settings,
    outage: &ChaosSwitch,
) -> Result<Layers, ConfigError> {
    let layer = |n: u64, name: &'static str| Chaos::builder().name(name).seed(seed ^ (n << 32));
    let milli = Duration::from_millis(1);
    let unavailable = StatusOutcome::new(StatusCode::SERVICE_UNAVAILABLE);
    let too_many =
        StatusOutcome::new(StatusCode::TOO_MANY_REQUESTS).retry_after(Duration::from_secs(1));
    Ok((
        layer(0, "outage")
            .switch(outage.clone())
            .outcome(unavailable.clone().injection())
            .build()?,
        layer(1, "slow")
            .latency(LatencyInjection::uniform(milli, settings.slow_max.max(milli)).rate(SLOW))
            .build()?,
        layer(2, "stall")
            .latency(LatencyInjection::fixed(settings.stall).rate(STALL))
            .build()?,
        layer(3, "hang-up")
            .fault(FaultInjection::chaos().rate(HANG_UP))
            .build()?,
        layer(4, "unavailable")
            .outcome(unavailable.injection().rate(UNAVAILABLE))
            .build()?,
        layer(5, "too-many")
            .outcome(too_many.injection().rate(TOO_MANY))
            .build()?,
        layer(6, "reset")
            .outcome(OutcomeInjection::from_fn(cut_off).rate(RESET))
            .build()?,
        layer(7, "bad-json")
            .outcome(OutcomeInjection::from_fn(bad_json).rate(BAD_JSON))
            .build()?,
    ))
}

/// A 200 whose body sends the start of the item and then fails: hyper aborts the connection
/// mid-body.
fn cut_off(_: &Request<Body>) -> Response<Body> {
    let mut res = Response::new(Body::new(CutBody { sent: false }));
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(ITEM.len()));
    res
}

/// A 200 announcing JSON whose body is cut off.
fn bad_json(_: &Request<Body>) -> Response<Body> {
    json(Bytes::from_static(&ITEM.as_bytes()[..ITEM.len() / 2]))
}

/// A body that yields the first 12 bytes of [`ITEM`], then an error.
struct CutBody {
    sent: bool,
}

impl http_body::Body for CutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.sent {
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the soak server cut the body off",
            ))));
        }
        self.sent = true;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
            &ITEM.as_bytes()[..12],
        )))))
    }
}
