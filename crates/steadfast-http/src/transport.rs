//! Reading client errors: which failures are the network's (worth another attempt) and which
//! are final.
//!
//! The HTTP and gRPC classifiers accept any error type that implements [`ClientError`]
//! (steadfast's [`AsDynError`](steadfast::classify::AsDynError)):
//! tower's `BoxError`, `std::io::Error`, `hyper::Error`, hyper-util's client error (feature
//! `hyper-util`), tonic's transport error (feature `tonic`) and steadfast's own errors. They
//! look through the whole `source()` chain, so an I/O error wrapped by a client's error type is
//! still seen.
//!
//! ```
//! use steadfast_http::transport::{error_kind, ErrorKind};
//!
//! let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
//! assert_eq!(error_kind(&refused), ErrorKind::Connect);
//! let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
//! assert_eq!(error_kind(&reset), ErrorKind::Transport);
//! let other = std::io::Error::other("disk full");
//! assert_eq!(error_kind(&other), ErrorKind::Unknown);
//! ```

use std::error::Error as StdError;

use steadfast::cancel::Cancelled;
use steadfast::circuit_breaker::Rejected;
use steadfast::token::CancelReason;

/// Error types the HTTP and gRPC classifiers can inspect: another name for
/// [`steadfast::classify::AsDynError`], the one trait for errors that can be looked through as
/// `dyn Error` (implementing either name implements both).
///
/// It is implemented for the error types HTTP stacks produce (tower's `BoxError`,
/// `std::io::Error`, `hyper::Error`, hyper-util's client error with the `hyper-util` feature,
/// tonic's transport error and `Status` with the `tonic` feature, tower's and tokio's timeout
/// errors, steadfast's own errors). For your own type it is one line:
///
/// ```
/// # use std::error::Error;
/// # #[derive(Debug)] struct MyError;
/// # impl std::fmt::Display for MyError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("mine") } }
/// # impl Error for MyError {}
/// impl steadfast_http::transport::ClientError for MyError {
///     fn as_dyn_error(&self) -> &(dyn Error + 'static) { self }
/// }
/// ```
pub use steadfast::classify::AsDynError as ClientError;

/// What kind of failure an error is, as far as resending is concerned; found by
/// [`error_kind`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_http::transport::{error_kind, ErrorKind};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let elapsed = tokio::time::timeout(Duration::from_millis(1), std::future::pending::<()>())
///     .await
///     .unwrap_err();
/// assert_eq!(error_kind(&elapsed), ErrorKind::Timeout);
/// let unreachable = std::io::Error::from(std::io::ErrorKind::AddrNotAvailable);
/// assert_eq!(error_kind(&unreachable), ErrorKind::Connect); // safe to resend, whatever the method
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No connection was made (refused, unreachable, DNS): the request never reached the
    /// server, so resending is safe even for a method that is not idempotent.
    Connect,
    /// The connection failed while the request was in flight (reset, aborted, closed early,
    /// an incomplete message): the server may or may not have acted on it.
    Transport,
    /// The attempt ran out of time (a per-attempt timeout, tokio's `Elapsed`, a steadfast
    /// cancel layer whose timeout or deadline fired).
    Timeout,
    /// The request was cancelled for another reason (its client left, shutdown): not
    /// retried, and not a failure of the server.
    Cancelled,
    /// A circuit breaker refused the call without sending it.
    Rejected,
    /// Anything else.
    Unknown,
}

/// Classifies `err` by the first recognisable error in its `source()` chain; see the
/// [module docs](self) for an example.
pub fn error_kind(err: &(dyn StdError + 'static)) -> ErrorKind {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(kind) = kind_of(e) {
            return kind;
        }
        cur = e.source();
    }
    ErrorKind::Unknown
}

/// The gRPC status carried by a `tonic::Status` in `err`'s chain (always `None` without the
/// `tonic` feature).
pub fn find_status(err: &(dyn StdError + 'static)) -> Option<crate::grpc_code::GrpcCode> {
    #[cfg(feature = "tonic")]
    {
        let mut cur = Some(err);
        while let Some(e) = cur {
            if let Some(s) = e.downcast_ref::<tonic::Status>() {
                return Some(crate::grpc_code::GrpcCode::from_i32(s.code() as i32));
            }
            cur = e.source();
        }
    }
    #[cfg(not(feature = "tonic"))]
    let _ = err;
    None
}

fn kind_of(e: &(dyn StdError + 'static)) -> Option<ErrorKind> {
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind as K;
        return match io.kind() {
            K::ConnectionRefused | K::AddrNotAvailable | K::NotFound => Some(ErrorKind::Connect),
            K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::NotConnected
            | K::UnexpectedEof => Some(ErrorKind::Transport),
            K::TimedOut => Some(ErrorKind::Timeout),
            // An I/O error of another kind may wrap a more telling source.
            _ => None,
        };
    }
    if let Some(c) = e.downcast_ref::<Cancelled>() {
        return Some(match c.reason() {
            CancelReason::Timeout(_) | CancelReason::Deadline => ErrorKind::Timeout,
            _ => ErrorKind::Cancelled,
        });
    }
    if e.is::<Rejected>() {
        return Some(ErrorKind::Rejected);
    }
    if e.is::<tokio::time::error::Elapsed>() {
        return Some(ErrorKind::Timeout);
    }
    if let Some(h) = e.downcast_ref::<hyper::Error>() {
        if h.is_timeout() {
            return Some(ErrorKind::Timeout);
        }
        if h.is_canceled() || h.is_closed() || h.is_incomplete_message() {
            return Some(ErrorKind::Transport);
        }
        return None;
    }
    #[cfg(feature = "hyper-util")]
    if let Some(h) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
        if h.is_connect() {
            return Some(ErrorKind::Connect);
        }
        return None;
    }
    if e.is::<tower::timeout::error::Elapsed>() {
        return Some(ErrorKind::Timeout);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_is_searched() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error")
            }
        }
        impl StdError for Wrapper {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let e = Wrapper(std::io::ErrorKind::ConnectionReset.into());
        assert_eq!(error_kind(&e), ErrorKind::Transport);
        let boxed: steadfast::BoxError = Box::new(e);
        assert_eq!(error_kind(boxed.as_dyn_error()), ErrorKind::Transport);
    }

    /// A client error of any of the types HTTP stacks produce is accepted by steadfast's own
    /// classifiers as well as by this crate's, through the one trait.
    #[test]
    fn one_trait_serves_every_classifier() {
        use http::{Request, Response};
        use steadfast::classify::{AsDynError, Attempt, Classify, ErrorIs, Outcome};

        fn inspectable<E: AsDynError + ClientError>() {}
        inspectable::<steadfast::BoxError>();
        inspectable::<std::io::Error>();
        inspectable::<hyper::Error>();
        inspectable::<tower::timeout::error::Elapsed>();
        inspectable::<tokio::time::error::Elapsed>();
        inspectable::<Cancelled>();
        inspectable::<Rejected>();
        inspectable::<steadfast::retry::RetryError>();
        #[cfg(feature = "hyper-util")]
        inspectable::<hyper_util::client::legacy::Error>();
        #[cfg(feature = "tonic")]
        inspectable::<tonic::Status>();
        #[cfg(feature = "tonic")]
        inspectable::<tonic::transport::Error>();

        /// A client's own error, made inspectable once for both crates.
        #[derive(Debug)]
        struct Mine(std::io::Error);
        impl std::fmt::Display for Mine {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("my client failed")
            }
        }
        impl StdError for Mine {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        impl AsDynError for Mine {
            fn as_dyn_error(&self) -> &(dyn StdError + 'static) {
                self
            }
        }

        let req = Request::get("/").body(()).unwrap();
        let attempt = Attempt::first(&req);
        let reset = || std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let http = crate::HttpClassifier::default();
        let judge = |e: &Mine| Classify::<_, Response<()>, _>::classify(&http, &attempt, Err(e));
        let bare = Classify::<_, Response<()>, _>::classify(&http, &attempt, Err(&reset()));
        assert_eq!(judge(&Mine(reset())), bare);
        assert!(bare.is_retryable());

        let io = ErrorIs::<std::io::Error>::new();
        let core = |e: &Mine| Classify::<(), (), _>::classify(&io, &Attempt::first(&()), Err(e));
        assert_eq!(core(&Mine(reset())), Outcome::retryable());
    }
}
