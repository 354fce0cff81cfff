//! A real HTTP/1.1 server on 127.0.0.1 that answers from a script and records what it got.
//!
//! ```
//! use steadfast_test::server::{Answer, ScriptedServer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let server = ScriptedServer::start([Answer::status(503).header("retry-after", "2")]).await;
//! // Send requests to `server.url("/path")`; after the script, every answer is 200 "ok".
//! assert_eq!(server.requests().len(), 0);
//! # let _ = server.url("/x");
//! # }
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    hang_up: bool,
}

impl Answer {
    /// An answer with `status` and an empty body.
    pub fn status(status: u16) -> Self {
        Answer {
            status: StatusCode::from_u16(status).expect("a valid status code"),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            hang_up: false,
        }
    }

    /// `200` with `body`.
    pub fn ok(body: &'static str) -> Self {
        Self::status(200).body(body)
    }

    /// Closes the connection after reading the request, without answering.
    pub fn hang_up() -> Self {
        Answer {
            hang_up: true,
            ..Self::status(200)
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("a valid header value"),
        );
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: &'static str) -> Self {
        self.body = Bytes::from_static(body.as_bytes());
        self
    }
}

/// A request the server received, with its whole body.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The method.
    pub method: Method,
    /// The path and query.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, read to the end.
    pub body: Bytes,
}

#[derive(Debug, Default)]
struct State {
    script: VecDeque<Answer>,
    seen: Vec<Seen>,
}

/// The server; see the [module docs](self). It runs until the runtime ends.
#[derive(Debug, Clone)]
pub struct ScriptedServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl ScriptedServer {
    /// Starts a server that gives the answers of `script` in order, then `200 ok`.
    pub async fn start(script: impl IntoIterator<Item = Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            script: script.into_iter().collect(),
            seen: Vec::new(),
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| answer(state.clone(), req));
                    // A scripted hang-up fails the service, and hyper drops the connection.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        ScriptedServer { addr, state }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An absolute URL for `path` on this server.
    pub fn url(&self, path: &str) -> Uri {
        format!("http://{}{}", self.addr, path)
            .parse()
            .expect("a valid URL")
    }

    /// Adds answers to the end of the script.
    pub fn push(&self, answers: impl IntoIterator<Item = Answer>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.script.extend(answers);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.seen.clone()
    }
}

/// The error a hang-up answer fails the connection with.
#[derive(Debug)]
struct HangUp;

impl std::fmt::Display for HangUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scripted hang-up")
    }
}

impl std::error::Error for HangUp {}

async fn answer(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, HangUp> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let next = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.seen.push(Seen {
            method: parts.method,
            path: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.to_string()),
            headers: parts.headers,
            body,
        });
        state.script.pop_front()
    };
    let Some(next) = next else {
        return Ok(Response::new(Full::new(Bytes::from_static(b"ok"))));
    };
    if next.hang_up {
        return Err(HangUp);
    }
    let mut res = Response::new(Full::new(next.body));
    *res.status_mut() = next.status;
    *res.headers_mut() = next.headers;
    Ok(res)
}
