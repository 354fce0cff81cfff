//! A validator for buffered gRPC answers.

use http::{Response, StatusCode};

use super::buffered::Buffered;

/// Accepts a buffered gRPC answer whose status is `OK`; see [`grpc_status`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcStatusOk {
    _priv: (),
}

/// A validator for buffered gRPC answers: the call's `grpc-status` (in the headers of a
/// trailers-only answer, or in the trailers after the messages) must be `OK`. A call whose
/// status came only in the trailers can then be retried like any invalid answer, since the
/// buffer still holds it whole; a streamed answer cannot (see
/// [`grpc_status`](crate::grpc_status) for what the circuit breaker does with those).
///
/// ```
/// use bytes::Bytes;
/// use http::{HeaderMap, Response};
/// use steadfast::validate::{ValidationContext, Validator};
/// use steadfast_http::validate::{grpc_status, Buffered};
///
/// let mut trailers = HeaderMap::new();
/// trailers.insert("grpc-status", "14".parse().unwrap());
/// let res = Response::new(Buffered::new(Bytes::from_static(b"msg"), Some(trailers)));
/// let mut reasons = Vec::new();
/// grpc_status().validate(&res, &ValidationContext::first(), &mut reasons);
/// assert_eq!(reasons[0].to_string(), "gRPC status Unavailable (14)");
/// ```
pub fn grpc_status() -> GrpcStatusOk {
    GrpcStatusOk::default()
}

impl steadfast::validate::Validator<Response<Buffered>> for GrpcStatusOk {
    fn validate(
        &self,
        res: &Response<Buffered>,
        _: &steadfast::validate::ValidationContext,
        reasons: &mut Vec<steadfast::validate::Reason>,
    ) {
        use crate::grpc_code::GrpcCode;
        let code = GrpcCode::from_headers(res.headers())
            .or_else(|| res.body().trailers().and_then(GrpcCode::from_headers));
        let code = match code {
            Some(code) => code,
            // No status anywhere: a proxy's answer (its HTTP status says it) or a call that
            // ended without one, which gRPC counts as failed.
            None if res.status() == StatusCode::OK => GrpcCode::Unknown,
            None => GrpcCode::from_http_status(res.status()),
        };
        if code != GrpcCode::Ok {
            reasons.push(steadfast::validate::Reason::new(format!(
                "gRPC status {code:?} ({})",
                code as i32
            )));
        }
    }
}
