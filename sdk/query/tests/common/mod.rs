//! Builders for expected query trees, shared by the integration tests.
#![allow(dead_code)]

use casebridge_query::{
    AttributePath, Bound, CompareOp, Expr, Field, FreeTextPattern, NumericRange, Pattern, Query,
    Segment, Term, ValueMatch,
};

pub fn parse(text: &str) -> Expr {
    match Query::parse(text) {
        Ok(query) => query.expr().clone(),
        Err(err) => panic!("{text:?} failed to parse: {err}"),
    }
}

pub fn attr_field(dotted: &str) -> Field {
    Field::Attribute(AttributePath::from_dotted(dotted).expect("valid path"))
}

pub fn term(field: Field, value: ValueMatch) -> Expr {
    Expr::Term(Term { field, value })
}

/// `@dotted:literal`
pub fn attr(dotted: &str, literal: &str) -> Expr {
    term(attr_field(dotted), text(literal))
}

/// `key:literal`
pub fn tag(key: &str, literal: &str) -> Expr {
    term(Field::Tag(key.to_owned()), text(literal))
}

pub fn text(literal: &str) -> ValueMatch {
    ValueMatch::Text(Pattern::literal(literal))
}

/// A pattern written with `*` and `?` as wildcards (no escapes).
pub fn glob(spelled: &str) -> Pattern {
    let mut segments = Vec::new();
    for c in spelled.chars() {
        segments.push(match c {
            '*' => Segment::AnyRun,
            '?' => Segment::AnyChar,
            c => Segment::Literal(c.to_string()),
        });
    }
    Pattern::from_segments(segments)
}

pub fn free(spelled: &str) -> Expr {
    Expr::FreeText(FreeTextPattern::new(glob(spelled)))
}

pub fn free_literal(literal: &str) -> Expr {
    Expr::FreeText(FreeTextPattern::new(Pattern::literal(literal)))
}

pub fn compare(op: CompareOp, n: f64) -> ValueMatch {
    ValueMatch::Compare(op, n)
}

pub fn range(lower: Bound, upper: Bound) -> ValueMatch {
    ValueMatch::Range(NumericRange { lower, upper })
}

pub fn and(children: Vec<Expr>) -> Expr {
    Expr::And(children)
}

pub fn or(children: Vec<Expr>) -> Expr {
    Expr::Or(children)
}

pub fn not(child: Expr) -> Expr {
    Expr::Not(Box::new(child))
}
