//! What builds a stack's validate layer from its `validate` section: nothing
//! ([`NoValidate`], which refuses a section it cannot build), or a function the program gives
//! [`StackBuilder::validate_with`](super::StackBuilder::validate_with).

use tower_layer::Identity;

use crate::config::{ConfigError, ValidateSettings};

/// Builds a stack's validate layer from its `validate` section, if it has one. Implemented by
/// [`NoValidate`] and by every `Fn(&ValidateSettings) -> Result<L, ConfigError>`.
pub trait BuildValidate {
    /// The layer that goes innermost in the stack.
    type Layer;

    /// The layer for `settings`, the stack's `validate` section (`None`: the stack has none).
    fn build_validate(
        &self,
        settings: Option<&ValidateSettings>,
    ) -> Result<Self::Layer, ConfigError>;
}

/// No validate layer: a [`StackBuilder`](super::StackBuilder) without
/// [`validate_with`](super::StackBuilder::validate_with). A stack whose settings have a
/// `validate` section is refused, rather than built without its checks.
///
/// ```
/// use steadfast::config::{BuildValidate, NoValidate, ValidateSettings};
///
/// assert!(NoValidate.build_validate(None).is_ok());
/// let err = NoValidate.build_validate(Some(&ValidateSettings::default())).unwrap_err();
/// assert_eq!(err.field(), "validate");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoValidate;

impl BuildValidate for NoValidate {
    type Layer = Identity;

    fn build_validate(&self, settings: Option<&ValidateSettings>) -> Result<Identity, ConfigError> {
        match settings {
            None => Ok(Identity::new()),
            Some(_) => Err(ConfigError::new(
                "stack",
                "validate",
                "its validators are built in code: give `StackBuilder::validate_with` what builds \
                 them (for HTTP, `steadfast_http::by_name::validate_layer`)",
            )),
        }
    }
}

/// The layer `F` builds. A stack without a `validate` section is refused: the validate layer
/// may change the response's type (steadfast-http's reads bodies into `Buffered`), so a stack
/// built with a validate layer always has one.
impl<L, F> BuildValidate for F
where
    F: Fn(&ValidateSettings) -> Result<L, ConfigError>,
{
    type Layer = L;

    fn build_validate(&self, settings: Option<&ValidateSettings>) -> Result<L, ConfigError> {
        match settings {
            Some(s) => self(s),
            None => Err(ConfigError::new(
                "stack",
                "validate",
                "missing: `validate_with` builds the stack's validate layer, and the stack has \
                 no `validate` section",
            )),
        }
    }
}
