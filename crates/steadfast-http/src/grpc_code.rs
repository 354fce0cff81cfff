//! The gRPC status codes, and how they are read from an answer.

use http::{HeaderMap, StatusCode};

/// The trailer (or trailers-only header) that carries a gRPC call's status code.
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// The gRPC status codes.
///
/// Name the ones a [`GrpcClassifier`](crate::GrpcClassifier) should treat apart with
/// [`GrpcClassifierBuilder::code`](crate::grpc::GrpcClassifierBuilder::code); read one from an
/// answer with [`from_headers`](Self::from_headers):
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use steadfast_http::GrpcCode;
///
/// let mut trailers = HeaderMap::new();
/// trailers.insert("grpc-status", "14".parse().unwrap());
/// assert_eq!(GrpcCode::from_headers(&trailers), Some(GrpcCode::Unavailable));
/// assert_eq!(GrpcCode::from_i32(99), GrpcCode::Unknown); // not a gRPC code
/// assert_eq!(GrpcCode::from_http_status(StatusCode::SERVICE_UNAVAILABLE), GrpcCode::Unavailable);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[allow(missing_docs)] // The names are gRPC's own.
pub enum GrpcCode {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl GrpcCode {
    /// Its name as gRPC spells it (`"UNAVAILABLE"`), for a decision trace's rule.
    pub(crate) fn name(self) -> &'static str {
        match self {
            GrpcCode::Ok => "OK",
            GrpcCode::Cancelled => "CANCELLED",
            GrpcCode::Unknown => "UNKNOWN",
            GrpcCode::InvalidArgument => "INVALID_ARGUMENT",
            GrpcCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
            GrpcCode::NotFound => "NOT_FOUND",
            GrpcCode::AlreadyExists => "ALREADY_EXISTS",
            GrpcCode::PermissionDenied => "PERMISSION_DENIED",
            GrpcCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            GrpcCode::FailedPrecondition => "FAILED_PRECONDITION",
            GrpcCode::Aborted => "ABORTED",
            GrpcCode::OutOfRange => "OUT_OF_RANGE",
            GrpcCode::Unimplemented => "UNIMPLEMENTED",
            GrpcCode::Internal => "INTERNAL",
            GrpcCode::Unavailable => "UNAVAILABLE",
            GrpcCode::DataLoss => "DATA_LOSS",
            GrpcCode::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// Every code, in the order of their numbers.
    pub(crate) const ALL: [GrpcCode; 17] = [
        GrpcCode::Ok,
        GrpcCode::Cancelled,
        GrpcCode::Unknown,
        GrpcCode::InvalidArgument,
        GrpcCode::DeadlineExceeded,
        GrpcCode::NotFound,
        GrpcCode::AlreadyExists,
        GrpcCode::PermissionDenied,
        GrpcCode::ResourceExhausted,
        GrpcCode::FailedPrecondition,
        GrpcCode::Aborted,
        GrpcCode::OutOfRange,
        GrpcCode::Unimplemented,
        GrpcCode::Internal,
        GrpcCode::Unavailable,
        GrpcCode::DataLoss,
        GrpcCode::Unauthenticated,
    ];

    /// The code for a number; numbers gRPC does not define are `UNKNOWN`, as its
    /// specification says.
    pub fn from_i32(n: i32) -> GrpcCode {
        usize::try_from(n)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
            .unwrap_or(GrpcCode::Unknown)
    }

    /// Reads `grpc-status` from headers or trailers; `None` if it is absent or not a number.
    pub fn from_headers(headers: &HeaderMap) -> Option<GrpcCode> {
        let v = headers.get(&GRPC_STATUS)?.to_str().ok()?;
        v.trim().parse::<i32>().ok().map(GrpcCode::from_i32)
    }

    /// The code a gRPC client reports for an HTTP status that came without a `grpc-status`.
    pub fn from_http_status(status: StatusCode) -> GrpcCode {
        match status.as_u16() {
            200 => GrpcCode::Ok,
            400 => GrpcCode::Internal,
            401 => GrpcCode::Unauthenticated,
            403 => GrpcCode::PermissionDenied,
            404 => GrpcCode::Unimplemented,
            429 | 502 | 503 | 504 => GrpcCode::Unavailable,
            _ => GrpcCode::Unknown,
        }
    }
}
