//! Canonical query text.
//!
//! Why: stored rules, API echoes and log lines should show one spelling per query, and that
//! spelling must mean the same thing when read back.
//! Invariants: for every tree the parser produces, `parse(to_string(tree)) == tree`. The
//! canonical form uses juxtaposition for AND, ` OR `, `-` for negation (never `NOT`), minimal
//! parentheses, `field:(a OR b)` for an OR of plain terms on one field, quotes for wildcard-free
//! values containing whitespace (or empty, or spelled like an operator), and `\` escapes
//! otherwise.

use std::fmt::{self, Write as _};

use crate::ast::{AttributePath, Bound, Expr, Field, NumericRange, ValueMatch};
use crate::number::format_number;
use crate::parser::{KEYWORDS, RESERVED, SYNTAX};
use crate::pattern::{Pattern, Segment};

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, self, Context::Top)
    }
}

/// Where an expression is being written, which decides whether it needs parentheses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Top,
    InOr,
    InAnd,
    InNot,
}

/// What kind of word is written, which decides which leading characters need escaping.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WordKind {
    /// A bare search term: a leading `@` would make it an attribute.
    FreeText,
    /// A value after `:`.
    Value,
    /// A tag key: a leading `@` would make it an attribute.
    TagKey,
    /// One segment of an attribute path: `.` separates segments.
    PathSegment,
}

fn write_expr(f: &mut fmt::Formatter<'_>, expr: &Expr, context: Context) -> fmt::Result {
    match expr {
        Expr::MatchAll => f.write_char('*'),
        Expr::FreeText(text) => write_pattern(f, text.pattern(), WordKind::FreeText),
        Expr::Term(term) => {
            write_field(f, &term.field)?;
            f.write_char(':')?;
            write_value(f, &term.value)
        }
        Expr::Not(inner) => {
            f.write_char('-')?;
            write_expr(f, inner, Context::InNot)
        }
        Expr::And(children) => match children.as_slice() {
            [] => f.write_char('*'),
            [only] => write_expr(f, only, context),
            _ => {
                let parenthesise = matches!(context, Context::InAnd | Context::InNot);
                write_joined(f, children, " ", Context::InAnd, parenthesise)
            }
        },
        Expr::Or(children) => match children.as_slice() {
            [] => f.write_str("-*"),
            [only] => write_expr(f, only, context),
            _ => {
                if let Some(field) = shared_field(children) {
                    return write_value_group(f, field, children);
                }
                let parenthesise = context != Context::Top;
                write_joined(f, children, " OR ", Context::InOr, parenthesise)
            }
        },
    }
}

fn write_joined(
    f: &mut fmt::Formatter<'_>,
    children: &[Expr],
    separator: &str,
    context: Context,
    parenthesise: bool,
) -> fmt::Result {
    if parenthesise {
        f.write_char('(')?;
    }
    for (i, child) in children.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write_expr(f, child, context)?;
    }
    if parenthesise {
        f.write_char(')')?;
    }
    Ok(())
}

/// The field every child is a plain term on, if they all share one.
fn shared_field(children: &[Expr]) -> Option<&Field> {
    let mut shared = None;
    for child in children {
        match child {
            Expr::Term(term) if shared.is_none_or(|field| field == &term.field) => {
                shared = Some(&term.field);
            }
            _ => return None,
        }
    }
    shared
}

fn write_value_group(f: &mut fmt::Formatter<'_>, field: &Field, children: &[Expr]) -> fmt::Result {
    write_field(f, field)?;
    f.write_str(":(")?;
    for (i, child) in children.iter().enumerate() {
        if i > 0 {
            f.write_str(" OR ")?;
        }
        if let Expr::Term(term) = child {
            write_value(f, &term.value)?;
        }
    }
    f.write_char(')')
}

fn write_field(f: &mut fmt::Formatter<'_>, field: &Field) -> fmt::Result {
    match field {
        Field::Tag(key) => write_escaped(f, key, WordKind::TagKey),
        Field::Attribute(path) => write_path(f, path),
    }
}

fn write_path(f: &mut fmt::Formatter<'_>, path: &AttributePath) -> fmt::Result {
    f.write_char('@')?;
    for (i, segment) in path.segments().iter().enumerate() {
        if i > 0 {
            f.write_char('.')?;
        }
        write_escaped(f, segment, WordKind::PathSegment)?;
    }
    Ok(())
}

fn write_value(f: &mut fmt::Formatter<'_>, value: &ValueMatch) -> fmt::Result {
    match value {
        ValueMatch::Exists => f.write_char('*'),
        ValueMatch::Text(pattern) => write_pattern(f, pattern, WordKind::Value),
        ValueMatch::Compare(op, bound) => write!(f, "{}{}", op.symbol(), format_number(*bound)),
        ValueMatch::Range(range) => write_range(f, range),
    }
}

fn write_range(f: &mut fmt::Formatter<'_>, range: &NumericRange) -> fmt::Result {
    let side = |bound: Bound| match bound {
        Bound::Unbounded => "*".to_owned(),
        Bound::Inclusive(n) | Bound::Exclusive(n) => format_number(n),
    };
    let open = if matches!(range.lower, Bound::Exclusive(_)) {
        '{'
    } else {
        '['
    };
    let close = if matches!(range.upper, Bound::Exclusive(_)) {
        '}'
    } else {
        ']'
    };
    write!(
        f,
        "{open}{} TO {}{close}",
        side(range.lower),
        side(range.upper)
    )
}

fn write_pattern(f: &mut fmt::Formatter<'_>, pattern: &Pattern, kind: WordKind) -> fmt::Result {
    if let Some(literal) = pattern.as_literal() {
        if needs_quotes(literal) {
            return write_quoted(f, literal);
        }
    }
    for (i, segment) in pattern.segments().iter().enumerate() {
        match segment {
            Segment::Literal(text) if i == 0 => write_escaped(f, text, kind)?,
            Segment::Literal(text) => write_escaped_inner(f, text, kind)?,
            Segment::AnyRun => f.write_char('*')?,
            Segment::AnyChar => f.write_char('?')?,
        }
    }
    Ok(())
}

fn needs_quotes(literal: &str) -> bool {
    literal.is_empty() || literal.contains(char::is_whitespace) || KEYWORDS.contains(&literal)
}

fn write_quoted(f: &mut fmt::Formatter<'_>, literal: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in literal.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

/// Writes `text` as the start of a word, escaping what the parser would otherwise read as
/// syntax.
fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str, kind: WordKind) -> fmt::Result {
    let mut chars = text.chars();
    if let Some(first) = chars.next() {
        let leading_special =
            first == '-' || (first == '@' && matches!(kind, WordKind::FreeText | WordKind::TagKey));
        if leading_special || needs_escape(first, kind) {
            f.write_char('\\')?;
        }
        f.write_char(first)?;
    }
    write_escaped_inner(f, chars.as_str(), kind)
}

/// Writes `text` inside a word (not at its start).
fn write_escaped_inner(f: &mut fmt::Formatter<'_>, text: &str, kind: WordKind) -> fmt::Result {
    for c in text.chars() {
        if needs_escape(c, kind) {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    Ok(())
}

fn needs_escape(c: char, kind: WordKind) -> bool {
    c.is_whitespace()
        || SYNTAX.contains(&c)
        || RESERVED.contains(&c)
        || (c == '.' && kind == WordKind::PathSegment)
}
