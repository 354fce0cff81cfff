//! The cancel layer's settings as data.

use std::time::Duration;

use super::node::{Node, Out};
use super::read::settings_serde;
use super::read::{Reader, Table};

/// A cancel layer's settings, as a file gives them: a name and a timeout. (A deadline is an
/// instant, which only code can give.)
///
/// In a file: `{ name = "inventory", timeout = "5s" }`, or in a stack just the timeout:
/// `cancel = "5s"`.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct CancelSettings {
    /// The layer's name.
    pub name: Option<String>,
    /// Cancels each request this long after it arrives.
    pub timeout: Option<Duration>,
}

impl CancelSettings {
    /// These settings with every setting `over` gives replacing this one's.
    pub fn overridden_by(&self, over: &CancelSettings) -> CancelSettings {
        CancelSettings {
            name: over.name.clone().or_else(|| self.name.clone()),
            timeout: over.timeout.or(self.timeout),
        }
    }

    pub(crate) fn read_table(r: &mut Reader, t: &mut Table<'_>) -> CancelSettings {
        CancelSettings {
            name: t.string(r, "name"),
            timeout: t.duration(r, "timeout"),
        }
    }

    /// Reads a table, or a duration alone as the timeout.
    pub(crate) fn read(r: &mut Reader, node: &Node, path: &str) -> Option<CancelSettings> {
        if let Node::String(_) = node {
            return super::read::duration(r, node, path).map(|timeout| CancelSettings {
                name: None,
                timeout: Some(timeout),
            });
        }
        let mut t = r.table(node, path)?;
        let settings = Self::read_table(r, &mut t);
        t.finish(r);
        Some(settings)
    }

    /// The table these settings read from.
    pub fn to_node(&self) -> Node {
        Out::default()
            .put("name", self.name.as_deref().map(Node::text))
            .put("timeout", self.timeout.map(Node::duration))
            .node()
    }
}

settings_serde!(CancelSettings);

#[cfg(feature = "cancel")]
mod build {
    use super::CancelSettings;
    use crate::cancel::{CancelLayer, CancelLayerBuilder};
    use crate::error::ConfigError;

    impl CancelSettings {
        /// A builder with these settings, ready for the parts that stay in code: a deadline,
        /// a parent token, signals, listeners.
        pub fn builder(&self) -> CancelLayerBuilder {
            let mut b = CancelLayer::builder();
            if let Some(name) = &self.name {
                b = b.name(name.clone());
            }
            if let Some(d) = self.timeout {
                b = b.timeout(d);
            }
            b
        }

        /// The layer these settings describe, checked by the builder.
        pub fn build(&self) -> Result<CancelLayer, ConfigError> {
            self.builder().build()
        }
    }
}
