//! Static facts about a query: which fields it reads, and which equality constraints every
//! match must satisfy.
//!
//! Why: rule validation must refuse `@workflow.*` and `@status` in automation rule queries
//! (they describe state the rules themselves change), and the host wants to turn the selective
//! part of a filter (`@finding_type`, `@severity`, `@status`) into an indexed SQL pre-filter
//! before running the full matcher on the remaining rows.
//! Invariants:
//! - [`field_paths`] lists every field the query reads, including under negations;
//! - [`equality_constraints`] is *sound*: if a finding matches the query, then for every
//!   constraint returned the finding has, at that field, some value whose text equals one of the
//!   constraint's values (a string equal to it, or for numbers and booleans the value the
//!   literal denotes). It may return fewer constraints than exist, never wrong ones.

use crate::ast::{AttributePath, Expr, Field, ValueMatch};

/// "Every match has a value at `field` equal to one of `values`."
///
/// For a scalar string attribute this is exactly `field IN (values)`; for an array attribute it
/// means "contains one of". Literals also match JSON numbers and booleans by meaning (`4` matches
/// `4.0`), so use a constraint as a SQL pre-filter only on string-valued columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EqualityConstraint<'q> {
    /// The field constrained.
    pub field: &'q Field,
    /// The allowed values (deduplicated, in query order).
    pub values: Vec<&'q str>,
}

impl EqualityConstraint<'_> {
    /// The attribute path, when the field is an attribute (not a tag).
    pub fn attribute(&self) -> Option<&AttributePath> {
        match self.field {
            Field::Attribute(path) => Some(path),
            Field::Tag(_) => None,
        }
    }
}

/// Every field the query reads, deduplicated, in order of first appearance.
pub(crate) fn field_paths(expr: &Expr) -> Vec<&Field> {
    let mut out = Vec::new();
    collect_fields(expr, &mut out);
    out
}

fn collect_fields<'q>(expr: &'q Expr, out: &mut Vec<&'q Field>) {
    match expr {
        Expr::MatchAll | Expr::FreeText(_) => {}
        Expr::Not(child) => collect_fields(child, out),
        Expr::And(children) | Expr::Or(children) => {
            for child in children {
                collect_fields(child, out);
            }
        }
        Expr::Term(term) => {
            if !out.contains(&&term.field) {
                out.push(&term.field);
            }
        }
    }
}

/// Equality constraints implied by the whole query (see the module invariants).
pub(crate) fn equality_constraints(expr: &Expr) -> Vec<EqualityConstraint<'_>> {
    match expr {
        Expr::Term(term) => match &term.value {
            ValueMatch::Text(pattern) => match pattern.as_literal() {
                Some(literal) => vec![EqualityConstraint {
                    field: &term.field,
                    values: vec![literal],
                }],
                None => Vec::new(),
            },
            _ => Vec::new(),
        },
        // Each child's constraints hold for every match of the conjunction.
        Expr::And(children) => {
            let mut out: Vec<EqualityConstraint<'_>> = Vec::new();
            for constraint in children.iter().flat_map(equality_constraints) {
                if !out.contains(&constraint) {
                    out.push(constraint);
                }
            }
            out
        }
        // A field constrained in every branch is constrained to the union of the branches' sets.
        Expr::Or(children) => {
            let per_child: Vec<Vec<EqualityConstraint<'_>>> =
                children.iter().map(equality_constraints).collect();
            let Some((first, rest)) = per_child.split_first() else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for candidate in first {
                if out
                    .iter()
                    .any(|c: &EqualityConstraint<'_>| c.field == candidate.field)
                {
                    continue;
                }
                let mut values = candidate.values.clone();
                let in_every_branch = rest.iter().all(|branch| {
                    match branch.iter().find(|c| c.field == candidate.field) {
                        Some(other) => {
                            for value in &other.values {
                                if !values.contains(value) {
                                    values.push(value);
                                }
                            }
                            true
                        }
                        None => false,
                    }
                });
                if in_every_branch {
                    out.push(EqualityConstraint {
                        field: candidate.field,
                        values,
                    });
                }
            }
            out
        }
        Expr::MatchAll | Expr::Not(_) | Expr::FreeText(_) => Vec::new(),
    }
}
