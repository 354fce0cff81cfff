//! What the validate layer says about itself in a stack's description ([`crate::describe`]).

use std::borrow::Cow;

use super::{Validate, ValidateLayer};
use crate::describe::{Describe, LayerDescription, Value};

/// The top-level generic arguments of a type's name: `A, B<C, D>` → `["A", "B<C, D>"]`.
fn arguments(name: &str) -> Vec<&str> {
    let Some(open) = name.find('<') else {
        return Vec::new();
    };
    let inside = &name[open + 1..name.len().saturating_sub(1)];
    let (mut depth, mut start, mut out) = (0usize, 0usize, Vec::new());
    for (i, c) in inside.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(inside[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(inside[start..].trim());
    out
}

/// A type's name without its path or parameters.
fn short(name: &str) -> &str {
    let head = name.split('<').next().unwrap_or(name);
    head.rsplit("::").next().unwrap_or(head)
}

/// The validators a builder chained (as `And<And<AcceptAll, A>, B>`), first to last, each by
/// the name of its type; `custom` for closures.
fn validators(name: &str, out: &mut Vec<Value>) {
    match short(name) {
        "AcceptAll" => {}
        "And" => {
            let args = arguments(name);
            if let [first, second] = args.as_slice() {
                validators(first, out);
                validators(second, out);
            }
        }
        s if s.ends_with("Fn") || name.contains("{{closure}}") || s.is_empty() => {
            out.push(Value::text("custom"));
        }
        s => out.push(Value::Text(Cow::Owned(s.to_owned()))),
    }
}

fn describe_validators<Q, P>(name: Option<&Cow<'static, str>>) -> LayerDescription {
    let mut d = LayerDescription::new("validate");
    if let Some(name) = name {
        d = d.named(name.clone());
    }
    for (key, name) in [
        ("request", std::any::type_name::<Q>()),
        ("response", std::any::type_name::<P>()),
    ] {
        let mut list = Vec::new();
        validators(name, &mut list);
        if !list.is_empty() {
            d = d.with(key, Value::List(list));
        }
    }
    d
}

/// `validate: request [NonEmpty], response [custom, StatusIs]`: the validators of each side,
/// in the order they were added, each by the name of its type (`custom` for closures); a
/// named layer is described under its name.
impl<Q, P> Describe for ValidateLayer<Q, P> {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![describe_validators::<Q, P>(self.name_ref())]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe, Q, P> Describe for Validate<S, Q, P> {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut layers = vec![describe_validators::<Q, P>(self.name_ref())];
        layers.extend(self.get_ref().describe());
        layers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chained_validators_in_order() {
        let mut out = Vec::new();
        validators(
            "a::And<a::And<a::AcceptAll, b::NonEmpty>, c::ValidatorFn<x::{{closure}}, E>>",
            &mut out,
        );
        assert_eq!(out, [Value::text("NonEmpty"), Value::text("custom")]);
        assert_eq!(arguments("X<A<B, C>, (D, E)>"), ["A<B, C>", "(D, E)"]);
    }
}
