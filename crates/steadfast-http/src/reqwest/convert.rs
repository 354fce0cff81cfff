//! Requests and responses between reqwest's types and `http`'s.

use bytes::Bytes;
use http_body::Body;
use steadfast::BoxError;

/// An `http::Request` with any body as a `reqwest::Request` (its extensions, the cancel token
/// among them, kept).
pub(crate) fn to_reqwest_request<B>(
    req: http::Request<B>,
) -> Result<::reqwest::Request, ::reqwest::Error>
where
    B: Body + Send + Sync + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    ::reqwest::Request::try_from(req.map(::reqwest::Body::wrap))
}

/// A `reqwest::Response` as an `http::Response`.
pub(crate) fn to_http_response(res: ::reqwest::Response) -> http::Response<::reqwest::Body> {
    res.into()
}

/// An `http::Response` as a `reqwest::Response` for `url` (which `http`'s type does not carry).
pub(crate) fn from_http_response(
    res: http::Response<::reqwest::Body>,
    url: ::reqwest::Url,
) -> ::reqwest::Response {
    use ::reqwest::ResponseBuilderExt;
    let (mut parts, body) = res.into_parts();
    // reqwest keeps a response's URL in an extension only its builder can write.
    if let Ok(marker) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(marker.into_parts().0.extensions);
    }
    http::Response::from_parts(parts, body).into()
}
