//! The serialized form of a description (feature `serde`).
//!
//! A stack is a list of layers; a layer is `{"kind", "name" (when it has one), "settings"}`;
//! settings are an object, in order, from each setting's name to its value. Durations are
//! exact strings in the largest unit that holds them whole ("1500ms", "2s", "250ns"),
//! percentages strings ending in `%`, a variant an object with its `kind` and its settings.

use std::fmt::Write as _;
use std::time::Duration;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{LayerDescription, Setting, StackDescription, Value};

/// A duration, exactly, in the largest of ns, µs, ms, s, m and h that holds it whole.
pub(crate) fn exact(d: Duration) -> String {
    let ns = d.as_nanos();
    let mut out = String::new();
    let units: [(u128, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "µs"),
        (1, "ns"),
    ];
    for (size, unit) in units {
        if ns == 0 {
            out.push_str("0s");
            break;
        }
        if ns % size == 0 {
            let _ = write!(out, "{}{unit}", ns / size);
            break;
        }
    }
    out
}

struct Settings<'a>(&'a [Setting]);

impl Serialize for Settings<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for s in self.0 {
            map.serialize_entry(s.key(), s.value())?;
        }
        map.end()
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Duration(d) => serializer.serialize_str(&exact(*d)),
            Value::Integer(n) => serializer.serialize_u64(*n),
            Value::Float(x) => serializer.serialize_f64(*x),
            Value::Percent(p) => serializer.serialize_str(&format!("{p}%")),
            Value::Text(t) => serializer.serialize_str(t),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::List(values) => {
                let mut seq = serializer.serialize_seq(Some(values.len()))?;
                for v in values {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Variant { kind, settings } => {
                let mut map = serializer.serialize_map(Some(settings.len() + 1))?;
                map.serialize_entry("kind", kind)?;
                for s in settings {
                    map.serialize_entry(s.key(), s.value())?;
                }
                map.end()
            }
        }
    }
}

impl Serialize for Setting {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.key(), self.value())?;
        map.end()
    }
}

impl Serialize for LayerDescription {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = 2 + usize::from(self.name.is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("kind", self.kind())?;
        if let Some(name) = self.name() {
            map.serialize_entry("name", name)?;
        }
        map.serialize_entry("settings", &Settings(&self.settings))?;
        map.end()
    }
}

impl Serialize for StackDescription {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.layers.len()))?;
        for layer in &self.layers {
            seq.serialize_element(layer)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_durations() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(2), "2s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_nanos(250), "250ns"),
            (Duration::from_micros(15), "15µs"),
        ];
        for (d, want) in cases {
            assert_eq!(exact(d), want);
        }
    }
}
