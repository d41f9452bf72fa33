//! Parse errors.
//!
//! Why: queries come from API clients and rule authors, so a refusal must say *where* (a byte
//! offset into the query text) and *why*, in words a person can act on.
//! Invariants: every error carries the byte position of the offending construct (the opening
//! parenthesis for an unclosed group, the ':' for a missing value, the operator for a dangling
//! `OR`, …); positions are always `<= query.len()` and on a char boundary.

use thiserror::Error;

/// A query that could not be parsed: the cause and the byte offset where it was detected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} at {position}")]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Byte offset into the query text.
    pub position: usize,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, position: usize) -> Self {
        Self { kind, position }
    }
}

/// The cause of a [`ParseError`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseErrorKind {
    /// A `(` whose group is never closed (position: the `(`).
    #[error("unbalanced parenthesis: '(' is never closed")]
    UnclosedParenthesis,
    /// A `)` with no group open (position: the `)`).
    #[error("unbalanced parenthesis: ')' has no matching '('")]
    UnmatchedParenthesis,
    /// `()` with nothing inside.
    #[error("empty parentheses")]
    EmptyGroup,
    /// `key:` followed by nothing, whitespace or `)` (position: the `:`).
    #[error("expected a value after ':'")]
    MissingValue,
    /// `:value` with no field name before the colon.
    #[error("expected a field name before ':'")]
    MissingFieldName,
    /// An operator (`AND`, `OR`, `NOT`, `-`) with no term after it (position: the operator).
    #[error("expected a term after {0}")]
    MissingOperand(&'static str),
    /// `AND` / `OR` where a term should start (e.g. at the very beginning of the query).
    #[error("unexpected {0}: it must stand between two terms")]
    MisplacedOperator(&'static str),
    /// `key:OR` and the like: an operator where a value is expected.
    #[error(
        "expected a value after ':', found the operator {0} (quote it to search for the word)"
    )]
    OperatorAsValue(&'static str),
    /// A `"` that is never closed (position: the opening quote).
    #[error("unterminated quoted value")]
    UnterminatedQuote,
    /// A `\` at the very end of the query.
    #[error("dangling escape '\\' at end of query")]
    DanglingEscape,
    /// A reserved character used literally without escaping.
    #[error("unescaped '{0}' (escape it with '\\' or quote the value)")]
    UnescapedSpecial(char),
    /// An operator from another query language (`&&`, `||`, `!`).
    #[error("'{0}' is not an operator in this language; use {1}")]
    ForeignOperator(&'static str, &'static str),
    /// A typographic quote, usually pasted from a document.
    #[error("typographic quote '{0}'; use a straight double quote '\"'")]
    TypographicQuote(char),
    /// `@` with no attribute name after it.
    #[error("attribute name after '@' is empty")]
    EmptyAttributeName,
    /// `@a..b`, `@a.:x`, `@.a:x`.
    #[error("empty segment in attribute path")]
    EmptyPathSegment,
    /// `*` or `?` inside a field name.
    #[error("wildcards are not allowed in field names")]
    WildcardInFieldName,
    /// `"team":x`.
    #[error("field names cannot be quoted")]
    QuotedFieldName,
    /// `@title` with no `:value`.
    #[error("attribute '@{0}' needs ':' and a value")]
    AttributeWithoutValue(String),
    /// `>`/`>=`/`<`/`<=` or a range bound not followed by a number (position: where the
    /// number should start).
    #[error("expected a number after '{0}'")]
    ExpectedNumber(&'static str),
    /// A range that is not `[low TO high]` (position: where the shape broke).
    #[error("malformed range: expected '[low TO high]'")]
    MalformedRange,
    /// A `[` range that is never closed (position: the `[`).
    #[error("unterminated range")]
    UnterminatedRange,
    /// `[10 TO 1]` (position: the `[`).
    #[error("range lower bound is greater than its upper bound")]
    InvertedRange,
    /// Something glued to the end of a term, e.g. `"a"b` or `foo(bar)`.
    #[error("unexpected '{0}' right after a term (separate terms with a space)")]
    UnexpectedAfterTerm(char),
    /// Parentheses or negations nested deeper than [`crate::MAX_NESTING`].
    #[error("query nests deeper than {0} levels")]
    TooDeep(usize),
}
