//! The statuses a cancelled request is answered with.

use http::StatusCode;
use steadfast::token::CancelReason;

/// The HTTP status a cancelled request is answered with, by
/// [`for_http`](super::CancelLayerExt::for_http). The timeout statuses follow RFC 9110
/// (504 Gateway Timeout for an upstream limit, 503 Service Unavailable for a server that
/// cannot take the request now).
///
/// | reason | status |
/// | --- | --- |
/// | timeout, deadline | 504 Gateway Timeout |
/// | shutdown, signal, condition, manual | 503 Service Unavailable |
/// | client disconnected, lost a hedge race | 499 (nobody reads it; the convention for "client closed request") |
///
/// ```
/// use steadfast::token::CancelReason;
/// use steadfast_http::cancel::status_for;
///
/// assert_eq!(status_for(&CancelReason::Deadline).as_u16(), 504);
/// assert_eq!(status_for(&CancelReason::Shutdown).as_u16(), 503);
/// ```
pub fn status_for(reason: &CancelReason) -> StatusCode {
    match reason {
        CancelReason::Timeout(_) | CancelReason::Deadline => StatusCode::GATEWAY_TIMEOUT,
        CancelReason::ClientDisconnected | CancelReason::HedgeLost => {
            StatusCode::from_u16(499).expect("499 is a valid status code")
        }
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The gRPC status a cancelled call is answered with, by
/// [`for_grpc`](super::CancelLayerExt::for_grpc); the codes are gRPC's status codes.
///
/// | reason | gRPC status |
/// | --- | --- |
/// | timeout, deadline | `DEADLINE_EXCEEDED` (4) |
/// | shutdown, signal | `UNAVAILABLE` (14): another server may take the call |
/// | client disconnected, condition, manual | `CANCELLED` (1) |
///
/// ```
/// use std::time::Duration;
/// use steadfast::token::CancelReason;
/// use steadfast_http::cancel::grpc_status_for;
///
/// assert_eq!(grpc_status_for(&CancelReason::Timeout(Duration::from_secs(1))), 4);
/// assert_eq!(grpc_status_for(&CancelReason::Shutdown), 14);
/// ```
pub fn grpc_status_for(reason: &CancelReason) -> u8 {
    match reason {
        CancelReason::Timeout(_) | CancelReason::Deadline => 4,
        CancelReason::Shutdown | CancelReason::Signal(_) => 14,
        _ => 1,
    }
}
