//! A validator for the status of HTTP responses.

use http::Response;
use steadfast::validate::{Reason, ValidationContext, Validator};

/// Rejects HTTP responses whose status is not a success (2xx, as RFC 9110 defines the
/// class), with the reason `"status 503 Service Unavailable is not a success"`.
///
/// ```
/// use steadfast::validate::{ValidationContext, Validator};
/// use steadfast_http::validate::success_status;
///
/// let mut reasons = Vec::new();
/// let res = http::Response::builder().status(503).body(()).unwrap();
/// success_status().validate(&res, &ValidationContext::first(), &mut reasons);
/// assert_eq!(reasons[0].as_str(), "status 503 Service Unavailable is not a success");
/// ```
pub const fn success_status() -> SuccessStatus {
    SuccessStatus
}

/// Rejects HTTP responses whose status is not a success; see [`success_status`].
///
/// ```
/// use steadfast::validate::ValidateLayer;
/// use steadfast_http::validate::SuccessStatus;
///
/// let layer = ValidateLayer::builder().response(SuccessStatus).build().unwrap();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SuccessStatus;

impl<B> Validator<Response<B>> for SuccessStatus {
    fn validate(&self, res: &Response<B>, _: &ValidationContext, reasons: &mut Vec<Reason>) {
        if !res.status().is_success() {
            reasons.push(Reason::new(format!(
                "status {} is not a success",
                res.status()
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_passes() {
        let check = |status: u16| {
            let res = Response::builder().status(status).body(()).unwrap();
            let mut reasons = Vec::new();
            success_status().validate(&res, &ValidationContext::first(), &mut reasons);
            reasons.is_empty()
        };
        assert!(check(200) && check(204) && check(299));
        assert!(!check(199) && !check(301) && !check(404) && !check(503));
    }
}
