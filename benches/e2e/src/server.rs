//! The servers: an axum router on 127.0.0.1, bare, with steadfast's server-side stack, and with
//! the timeout layers an axum user would otherwise pick (tower-http's).

use std::convert::Infallible;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use steadfast::cancel::CancelLayer;
use steadfast::validate::ensure;
use steadfast::BoxError;
use steadfast_http::attempt::UpstreamRetriesLayer;
use steadfast_http::deadline::AcceptDeadlineLayer;
use steadfast_http::{into_axum_response, CancelLayerExt, RequestToken};
use tower::{Service, ServiceBuilder};

/// The server modes `steadfast-e2e server` knows, in the order `benches/e2e-callgrind.sh` runs
/// them:
///
/// - `bare`: the router alone, its handler answering "hello";
/// - `stack`: steadfast's server-side stack on the routes (`Router::layer`), a handler that
///   takes the request's token;
/// - `outer`: the same stack around the whole router, the same handler;
/// - `outer-notoken`: the same stack around the whole router, the bare handler;
/// - `towerhttp-timeout`: tower-http's `TimeoutLayer` (10 s, answering 504) around the router;
/// - `towerhttp-timeout-body`: tower-http's `TimeoutLayer` and `RequestBodyTimeoutLayer` (10 s
///   each) around the router, which together bound the whole request as the cancel layer's
///   timeout does, reading the body included;
/// - `cancel-timeout`: steadfast's cancel layer with a 10 s timeout in its HTTP form
///   (`for_http()`, answering 504) around the router, its response handed back to axum by
///   `into_axum_response`.
pub(crate) const MODES: &[&str] = &[
    "bare",
    "stack",
    "outer",
    "outer-notoken",
    "towerhttp-timeout",
    "towerhttp-timeout-body",
    "cancel-timeout",
];

/// The timeout of every setup that has one: long enough never to fire.
const TIMEOUT: Duration = Duration::from_secs(10);

async fn hello() -> &'static str {
    "hello"
}

async fn hello_with_token(RequestToken(token): RequestToken) -> &'static str {
    if token.is_cancelled() {
        "late"
    } else {
        "hello"
    }
}

/// The router with the bare handler.
///
/// Every router is finished with `with_state(())`, which turns its handlers into services once.
/// `axum::serve` does that itself for a bare `Router`, but not for a router inside another
/// service: there axum would turn the handler into a boxed service on every request.
fn router() -> Router {
    Router::new().route("/", get(hello)).with_state(())
}

/// The router with the handler that takes the request's token.
fn router_with_token() -> Router {
    Router::new()
        .route("/", get(hello_with_token))
        .with_state(())
}

/// Serves `mode` (one of [`MODES`]) on 127.0.0.1:`port` until the process is killed.
pub(crate) async fn server(mode: &str, port: u16) -> Result<(), BoxError> {
    match mode {
        "bare" => serve(router(), port).await,
        "stack" => serve(router_with_token().layer(server_layers()?), port).await,
        // The same layers around the whole router instead of on its routes: axum then neither
        // boxes nor clones a layered route per request.
        "outer" => serve(server_layers()?.service(router_with_token()), port).await,
        "outer-notoken" => serve(server_layers()?.service(router()), port).await,
        "towerhttp-timeout" => {
            let svc = ServiceBuilder::new()
                .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                    StatusCode::GATEWAY_TIMEOUT,
                    TIMEOUT,
                ))
                .service(router());
            serve(svc, port).await
        }
        "towerhttp-timeout-body" => {
            let svc = ServiceBuilder::new()
                .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                    StatusCode::GATEWAY_TIMEOUT,
                    TIMEOUT,
                ))
                .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(TIMEOUT))
                .service(router());
            serve(svc, port).await
        }
        "cancel-timeout" => {
            let svc = ServiceBuilder::new()
                .map_response(into_axum_response as ToAxum)
                .layer(CancelLayer::builder().timeout(TIMEOUT).build()?.for_http())
                .service(router());
            serve(svc, port).await
        }
        _ => Err(format!("unknown server mode {mode:?}").into()),
    }
}

/// Serves `svc` as the whole application: axum neither clones nor boxes anything of its own
/// around it beyond what it does for a bare router.
async fn serve<S>(svc: S, port: u16) -> Result<(), BoxError>
where
    S: Service<Request<axum::body::Body>, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, tower::make::Shared::new(svc)).await?;
    Ok(())
}

fn only_get(r: &Request<axum::body::Body>) -> bool {
    r.method() == http::Method::GET
}

/// The server-side stack: a retry marker read, deadlines accepted from callers, a cancel layer
/// with a timeout answering 504, request validation.
type ServerLayers = ServiceBuilder<
    tower::layer::util::Stack<
        steadfast_http::validate::ValidateRequestsLayer<
            steadfast::validate::Ensure<fn(&Request<axum::body::Body>) -> bool>,
        >,
        tower::layer::util::Stack<
            steadfast_http::cancel::HttpCancelLayer,
            tower::layer::util::Stack<
                tower::util::MapResponseLayer<ToAxum>,
                tower::layer::util::Stack<
                    AcceptDeadlineLayer,
                    tower::layer::util::Stack<UpstreamRetriesLayer, tower::layer::util::Identity>,
                >,
            >,
        >,
    >,
>;

/// The cancel layer's response back in axum's body type, boxed only when the body watches the
/// request's token.
type ToAxum = fn(
    http::Response<steadfast_http::cancel::CancelBody<axum::body::Body>>,
) -> http::Response<axum::body::Body>;

fn server_layers() -> Result<ServerLayers, BoxError> {
    Ok(ServiceBuilder::new()
        .layer(UpstreamRetriesLayer::new())
        .layer(AcceptDeadlineLayer::new().max(Duration::from_secs(30)))
        .map_response(into_axum_response as ToAxum)
        .layer(CancelLayer::builder().timeout(TIMEOUT).build()?.for_http())
        .layer(steadfast_http::validate::ValidateRequestsLayer::new(
            ensure(
                "only GET",
                only_get as fn(&Request<axum::body::Body>) -> bool,
            ),
        )))
}
