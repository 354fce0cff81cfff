//! A validator for the headers of HTTP requests and responses.

use http::{HeaderMap, HeaderName, Request, Response};
use steadfast::validate::{Reason, ValidationContext, Validator};

/// Requires an HTTP message (request or response) to carry a header; see [`has_header`].
///
/// ```
/// use steadfast::validate::ValidateLayer;
/// use steadfast_http::validate::has_header;
///
/// let layer = ValidateLayer::builder()
///     .request(has_header(http::header::AUTHORIZATION))
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct HasHeader {
    name: HeaderName,
}

/// Rejects HTTP requests or responses without the header `name`, with the reason
/// `"missing header content-type"`.
///
/// ```
/// use steadfast::validate::{ValidationContext, Validator};
/// use steadfast_http::validate::has_header;
///
/// let mut reasons = Vec::new();
/// let req = http::Request::builder().uri("/").body(()).unwrap();
/// has_header(http::header::AUTHORIZATION).validate(&req, &ValidationContext::first(), &mut reasons);
/// assert_eq!(reasons[0].as_str(), "missing header authorization");
/// ```
pub fn has_header(name: HeaderName) -> HasHeader {
    HasHeader { name }
}

impl HasHeader {
    fn check(&self, headers: &HeaderMap, reasons: &mut Vec<Reason>) {
        if !headers.contains_key(&self.name) {
            reasons.push(Reason::new(format!("missing header {}", self.name)));
        }
    }
}

impl<B> Validator<Response<B>> for HasHeader {
    fn validate(&self, res: &Response<B>, _: &ValidationContext, reasons: &mut Vec<Reason>) {
        self.check(res.headers(), reasons);
    }
}

impl<B> Validator<Request<B>> for HasHeader {
    fn validate(&self, req: &Request<B>, _: &ValidationContext, reasons: &mut Vec<Reason>) {
        self.check(req.headers(), reasons);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_requests_and_responses() {
        let v = has_header(http::header::CONTENT_TYPE);
        let cx = ValidationContext::first();
        let mut reasons = Vec::new();
        let res = Response::builder()
            .header("content-type", "text/plain")
            .body(())
            .unwrap();
        v.validate(&res, &cx, &mut reasons);
        assert!(reasons.is_empty());
        let req = Request::new(());
        v.validate(&req, &cx, &mut reasons);
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons[0].as_str(), "missing header content-type");
    }
}
