//! Recursive-descent parser from query text to [`Expr`].
//!
//! Why: the syntax is context-sensitive (a `-` negates at the start of a term but is a plain
//! character inside `hosted-scan`; `>` starts a comparison only right after `:`), so the parser
//! reads characters directly instead of a separate token stream.
//!
//! Grammar (whitespace separates terms; keywords are uppercase and end at whitespace or a
//! parenthesis):
//! ```text
//! query    := ws* [or] ws*                     (empty query = MatchAll)
//! or       := and (ws+ "OR" ws+ and)*
//! and      := unary ((ws+ "AND")? ws+ unary)*  (juxtaposition is AND)
//! unary    := "-" unary | "NOT" ws* unary | primary
//! primary  := "(" or ")" | term
//! term     := "@" path ":" value | key ":" value | word      (bare word = free text)
//! value    := "(" value-or ")" | leaf          (value-or: the same or/and/unary shape over leaves)
//! leaf     := (">" | ">=" | "<" | "<=") number | range | word
//! range    := ("[" | "{") bound ws+ "TO" ws+ bound ("]" | "}")     bound := number | "*"
//! word     := '"' quoted '"' | (char | "\" any | "*" | "?")+
//! ```
//! Invariants: the parser never panics and never recurses deeper than [`MAX_NESTING`]; it
//! produces trees satisfying the invariants documented in [`crate::ast`]; every refusal names a
//! byte position on a char boundary.

use crate::ast::{AttributePath, Bound, CompareOp, Expr, Field, NumericRange, Term, ValueMatch};
use crate::error::{ParseError, ParseErrorKind as Kind};
use crate::number::parse_number;
use crate::pattern::{FreeTextPattern, Pattern, Segment};

/// Maximum nesting of parentheses, value groups and negations.
pub const MAX_NESTING: usize = 64;

/// Characters that §7 of the findings schema reserves and that have no meaning of their own
/// here: they must be escaped (or the value quoted) to be used literally.
pub(crate) const RESERVED: &[char] = &[
    '+', '=', '&', '|', '>', '<', '!', '{', '}', '[', ']', '^', '~', '#',
];

/// Characters with a syntactic role inside words.
pub(crate) const SYNTAX: &[char] = &['(', ')', '"', ':', '\\', '*', '?', '\u{201c}', '\u{201d}'];

pub(crate) const KEYWORDS: &[&str] = &["AND", "OR", "NOT"];

pub(crate) fn parse(source: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser {
        src: source,
        pos: 0,
    };
    parser.skip_ws();
    if parser.at_end() {
        return Ok(Expr::MatchAll);
    }
    let expr = parser.parse_or(0, Scope::Terms)?;
    parser.skip_ws();
    match parser.peek() {
        None => Ok(expr),
        Some(')') => Err(parser.error(Kind::UnmatchedParenthesis)),
        // parse_or only stops at the end or at ')'; anything else would be a parser bug,
        // reported rather than panicked on.
        Some(c) => Err(parser.error(Kind::UnexpectedAfterTerm(c))),
    }
}

/// What the leaves of the expression being parsed are.
#[derive(Clone, Copy)]
enum Scope<'f> {
    /// Top level: leaves are terms.
    Terms,
    /// Inside `field:( … )`: leaves are values applied to `field`.
    Values(&'f Field),
}

/// Where a word is being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WordContext {
    /// At the start of a term: an unescaped `:` ends the word (it was a tag key).
    Term,
    /// After `:`: an unescaped `:` is an error.
    Value,
}

struct Word {
    segments: Vec<Segment>,
    quoted: bool,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn error(&self, kind: Kind) -> ParseError {
        ParseError::new(kind, self.pos)
    }

    /// True at the end of input or before `)`: nothing more can be read in this group.
    fn at_group_end(&self) -> bool {
        matches!(self.peek(), None | Some(')'))
    }

    /// The keyword at the cursor, if one stands there as a whole word.
    fn keyword_here(&self) -> Option<&'static str> {
        let rest = self.rest();
        KEYWORDS.iter().copied().find(|kw| {
            rest.starts_with(kw)
                && rest[kw.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| c.is_whitespace() || c == '(' || c == ')')
        })
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.keyword_here() == Some(keyword) {
            self.pos += keyword.len();
            true
        } else {
            false
        }
    }

    fn parse_or(&mut self, depth: usize, scope: Scope<'_>) -> Result<Expr, ParseError> {
        let mut items = vec![self.parse_and(depth, scope)?];
        loop {
            self.skip_ws();
            let operator_at = self.pos;
            if !self.eat_keyword("OR") {
                break;
            }
            self.skip_ws();
            if self.at_group_end() {
                return Err(ParseError::new(Kind::MissingOperand("OR"), operator_at));
            }
            items.push(self.parse_and(depth, scope)?);
        }
        Ok(flatten(items, false))
    }

    fn parse_and(&mut self, depth: usize, scope: Scope<'_>) -> Result<Expr, ParseError> {
        let mut items = vec![self.parse_unary(depth, scope)?];
        loop {
            self.skip_ws();
            if self.at_group_end() || self.keyword_here() == Some("OR") {
                break;
            }
            let operator_at = self.pos;
            if self.eat_keyword("AND") {
                self.skip_ws();
                if self.at_group_end() {
                    return Err(ParseError::new(Kind::MissingOperand("AND"), operator_at));
                }
            }
            items.push(self.parse_unary(depth, scope)?);
        }
        Ok(flatten(items, true))
    }

    fn parse_unary(&mut self, depth: usize, scope: Scope<'_>) -> Result<Expr, ParseError> {
        if depth >= MAX_NESTING {
            return Err(self.error(Kind::TooDeep(MAX_NESTING)));
        }
        let operator_at = self.pos;
        if self.peek() == Some('-') {
            self.bump();
            if self.peek().is_none_or(|c| c.is_whitespace() || c == ')') {
                return Err(ParseError::new(Kind::MissingOperand("'-'"), operator_at));
            }
            let inner = self.parse_unary(depth + 1, scope)?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.eat_keyword("NOT") {
            self.skip_ws();
            if self.at_group_end() {
                return Err(ParseError::new(Kind::MissingOperand("NOT"), operator_at));
            }
            let inner = self.parse_unary(depth + 1, scope)?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        match self.keyword_here() {
            Some("AND") => return Err(self.error(Kind::MisplacedOperator("AND"))),
            Some("OR") => return Err(self.error(Kind::MisplacedOperator("OR"))),
            _ => {}
        }
        self.parse_primary(depth, scope)
    }

    fn parse_primary(&mut self, depth: usize, scope: Scope<'_>) -> Result<Expr, ParseError> {
        match self.peek() {
            Some('(') => self.parse_group(depth, scope),
            Some(')') => Err(self.error(Kind::UnmatchedParenthesis)),
            _ => {
                let expr = match scope {
                    Scope::Terms => self.parse_term(depth)?,
                    Scope::Values(field) => Expr::Term(Term {
                        field: field.clone(),
                        value: self.parse_leaf()?,
                    }),
                };
                self.expect_term_boundary()?;
                Ok(expr)
            }
        }
    }

    /// `( … )` at the cursor, in the given scope.
    fn parse_group(&mut self, depth: usize, scope: Scope<'_>) -> Result<Expr, ParseError> {
        let open_at = self.pos;
        if depth + 1 >= MAX_NESTING {
            return Err(self.error(Kind::TooDeep(MAX_NESTING)));
        }
        self.bump();
        self.skip_ws();
        match self.peek() {
            Some(')') => return Err(ParseError::new(Kind::EmptyGroup, open_at)),
            None => return Err(ParseError::new(Kind::UnclosedParenthesis, open_at)),
            _ => {}
        }
        let inner = self.parse_or(depth + 1, scope)?;
        self.skip_ws();
        if self.peek() == Some(')') {
            self.bump();
            Ok(inner)
        } else {
            Err(ParseError::new(Kind::UnclosedParenthesis, open_at))
        }
    }

    fn expect_term_boundary(&self) -> Result<(), ParseError> {
        match self.peek() {
            None | Some(')') => Ok(()),
            Some(c) if c.is_whitespace() => Ok(()),
            Some(c) => Err(self.error(Kind::UnexpectedAfterTerm(c))),
        }
    }

    fn parse_term(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let start = self.pos;
        if self.peek() == Some('@') {
            self.bump();
            let path = self.parse_attribute_path(start)?;
            if self.peek() != Some(':') {
                return Err(ParseError::new(
                    Kind::AttributeWithoutValue(path.to_string()),
                    start,
                ));
            }
            return self.parse_field_value(Field::Attribute(path), depth);
        }
        let word = self.scan_word(WordContext::Term)?;
        if self.peek() == Some(':') {
            if word.quoted {
                return Err(ParseError::new(Kind::QuotedFieldName, start));
            }
            let key = match word.segments.as_slice() {
                [] => return Err(self.error(Kind::MissingFieldName)),
                [Segment::Literal(key)] => key.clone(),
                _ => return Err(ParseError::new(Kind::WildcardInFieldName, start)),
            };
            return self.parse_field_value(Field::Tag(key), depth);
        }
        let pattern = Pattern::from_segments(word.segments);
        if !word.quoted && pattern.is_any_run() {
            return Ok(Expr::MatchAll);
        }
        Ok(Expr::FreeText(FreeTextPattern::new(pattern)))
    }

    /// Reads `a.b.c` after `@`, stopping before `:` or a term boundary.
    fn parse_attribute_path(&mut self, at_sign: usize) -> Result<AttributePath, ParseError> {
        let mut segments = Vec::new();
        let mut current = String::new();
        loop {
            match self.peek() {
                None | Some(':' | '(' | ')') => break,
                Some(c) if c.is_whitespace() => break,
                Some('.') => {
                    if current.is_empty() {
                        return Err(self.error(Kind::EmptyPathSegment));
                    }
                    segments.push(std::mem::take(&mut current));
                    self.bump();
                }
                Some('\\') => current.push(self.scan_escape()?),
                Some('*' | '?') => return Err(self.error(Kind::WildcardInFieldName)),
                Some('"') => return Err(self.error(Kind::QuotedFieldName)),
                Some(c) => {
                    self.refuse_reserved(c, !current.is_empty() || !segments.is_empty())?;
                    current.push(c);
                    self.bump();
                }
            }
        }
        if current.is_empty() {
            return Err(if segments.is_empty() {
                ParseError::new(Kind::EmptyAttributeName, at_sign)
            } else {
                self.error(Kind::EmptyPathSegment)
            });
        }
        segments.push(current);
        AttributePath::new(segments).ok_or_else(|| ParseError::new(Kind::EmptyPathSegment, at_sign))
    }

    /// The value after `field:` (the cursor is on the `:`).
    fn parse_field_value(&mut self, field: Field, depth: usize) -> Result<Expr, ParseError> {
        let colon_at = self.pos;
        self.bump();
        match self.peek() {
            None | Some(')') => return Err(ParseError::new(Kind::MissingValue, colon_at)),
            Some(c) if c.is_whitespace() => {
                return Err(ParseError::new(Kind::MissingValue, colon_at))
            }
            Some('(') => return self.parse_group(depth, Scope::Values(&field)),
            _ => {}
        }
        if let Some(keyword) = self.keyword_here() {
            return Err(self.error(Kind::OperatorAsValue(keyword)));
        }
        let value = self.parse_leaf()?;
        Ok(Expr::Term(Term { field, value }))
    }

    /// A single value: comparison, range or word.
    fn parse_leaf(&mut self) -> Result<ValueMatch, ParseError> {
        match self.peek() {
            Some('>' | '<') => self.parse_comparison(),
            Some('[' | '{') => self.parse_range(),
            _ => {
                let word = self.scan_word(WordContext::Value)?;
                let pattern = Pattern::from_segments(word.segments);
                if !word.quoted && pattern.is_any_run() {
                    Ok(ValueMatch::Exists)
                } else {
                    Ok(ValueMatch::Text(pattern))
                }
            }
        }
    }

    fn parse_comparison(&mut self) -> Result<ValueMatch, ParseError> {
        let op = match (self.bump(), self.peek()) {
            (Some('>'), Some('=')) => CompareOp::GreaterOrEqual,
            (Some('>'), _) => CompareOp::Greater,
            (Some('<'), Some('=')) => CompareOp::LessOrEqual,
            _ => CompareOp::Less,
        };
        if matches!(op, CompareOp::GreaterOrEqual | CompareOp::LessOrEqual) {
            self.bump();
        }
        let number_at = self.pos;
        let text = self.scan_until(|c| c.is_whitespace() || c == '(' || c == ')');
        match parse_number(text) {
            Some(n) => Ok(ValueMatch::Compare(op, n)),
            None => Err(ParseError::new(
                Kind::ExpectedNumber(op.symbol()),
                number_at,
            )),
        }
    }

    fn parse_range(&mut self) -> Result<ValueMatch, ParseError> {
        let open_at = self.pos;
        let lower_inclusive = self.bump() == Some('[');
        self.skip_ws();
        let lower = self.parse_bound("[", open_at)?;
        if !self.peek().is_some_and(char::is_whitespace) {
            return Err(self.range_shape_error(open_at));
        }
        self.skip_ws();
        if !self.rest().starts_with("TO") {
            return Err(self.range_shape_error(open_at));
        }
        self.pos += 2;
        if !self.peek().is_some_and(char::is_whitespace) {
            return Err(self.range_shape_error(open_at));
        }
        self.skip_ws();
        let upper = self.parse_bound("TO", open_at)?;
        self.skip_ws();
        let upper_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            _ => return Err(self.range_shape_error(open_at)),
        };
        self.bump();
        if let (Some(low), Some(high)) = (lower, upper) {
            if low > high {
                return Err(ParseError::new(Kind::InvertedRange, open_at));
            }
        }
        let side = |value: Option<f64>, inclusive: bool| match value {
            None => Bound::Unbounded,
            Some(n) if inclusive => Bound::Inclusive(n),
            Some(n) => Bound::Exclusive(n),
        };
        Ok(ValueMatch::Range(NumericRange {
            lower: side(lower, lower_inclusive),
            upper: side(upper, upper_inclusive),
        }))
    }

    fn range_shape_error(&self, open_at: usize) -> ParseError {
        if self.at_end() {
            ParseError::new(Kind::UnterminatedRange, open_at)
        } else {
            self.error(Kind::MalformedRange)
        }
    }

    /// A range bound: `Some(number)`, or `None` for `*`.
    fn parse_bound(
        &mut self,
        after: &'static str,
        open_at: usize,
    ) -> Result<Option<f64>, ParseError> {
        let bound_at = self.pos;
        let text = self.scan_until(|c| c.is_whitespace() || matches!(c, ']' | '}' | ')'));
        if text.is_empty() && self.at_end() {
            return Err(ParseError::new(Kind::UnterminatedRange, open_at));
        }
        if text == "*" {
            return Ok(None);
        }
        parse_number(text)
            .map(Some)
            .ok_or_else(|| ParseError::new(Kind::ExpectedNumber(after), bound_at))
    }

    fn scan_until(&mut self, stop: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|c| !stop(c)) {
            self.bump();
        }
        &self.src[start..self.pos]
    }

    /// Reads `\x` at the cursor and returns `x`.
    fn scan_escape(&mut self) -> Result<char, ParseError> {
        let backslash_at = self.pos;
        self.bump();
        self.bump()
            .ok_or_else(|| ParseError::new(Kind::DanglingEscape, backslash_at))
    }

    fn refuse_reserved(&self, c: char, inside_word: bool) -> Result<(), ParseError> {
        match c {
            '&' if self.peek_second() == Some('&') => {
                Err(self.error(Kind::ForeignOperator("&&", "AND")))
            }
            '|' if self.peek_second() == Some('|') => {
                Err(self.error(Kind::ForeignOperator("||", "OR")))
            }
            '!' if !inside_word => Err(self.error(Kind::ForeignOperator("!", "'-' or NOT"))),
            '\u{201c}' | '\u{201d}' => Err(self.error(Kind::TypographicQuote(c))),
            c if RESERVED.contains(&c) => Err(self.error(Kind::UnescapedSpecial(c))),
            _ => Ok(()),
        }
    }

    /// Reads one word (quoted phrase or unquoted run with escapes and wildcards).
    fn scan_word(&mut self, context: WordContext) -> Result<Word, ParseError> {
        if self.peek() == Some('"') {
            return self.scan_quoted(context);
        }
        let mut segments = Vec::new();
        let mut literal = String::new();
        loop {
            match self.peek() {
                None | Some('(' | ')') => break,
                Some(c) if c.is_whitespace() => break,
                Some(':') if context == WordContext::Term => break,
                Some(':') => return Err(self.error(Kind::UnescapedSpecial(':'))),
                Some('\\') => literal.push(self.scan_escape()?),
                Some(c @ ('*' | '?')) => {
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(if c == '*' {
                        Segment::AnyRun
                    } else {
                        Segment::AnyChar
                    });
                    self.bump();
                }
                Some('"') => return Err(self.error(Kind::UnescapedSpecial('"'))),
                Some(c) => {
                    self.refuse_reserved(c, !literal.is_empty() || !segments.is_empty())?;
                    literal.push(c);
                    self.bump();
                }
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Word {
            segments,
            quoted: false,
        })
    }

    /// Reads `"…"`: every character is literal except `\"` and `\\`-style escapes.
    fn scan_quoted(&mut self, context: WordContext) -> Result<Word, ParseError> {
        let open_at = self.pos;
        self.bump();
        let mut literal = String::new();
        loop {
            match self.peek() {
                None => return Err(ParseError::new(Kind::UnterminatedQuote, open_at)),
                Some('"') => {
                    self.bump();
                    break;
                }
                Some('\\') => {
                    self.bump();
                    match self.bump() {
                        Some(c) => literal.push(c),
                        None => return Err(ParseError::new(Kind::UnterminatedQuote, open_at)),
                    }
                }
                Some(c) => {
                    literal.push(c);
                    self.bump();
                }
            }
        }
        match self.peek() {
            None | Some(')') => {}
            Some(':') if context == WordContext::Term => {}
            Some(c) if c.is_whitespace() => {}
            Some(c) => return Err(self.error(Kind::UnexpectedAfterTerm(c))),
        }
        Ok(Word {
            segments: vec![Segment::Literal(literal)],
            quoted: true,
        })
    }
}

/// Builds an n-ary node, splicing in children of the same kind and unwrapping singletons.
fn flatten(items: Vec<Expr>, conjunction: bool) -> Expr {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::And(children) if conjunction => out.extend(children),
            Expr::Or(children) if !conjunction => out.extend(children),
            other => out.push(other),
        }
    }
    if out.len() == 1 {
        if let Some(only) = out.pop() {
            return only;
        }
    }
    if conjunction {
        Expr::And(out)
    } else {
        Expr::Or(out)
    }
}
