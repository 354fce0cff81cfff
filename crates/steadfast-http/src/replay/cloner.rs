//! The retry layer's request cloner for requests with a [`ReplayBody`].

use http::Request;
use steadfast::retry::CloneRequest;

use super::body::ReplayBody;

/// Copies `Request<ReplayBody<B>>` for the retry layer, and tells it when the body can no
/// longer be sent again.
///
/// The copy has the same method, URI, version, headers and extensions (a request's
/// extensions hold only `Clone` values, its [`CancelToken`](steadfast::token::CancelToken)
/// among them), and a clone of the body that replays it from its first frame.
/// [`can_resend`](CloneRequest::can_resend) answers with
/// [`ReplayBody::can_replay`]: once the body has outgrown its replay cap (or its stream
/// failed), the retry layer stops with
/// [`StopReason::NotReplayable`](steadfast::retry::StopReason::NotReplayable).
///
/// Install it with
/// [`RetryPolicyBuilder::clone_requests`](steadfast::retry::RetryPolicyBuilder::clone_requests)
/// (the [module docs](super) show the whole stack):
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use steadfast::retry::{CloneRequest, RetryPolicy};
/// use steadfast_http::replay::{ReplayBody, ReplayCloner};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let policy = RetryPolicy::builder().clone_requests(ReplayCloner).build().unwrap();
/// # let _ = policy;
///
/// // What the retry layer does with it: copy the request, then send the copy again.
/// let req = http::Request::put("/doc")
///     .header("content-type", "text/plain")
///     .body(ReplayBody::new(Full::new(Bytes::from_static(b"draft")), 1024))
///     .unwrap();
/// let copy = ReplayCloner.clone_request(&req).unwrap();
/// assert_eq!(req.into_body().collect().await.unwrap().to_bytes(), "draft"); // first attempt
/// assert!(ReplayCloner.can_resend(&copy).is_ok());
/// assert_eq!(copy.method(), http::Method::PUT);
/// assert_eq!(copy.headers()["content-type"], "text/plain");
/// assert_eq!(copy.into_body().collect().await.unwrap().to_bytes(), "draft"); // the retry
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayCloner;

impl<B> CloneRequest<Request<ReplayBody<B>>> for ReplayCloner {
    fn clone_request(&self, req: &Request<ReplayBody<B>>) -> Option<Request<ReplayBody<B>>> {
        let mut copy = Request::new(req.body().clone());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }

    fn can_resend(&self, kept: &Request<ReplayBody<B>>) -> Result<(), &'static str> {
        kept.body().can_replay()
    }
}
