//! What a token can carry besides its state: an [`Attachment`], shared with the token's
//! children and dropped with the last of them. The registry of running operations attaches
//! its entry this way (dropping it removes the entry, and progress goes through it); tokens
//! that fire by themselves attach what stops their timer or watcher.
//!
//! The token knows only this trait, so it does not depend on whoever attaches things to it.

use super::Progress;

/// Something attached to a token for as long as the token or any of its children lives.
///
/// Its `Drop` is the hook for "the token is gone": it runs when the last token holding it is
/// dropped. Progress reported on a token goes to its attachment.
pub(crate) trait Attachment: Send + Sync {
    /// Records `progress` as the latest of the work the token belongs to.
    fn report(&self, progress: Progress);

    /// The latest progress recorded, if any.
    fn progress(&self) -> Option<Progress>;

    /// A channel that sees every progress recorded from now on, if progress is recorded.
    #[cfg(feature = "cancel")]
    fn watch(&self) -> Option<tokio::sync::watch::Receiver<Option<Progress>>>;
}
