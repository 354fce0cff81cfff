//! A gRPC echo service for tests and examples, generated from `proto/echo.proto`.
//!
//! [`EchoService`] answers every call with the message it got and the time the call has left,
//! as a function given by the test reads it from the request's extensions (where steadfast's
//! cancel layer puts its token). Some messages are instructions:
//!
//! * `fail:<code>`: answer with that gRPC status.
//! * `flaky:<n>:<code>` or `flaky:<n>:<code>:<pushback ms>`: the first `n` calls the service
//!   receives fail with that status (and that `grpc-retry-pushback-ms`), later ones echo.
//! * `sleep:<ms>`: wait that long (on tokio's clock), then echo.

#![allow(missing_docs, unreachable_pub, clippy::all)]

tonic::include_proto!("steadfast.echo");

use std::sync::atomic::{AtomicUsize, Ordering};
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
    calls: Arc<AtomicUsize>,
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
            calls: Arc::default(),
        }
    }

    /// How many calls the service (and its clones) received.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn status(code: &str, message: &str) -> tonic::Status {
    tonic::Status::new(
        tonic::Code::from_i32(code.parse().unwrap_or(2)),
        message.to_owned(),
    )
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn say(
        &self,
        request: tonic::Request<SayRequest>,
    ) -> Result<tonic::Response<SayReply>, tonic::Status> {
        let remaining_ms = (self.remaining)(request.extensions())
            .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let message = request.into_inner().message;
        if let Some(code) = message.strip_prefix("fail:") {
            return Err(status(code, "failing as asked"));
        }
        if let Some(rest) = message.strip_prefix("flaky:") {
            let parts: Vec<&str> = rest.split(':').collect();
            let n: usize = parts.first().and_then(|n| n.parse().ok()).unwrap_or(0);
            if call < n {
                let mut s = status(parts.get(1).copied().unwrap_or("14"), "flaky, as asked");
                if let Some(ms) = parts.get(2) {
                    if let Ok(v) = ms.parse() {
                        s.metadata_mut().insert("grpc-retry-pushback-ms", v);
                    }
                }
                return Err(s);
            }
        }
        if let Some(ms) = message.strip_prefix("sleep:") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        }
        Ok(tonic::Response::new(SayReply {
            message,
            remaining_ms,
        }))
    }
}
