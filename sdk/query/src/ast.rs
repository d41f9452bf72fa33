//! The parsed form of a query.
//!
//! Why: one tree that the evaluator, the canonical printer and the analyses (attribute paths,
//! SQL pre-filter constraints) all walk, so they cannot disagree about what a query means.
//! Invariants (for trees produced by the parser):
//! - `And` / `Or` have at least two children and never a child of their own kind (they are
//!   flattened), and a group of one element is that element;
//! - value groups (`@severity:(critical OR high)`) are desugared into `Or`/`And`/`Not` of ordinary
//!   [`Term`]s on the same field, so `@s:(a OR b)` and `(@s:a OR @s:b)` are the same tree;
//! - numbers are finite; range bounds satisfy `lower <= upper`;
//! - nesting depth never exceeds [`crate::MAX_NESTING`].

use std::fmt;

use crate::pattern::{FreeTextPattern, Pattern};

/// A boolean expression over terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `*` (and the empty query): matches every finding.
    MatchAll,
    /// All children match (explicit `AND` or juxtaposition).
    And(Vec<Expr>),
    /// At least one child matches.
    Or(Vec<Expr>),
    /// The child does not match (`-term`, `NOT term`).
    Not(Box<Expr>),
    /// `field:value`.
    Term(Term),
    /// A bare word or phrase with no field.
    FreeText(FreeTextPattern),
}

/// `field:value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// What is looked at.
    pub field: Field,
    /// What it is compared with.
    pub value: ValueMatch,
}

/// The left-hand side of a term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// `@dotted.path`: a path into the finding's attributes object.
    Attribute(AttributePath),
    /// `key`: the tags whose key (the part before the first `:`) is `key`.
    Tag(String),
}

/// A dotted path into the attributes object, without the `@`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttributePath {
    segments: Vec<String>,
}

impl AttributePath {
    /// A path from its segments; `None` if there are none or one is empty.
    pub fn new(segments: Vec<String>) -> Option<Self> {
        if segments.is_empty() || segments.iter().any(String::is_empty) {
            return None;
        }
        Some(Self { segments })
    }

    /// Splits a plain dotted path (`workflow.mute.is_muted`); `None` if a segment is empty.
    pub fn from_dotted(dotted: &str) -> Option<Self> {
        Self::new(dotted.split('.').map(str::to_owned).collect())
    }

    /// The segments, e.g. `["workflow", "mute", "is_muted"]`.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The first segment: the namespace (`workflow`, `package`) or the core attribute (`status`).
    pub fn namespace(&self) -> &str {
        self.segments
            .first()
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Whether the path equals `prefix` or lies under it (`workflow` covers `workflow.mute.is_muted`).
    pub fn is_within(&self, prefix: &[&str]) -> bool {
        self.segments.len() >= prefix.len() && self.segments.iter().zip(prefix).all(|(a, b)| a == b)
    }
}

impl fmt::Display for AttributePath {
    /// The plain dotted form, without `@` or escapes (for messages and SQL column lookup).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

/// The right-hand side of a term.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueMatch {
    /// `field:*`: the field has a non-null value.
    Exists,
    /// A literal or wildcard pattern.
    Text(Pattern),
    /// `>n`, `>=n`, `<n`, `<=n`.
    Compare(CompareOp, f64),
    /// `[low TO high]` (inclusive) / `{low TO high}` (exclusive); `*` leaves a side open.
    Range(NumericRange),
}

/// A numeric comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
}

impl CompareOp {
    /// Whether `value <op> bound`.
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            CompareOp::Greater => value > bound,
            CompareOp::GreaterOrEqual => value >= bound,
            CompareOp::Less => value < bound,
            CompareOp::LessOrEqual => value <= bound,
        }
    }

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Greater => ">",
            CompareOp::GreaterOrEqual => ">=",
            CompareOp::Less => "<",
            CompareOp::LessOrEqual => "<=",
        }
    }
}

/// One side of a range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// `*`
    Unbounded,
    /// `[` or `]` side.
    Inclusive(f64),
    /// `{` or `}` side.
    Exclusive(f64),
}

/// A numeric range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumericRange {
    /// Lower side.
    pub lower: Bound,
    /// Upper side.
    pub upper: Bound,
}

impl NumericRange {
    /// Whether `value` lies in the range.
    pub fn contains(&self, value: f64) -> bool {
        let above = match self.lower {
            Bound::Unbounded => true,
            Bound::Inclusive(low) => value >= low,
            Bound::Exclusive(low) => value > low,
        };
        let below = match self.upper {
            Bound::Unbounded => true,
            Bound::Inclusive(high) => value <= high,
            Bound::Exclusive(high) => value < high,
        };
        above && below
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_path_refuses_empty_segments() {
        assert!(AttributePath::from_dotted("a..b").is_none());
        assert!(AttributePath::from_dotted("").is_none());
        assert!(AttributePath::new(vec![]).is_none());
    }

    #[test]
    fn attribute_path_namespace_and_prefix() {
        let p = AttributePath::from_dotted("workflow.mute.is_muted").unwrap();
        assert_eq!(p.namespace(), "workflow");
        assert!(p.is_within(&["workflow"]));
        assert!(p.is_within(&["workflow", "mute"]));
        assert!(!p.is_within(&["workflow", "triage"]));
        assert!(!AttributePath::from_dotted("workflows")
            .unwrap()
            .is_within(&["workflow"]));
        assert_eq!(p.to_string(), "workflow.mute.is_muted");
    }

    #[test]
    fn ranges_respect_inclusive_exclusive_and_open_sides() {
        let closed = NumericRange {
            lower: Bound::Inclusive(400.0),
            upper: Bound::Inclusive(499.0),
        };
        assert!(closed.contains(400.0) && closed.contains(499.0) && !closed.contains(500.0));
        let open = NumericRange {
            lower: Bound::Exclusive(400.0),
            upper: Bound::Unbounded,
        };
        assert!(!open.contains(400.0) && open.contains(1e12));
    }
}
