//! [`StandardServer`]: the server stack to start from, and [`StandardServerLayer`], built.

use std::time::Duration;

use steadfast::cancel::{CancelLayer, CancelLayerBuilder};
use steadfast::describe::{Describe, LayerDescription};
use steadfast::ConfigError;
use tower_layer::{Identity, Layer};

use crate::attempt::{UpstreamRetries, UpstreamRetriesLayer};
use crate::cancel::{HttpCancel, HttpCancelLayer};
use crate::deadline::{AcceptDeadline, AcceptDeadlineLayer};
use crate::validate::ValidateRequestsLayer;
use crate::CancelLayerExt;

/// The longest a request may run on the server, and the most time it accepts from a caller's
/// deadline.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The server stack to start from: the caller's deadline accepted (capped), retries not
/// repeated behind a caller that retries, and a cancel layer that answers a timed-out request
/// with a status and cancels the request's token when its client disconnects.
///
/// Made by [`standard_http_server`](super::standard_http_server) (or `Default`). The layers,
/// outermost first, and why:
///
/// | layer | default | why |
/// |---|---|---|
/// | accept deadline | `grpc-timeout` and `x-request-timeout-ms` read, capped at the timeout | gRPC's deadline propagation: the server stops when its caller would no longer wait; the cap keeps a caller from holding the server longer than its own limit |
/// | upstream retries | a request marked as a retry (`x-retry-attempt`, `grpc-previous-rpc-attempts`) gets a token whose work is not retried | gRFC A6: retries at every hop multiply; the caller that retries already covers this one |
/// | cancel (HTTP form) | [`SERVER_TIMEOUT`] (30 s); a timed-out request is answered `504`, a request whose client hung up has its token cancelled with `ClientDisconnected`, and the token lives while the response body streams | the same total as the client preset, so a standard client and server agree; handlers take the token with [`RequestToken`](crate::RequestToken) |
/// | request validation | none, or the [`ValidateRequestsLayer`] given to [`validate_requests`](Self::validate_requests) | invalid requests are answered `422` before the handler runs |
///
/// [`grpc`](Self::grpc) answers cancelled calls with a gRPC status instead of an HTTP one.
///
/// ```
/// use std::time::Duration;
/// use steadfast::token::CancelToken;
/// use steadfast_http::preset::standard_http_server;
///
/// let shutdown = CancelToken::new();
/// let layer = standard_http_server()
///     .timeout(Duration::from_secs(10))
///     .cancel(|c| c.parent(shutdown.clone()))
///     .build()
///     .unwrap();
/// // axum: Router::new()...layer(layer), with `.map_response(into_axum_response)` over it to
/// // hand axum its own body type back.
/// # let _ = layer;
/// ```
#[derive(Debug)]
pub struct StandardServer<V = Identity> {
    timeout: Duration,
    cancel: CancelLayerBuilder,
    accept: AcceptDeadlineLayer,
    upstream: UpstreamRetriesLayer,
    grpc: bool,
    validate: V,
}

impl Default for StandardServer {
    fn default() -> Self {
        StandardServer {
            timeout: SERVER_TIMEOUT,
            cancel: CancelLayer::builder(),
            accept: AcceptDeadlineLayer::new(),
            upstream: UpstreamRetriesLayer::new(),
            grpc: false,
            validate: Identity::new(),
        }
    }
}

impl<V> StandardServer<V> {
    /// The longest a request may run, and the most time accepted from a caller's deadline
    /// (default [`SERVER_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adjusts the cancel layer: a parent token or a `Shutdown` to drain on, a name,
    /// listeners. Its timeout is [`timeout`](Self::timeout)'s.
    pub fn cancel(mut self, f: impl FnOnce(CancelLayerBuilder) -> CancelLayerBuilder) -> Self {
        self.cancel = f(self.cancel);
        self
    }

    /// Reads the caller's deadline with `layer` (a header of your own, gRPC's only); its cap
    /// is [`timeout`](Self::timeout)'s.
    pub fn accept_deadline(mut self, layer: AcceptDeadlineLayer) -> Self {
        self.accept = layer;
        self
    }

    /// Recognises retries with `layer` (a header of your own).
    pub fn upstream_retries(mut self, layer: UpstreamRetriesLayer) -> Self {
        self.upstream = layer;
        self
    }

    /// Answers cancelled calls as a gRPC server does: a trailers-only response with a gRPC
    /// status (`DEADLINE_EXCEEDED`, `CANCELLED`, `UNAVAILABLE`).
    pub fn grpc(mut self) -> Self {
        self.grpc = true;
        self
    }

    /// Checks every request with `layer` inside the cancel layer, before the handler.
    pub fn validate_requests<W>(
        self,
        layer: ValidateRequestsLayer<W>,
    ) -> StandardServer<ValidateRequestsLayer<W>> {
        StandardServer {
            timeout: self.timeout,
            cancel: self.cancel,
            accept: self.accept,
            upstream: self.upstream,
            grpc: self.grpc,
            validate: layer,
        }
    }

    /// Checks the settings and builds the layers; a zero timeout is refused.
    pub fn build(self) -> Result<StandardServerLayer<V>, ConfigError> {
        let cancel = self.cancel.timeout(self.timeout).build()?;
        Ok(StandardServerLayer {
            accept: self.accept.max(self.timeout),
            upstream: self.upstream,
            cancel: if self.grpc {
                cancel.for_grpc()
            } else {
                cancel.for_http()
            },
            validate: self.validate,
        })
    }
}

/// The server preset, built: a tower [`Layer`] for an HTTP server (axum's `Router::layer`,
/// tonic's `Server::layer`, hyper's service). The service keeps the inner service's error
/// type; its responses have a [`CancelBody`](crate::cancel::CancelBody) around the inner body.
#[derive(Debug, Clone)]
pub struct StandardServerLayer<V = Identity> {
    accept: AcceptDeadlineLayer,
    upstream: UpstreamRetriesLayer,
    cancel: HttpCancelLayer,
    validate: V,
}

/// The service [`StandardServerLayer`] makes around `S`, with request validation `V`.
pub type StandardServerService<S, V = Identity> =
    AcceptDeadline<UpstreamRetries<HttpCancel<<V as Layer<S>>::Service>>>;

impl<S, V: Layer<S>> Layer<S> for StandardServerLayer<V> {
    type Service = StandardServerService<S, V>;

    fn layer(&self, inner: S) -> Self::Service {
        self.accept.layer(
            self.upstream
                .layer(self.cancel.layer(self.validate.layer(inner))),
        )
    }
}

impl<V: Describe> Describe for StandardServerLayer<V> {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut layers = self.accept.describe();
        layers.extend(self.upstream.describe());
        layers.extend(self.cancel.describe());
        layers.extend(self.validate.describe());
        layers
    }
}
