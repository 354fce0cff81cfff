//! The response futures of the reqwest services.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use steadfast::BoxError;

use super::convert::{from_http_response, to_http_response};

/// The future of `reqwest::Client`'s tower `Service` impl.
pub(crate) type ReqwestPending =
    <::reqwest::Client as tower_service::Service<::reqwest::Request>>::Future;

/// Response future of [`ReqwestTransport`](super::ReqwestTransport): reqwest's own future, its
/// answer as an `http::Response`.
#[pin_project(project = TransportProj)]
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub enum TransportFuture {
    /// The request could not be made into a reqwest request (its URL, say).
    Invalid {
        /// The error, until it is taken.
        error: Option<::reqwest::Error>,
    },
    /// reqwest is sending the request.
    Sending {
        /// reqwest's future.
        #[pin]
        fut: ReqwestPending,
    },
}

impl Future for TransportFuture {
    type Output = Result<http::Response<::reqwest::Body>, ::reqwest::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            TransportProj::Invalid { error } => {
                Poll::Ready(Err(error.take().expect("polled after completion")))
            }
            TransportProj::Sending { fut } => fut.poll(cx).map_ok(to_http_response),
        }
    }
}

/// Response future of [`ReqwestClient`](super::ReqwestClient): the stack's answer as a
/// `reqwest::Response`, with the request's URL.
#[pin_project(project = ClientProj)]
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub enum ClientFuture<F> {
    /// The `reqwest::Request` could not be made into an `http::Request`.
    Invalid {
        /// The error, until it is taken.
        error: Option<::reqwest::Error>,
    },
    /// The stack is answering.
    Calling {
        /// The stack's future.
        #[pin]
        fut: F,
        /// The request's URL, for the response.
        url: Option<::reqwest::Url>,
    },
}

impl<F, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<http::Response<::reqwest::Body>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<::reqwest::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ClientProj::Invalid { error } => {
                Poll::Ready(Err(error.take().expect("polled after completion").into()))
            }
            ClientProj::Calling { fut, url } => match fut.poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
                Poll::Ready(Ok(res)) => {
                    let url = url.take().expect("polled after completion");
                    Poll::Ready(Ok(from_http_response(res, url)))
                }
            },
        }
    }
}
