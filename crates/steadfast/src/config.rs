//! The path the builders import `ConfigError` from; it is defined with the rest of the error
//! vocabulary, in the `error` module.

pub(crate) use crate::error::ConfigError;
