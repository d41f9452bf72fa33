//! Evaluation of a parsed query against a [`FindingView`].
//!
//! Why: the single definition of what a term means for a value, shared by the API filter, the
//! automation rules and the routing plugin.
//! Invariants:
//! - a term on an attribute matches when *any* value the path reaches (arrays flattened)
//!   matches; `null` never matches, not even `*`;
//! - text patterns compare case-sensitively with strings; against a JSON number a wildcard-free
//!   numeric pattern compares numerically (`4` matches `4.0`) and a wildcard pattern matches the
//!   number's JSON text; against a boolean the pattern matches `true`/`false`;
//! - comparisons and ranges only hold for JSON numbers (attributes) or tag values that are
//!   numbers in the query grammar's spelling; everything else fails them;
//! - tags are split at their first `:` into key and value; a tag without `:` has no value and
//!   matches only `key:*`;
//! - evaluation does not allocate (except formatting a number longer than 48 bytes).

use serde_json::Value;

use crate::ast::{Expr, Field, Term, ValueMatch};
use crate::number::{parse_number, with_json_number_text};
use crate::view::FindingView;

pub(crate) fn eval<V: FindingView + ?Sized>(expr: &Expr, finding: &V) -> bool {
    match expr {
        Expr::MatchAll => true,
        Expr::And(children) => children.iter().all(|child| eval(child, finding)),
        Expr::Or(children) => children.iter().any(|child| eval(child, finding)),
        Expr::Not(child) => !eval(child, finding),
        Expr::Term(term) => term_matches(term, finding),
        Expr::FreeText(pattern) => finding.any_free_text(&mut |text| pattern.matches(text)),
    }
}

fn term_matches<V: FindingView + ?Sized>(term: &Term, finding: &V) -> bool {
    match &term.field {
        Field::Attribute(path) => {
            finding.any_attribute_value(path, &mut |value| json_value_matches(&term.value, value))
        }
        Field::Tag(key) => finding.any_tag(&mut |tag| match tag.split_once(':') {
            Some((tag_key, tag_value)) => {
                tag_key == key && tag_value_matches(&term.value, tag_value)
            }
            None => tag == key && matches!(term.value, ValueMatch::Exists),
        }),
    }
}

fn json_value_matches(wanted: &ValueMatch, value: &Value) -> bool {
    if value.is_null() {
        return false;
    }
    match wanted {
        ValueMatch::Exists => true,
        ValueMatch::Text(pattern) => match value {
            Value::String(text) => pattern.matches(text),
            Value::Number(number) => match pattern.literal_number() {
                Some(literal) => number.as_f64() == Some(literal),
                None if pattern.has_wildcards() => {
                    with_json_number_text(number, |text| pattern.matches(text))
                }
                None => false,
            },
            Value::Bool(flag) => pattern.matches(if *flag { "true" } else { "false" }),
            _ => false,
        },
        ValueMatch::Compare(op, bound) => value.as_f64().is_some_and(|n| op.holds(n, *bound)),
        ValueMatch::Range(range) => value.as_f64().is_some_and(|n| range.contains(n)),
    }
}

fn tag_value_matches(wanted: &ValueMatch, value: &str) -> bool {
    match wanted {
        ValueMatch::Exists => true,
        ValueMatch::Text(pattern) => pattern.matches(value),
        ValueMatch::Compare(op, bound) => parse_number(value).is_some_and(|n| op.holds(n, *bound)),
        ValueMatch::Range(range) => parse_number(value).is_some_and(|n| range.contains(n)),
    }
}
