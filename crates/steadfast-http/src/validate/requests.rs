//! The server-side layer that answers invalid requests with a status.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use pin_project::pin_project;
use steadfast::validate::InvalidRequest;
use tower_layer::Layer;
use tower_service::Service;

/// Checks requests on a server and answers those that fail with a status and the reasons,
/// instead of calling the service; see the [module docs](super).
///
/// The service keeps its error type, so the layer drops into `axum::Router::layer` as is.
#[derive(Debug, Clone)]
pub struct ValidateRequestsLayer<V> {
    pub(crate) validator: V,
    pub(crate) status: StatusCode,
}

impl<V> ValidateRequestsLayer<V> {
    /// Checks every request with `validator` (several can be combined with
    /// [`steadfast::validate::And`]); failures are answered `422 Unprocessable Entity`.
    pub fn new(validator: V) -> Self {
        ValidateRequestsLayer {
            validator,
            status: StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// Answers failures with `status` instead (for example `400 Bad Request`).
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl<S, V: Clone> Layer<S> for ValidateRequestsLayer<V> {
    type Service = ValidateRequests<S, V>;
    fn layer(&self, inner: S) -> Self::Service {
        ValidateRequests {
            inner,
            validator: self.validator.clone(),
            status: self.status,
        }
    }
}

/// The service made by [`ValidateRequestsLayer`].
#[derive(Debug, Clone)]
pub struct ValidateRequests<S, V> {
    pub(crate) inner: S,
    pub(crate) validator: V,
    pub(crate) status: StatusCode,
}

/// The body of a rejection: the reasons, one per line.
fn rejection_text(reasons: &[steadfast::validate::Reason]) -> String {
    let mut text = String::from("invalid request:\n");
    for r in reasons {
        text.push_str("- ");
        text.push_str(r.as_str());
        text.push('\n');
    }
    text
}

impl<S, V, ReqB, ResB> Service<Request<ReqB>> for ValidateRequests<S, V>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    V: steadfast::validate::Validator<Request<ReqB>>,
    ResB: From<String>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ValidateRequestsFuture<S::Future, ResB>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        use steadfast::token::HasCancelToken;
        let tag = req.retry_attempt();
        let cx = steadfast::validate::ValidationContext::new(
            tag.map_or(1, |t| t.number()),
            tag.map_or(std::time::Duration::ZERO, |t| t.elapsed()),
        );
        let mut reasons = Vec::new();
        self.validator.validate(&req, &cx, &mut reasons);
        if reasons.is_empty() {
            return ValidateRequestsFuture::Inner {
                fut: self.inner.call(req),
            };
        }
        // The readiness the inner service granted stays with it for the next call.
        let invalid = InvalidRequest::new(reasons, cx.attempt());
        let mut res = Response::new(ResB::from(rejection_text(invalid.reasons())));
        *res.status_mut() = self.status;
        res.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        res.extensions_mut().insert(invalid);
        ValidateRequestsFuture::Rejected {
            response: Some(res),
        }
    }
}

/// Response future of [`ValidateRequests`].
#[pin_project(project = ValidateRequestsProj)]
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub enum ValidateRequestsFuture<F, B> {
    /// The request passed and the inner service is answering.
    Inner {
        /// The inner service's future.
        #[pin]
        fut: F,
    },
    /// The request failed validation; this is the answer.
    Rejected {
        /// The rejection, until it is taken.
        response: Option<Response<B>>,
    },
}

impl<F, B, E> Future for ValidateRequestsFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ValidateRequestsProj::Inner { fut } => fut.poll(cx),
            ValidateRequestsProj::Rejected { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}
