//! How the retry layer copies a request for the next attempt.

use std::fmt;

/// Makes the copy of a request that the next attempt will send.
///
/// The retry layer clones the request before each attempt, because sending it consumes it.
/// [`CloneAll`] (the default) uses `Clone`; [`CloneWith`] uses your function. A request that
/// cannot be cloned (`None`) is still sent once; it is simply not retried.
pub trait CloneRequest<Req> {
    /// A copy of `req` for a later attempt, or `None` if it cannot be copied.
    fn clone_request(&self, req: &Req) -> Option<Req>;

    /// Asked before each retry, with the copy kept for it: can it still be sent? Some
    /// requests only learn this while an attempt runs (a streamed body that outgrew its
    /// replay buffer). `Err` names why; the retry layer then stops with
    /// [`StopReason::NotReplayable`](super::StopReason::NotReplayable). The default says yes.
    fn can_resend(&self, kept: &Req) -> Result<(), &'static str> {
        let _ = kept;
        Ok(())
    }
}

/// Clones requests with their `Clone` impl.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneAll;

impl<Req: Clone> CloneRequest<Req> for CloneAll {
    #[inline]
    fn clone_request(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// Clones requests with a function; see
/// [`RetryPolicyBuilder::clone_requests_with`](super::RetryPolicyBuilder::clone_requests_with).
#[derive(Clone, Copy)]
pub struct CloneWith<F>(pub(crate) F);

impl<F> fmt::Debug for CloneWith<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloneWith").finish_non_exhaustive()
    }
}

impl<F, Req> CloneRequest<Req> for CloneWith<F>
where
    F: Fn(&Req) -> Option<Req>,
{
    fn clone_request(&self, req: &Req) -> Option<Req> {
        (self.0)(req)
    }
}
