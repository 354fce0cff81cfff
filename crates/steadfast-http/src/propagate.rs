//! Handing a request's token on to the requests it causes.

use steadfast::token::CancelToken;

/// Puts a [`CancelToken`] on an outbound request (or request builder), in its extensions,
/// where steadfast's layers look for it.
///
/// ```
/// use steadfast::token::{CancelToken, HasCancelToken};
/// use steadfast_http::WithCancelToken;
///
/// let token = CancelToken::new();
/// let req = http::Request::get("/x").with_cancel_token(&token).body(()).unwrap();
/// assert!(req.cancel_token().unwrap().same_as(&token));
///
/// let req = http::Request::new(()).with_cancel_token(&token);
/// assert!(req.cancel_token().is_some());
/// ```
pub trait WithCancelToken {
    /// This request, carrying a clone of `token`.
    fn with_cancel_token(self, token: &CancelToken) -> Self;
}

impl<B> WithCancelToken for http::Request<B> {
    fn with_cancel_token(mut self, token: &CancelToken) -> Self {
        self.extensions_mut().insert(token.clone());
        self
    }
}

impl WithCancelToken for http::request::Builder {
    fn with_cancel_token(self, token: &CancelToken) -> Self {
        self.extension(token.clone())
    }
}
