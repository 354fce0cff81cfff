//! What a replayable body and its layer report when they fail.

use std::error::Error as StdError;
use std::fmt;

/// The reason [`ReplayBody::can_replay`](super::ReplayBody::can_replay) gives for a body that
/// grew past its replay cap (also what the retry layer's
/// [`StopReason::NotReplayable`](steadfast::retry::StopReason::NotReplayable) carries).
pub(crate) const OVER_CAP: &str = "request body larger than the replay cap";

/// The reason given for a body whose stream failed while it was read.
pub(crate) const SOURCE_FAILED: &str = "request body failed while it was read";

/// A copy of a [`ReplayBody`](super::ReplayBody) could not be replayed.
///
/// Returned (boxed, as the body's error) by a copy that is polled although it can no longer be
/// sent whole: the body outgrew the replay cap while another copy streamed it, or the body's
/// stream failed while another copy read it. The copy fails instead of sending a truncated
/// body. The copy that read the body's own stream gets that stream's error unchanged.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use steadfast_http::replay::{ReplayBody, ReplayError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let body = ReplayBody::new(Full::new(Bytes::from(vec![7u8; 100])), 10);
/// let copy = body.clone();
/// assert_eq!(body.collect().await.unwrap().to_bytes().len(), 100); // sent once, whole
///
/// let err = copy.collect().await.unwrap_err();
/// let err = err.downcast_ref::<ReplayError>().unwrap();
/// assert!(err.is_over_cap());
/// assert_eq!(err.cap(), Some(10));
/// # }
/// ```
pub struct ReplayError {
    kind: Kind,
}

enum Kind {
    OverCap { cap: usize },
    SourceFailed { source: SourceMessage },
}

impl ReplayError {
    pub(crate) fn over_cap(cap: usize) -> Self {
        ReplayError {
            kind: Kind::OverCap { cap },
        }
    }

    pub(crate) fn source_failed(message: Box<str>) -> Self {
        ReplayError {
            kind: Kind::SourceFailed {
                source: SourceMessage(message),
            },
        }
    }

    /// `true` if the body grew past the replay cap while another copy streamed it (or was
    /// known to be larger than the cap from the start).
    pub fn is_over_cap(&self) -> bool {
        matches!(self.kind, Kind::OverCap { .. })
    }

    /// `true` if the body's stream failed (or panicked) while another copy read it. The
    /// stream's error message is this error's [`source`](StdError::source).
    pub fn is_source_failed(&self) -> bool {
        matches!(self.kind, Kind::SourceFailed { .. })
    }

    /// The replay cap in bytes, for an over-cap error.
    pub fn cap(&self) -> Option<usize> {
        match self.kind {
            Kind::OverCap { cap } => Some(cap),
            Kind::SourceFailed { .. } => None,
        }
    }
}

impl fmt::Debug for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::OverCap { cap } => f
                .debug_struct("ReplayError")
                .field("kind", &"over cap")
                .field("cap", cap)
                .finish(),
            Kind::SourceFailed { source } => f
                .debug_struct("ReplayError")
                .field("kind", &"source failed")
                .field("source", &source.0)
                .finish(),
        }
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::OverCap { cap } => write!(
                f,
                "request body larger than the replay cap ({cap} bytes): this copy cannot be sent"
            ),
            Kind::SourceFailed { .. } => {
                f.write_str("request body failed while another copy read it")
            }
        }
    }
}

impl StdError for ReplayError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.kind {
            Kind::OverCap { .. } => None,
            Kind::SourceFailed { source } => Some(source),
        }
    }
}

/// The message of the error the body's stream gave the copy that read it (that error itself
/// went to that copy).
struct SourceMessage(Box<str>);

impl fmt::Debug for SourceMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SourceMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for SourceMessage {}
