//! [`ReqwestTransport`]: a `reqwest::Client` under steadfast's layers.

use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Body;
use steadfast::BoxError;
use tower_service::Service;

use super::convert::to_reqwest_request;
use super::future::TransportFuture;

/// A `reqwest::Client` as a tower service over `http::Request`s, innermost in a stack of
/// steadfast layers: the layers see `http` requests (with their cancel token, attempt and
/// replayable body) and `http` responses (with their status and hints), and reqwest sends
/// them with its connection pool, TLS, proxies and cookies.
///
/// A request whose URI reqwest cannot take fails with its `reqwest::Error`; so does every
/// request reqwest fails to send.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: ::reqwest::Client,
}

impl ReqwestTransport {
    /// Sends requests with `client`.
    pub fn new(client: ::reqwest::Client) -> Self {
        ReqwestTransport { client }
    }

    /// The reqwest client.
    pub fn client(&self) -> &::reqwest::Client {
        &self.client
    }
}

impl<B> Service<http::Request<B>> for ReqwestTransport
where
    B: Body + Send + Sync + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<::reqwest::Body>;
    type Error = ::reqwest::Error;
    type Future = TransportFuture;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match to_reqwest_request(req) {
            Ok(req) => TransportFuture::Sending {
                fut: Service::call(&mut self.client, req),
            },
            Err(e) => TransportFuture::Invalid { error: Some(e) },
        }
    }
}
