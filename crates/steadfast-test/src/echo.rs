//! A gRPC echo service for tests and examples, generated from `proto/echo.proto`.
//!
//! [`EchoService`] answers every call with the message it got and the time the call has left,
//! as a function given by the test reads it from the request's extensions (where steadfast's
//! cancel layer puts its token); a message of the form `fail:<code>` makes it answer with that
//! gRPC status instead.

#![allow(missing_docs, unreachable_pub, clippy::all)]

tonic::include_proto!("steadfast.echo");

use std::sync::Arc;
use std::time::Duration;

pub use echo_client::EchoClient;
pub use echo_server::{Echo, EchoServer};

/// Reads the time a call has left from its extensions.
pub type Remaining = Arc<dyn Fn(&http::Extensions) -> Option<Duration> + Send + Sync>;

/// The echo service's behaviour.
#[derive(Clone)]
pub struct EchoService {
    remaining: Remaining,
}

impl std::fmt::Debug for EchoService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoService").finish_non_exhaustive()
    }
}

impl EchoService {
    /// An echo service that reports the time left as `remaining` reads it.
    pub fn new(
        remaining: impl Fn(&http::Extensions) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        EchoService {
            remaining: Arc::new(remaining),
        }
    }
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn say(
        &self,
        request: tonic::Request<SayRequest>,
    ) -> Result<tonic::Response<SayReply>, tonic::Status> {
        let remaining_ms = (self.remaining)(request.extensions())
            .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let message = request.into_inner().message;
        if let Some(code) = message.strip_prefix("fail:") {
            let code = tonic::Code::from_i32(code.parse().unwrap_or(2));
            return Err(tonic::Status::new(code, "failing as asked"));
        }
        Ok(tonic::Response::new(SayReply {
            message,
            remaining_ms,
        }))
    }
}
