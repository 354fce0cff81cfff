//! What a token can carry besides its state: an [`Attachment`], shared with the token's
//! children and dropped with the last of them. The registry of running operations attaches
//! its entry this way (dropping it removes the entry, and progress goes through it); tokens
//! that fire by themselves attach what stops their timer or watcher.
//!
//! The token knows only this trait, so it does not depend on whoever attaches things to it.

use std::sync::Arc;

/// Something attached to a token for as long as the token or any of its children lives.
///
/// Its `Drop` is the hook for "the token is gone": it runs when the last token holding it is
/// dropped. Progress reported on a token goes to its attachment.
pub(crate) trait Attachment: Send + Sync {
    /// Records `message` as the latest progress of the work the token belongs to.
    fn report(&self, message: Arc<str>);

    /// The latest progress recorded, if any.
    fn progress(&self) -> Option<Arc<str>>;
}
