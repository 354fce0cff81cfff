//! The error of a response body larger than the buffer's cap.

use std::fmt;

use http::{HeaderMap, StatusCode};

/// A response body was larger than the buffer's cap. The response is not handed on truncated:
/// the call fails with this error, which keeps the status and headers.
#[derive(Debug)]
pub struct BodyTooLarge {
    cap: usize,
    received: u64,
    status: StatusCode,
    headers: HeaderMap,
}

impl BodyTooLarge {
    /// The cap that was exceeded, in bytes.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How far the buffer got: the bytes of the body received when it gave up, counting the
    /// frame that crossed the cap (so more than [`cap`](Self::cap)). The rest of the body was
    /// not read. 0 when the body's size hint already said it was larger than the cap, so
    /// that nothing was read.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The response's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "response body larger than the {}-byte buffer", self.cap)?;
        if self.received > 0 {
            write!(f, ": {} bytes received when it gave up", self.received)?;
        } else {
            f.write_str(": its declared size is larger")?;
        }
        write!(f, " (status {})", self.status)
    }
}

impl std::error::Error for BodyTooLarge {}

impl BodyTooLarge {
    /// The error for a body of at least `received` bytes over `cap`, keeping the head in
    /// `parts`.
    pub(crate) fn new(cap: usize, received: u64, parts: http::response::Parts) -> Self {
        BodyTooLarge {
            cap,
            received,
            status: parts.status,
            headers: parts.headers,
        }
    }
}
