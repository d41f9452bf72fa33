//! The JQL subset a connector uses, parsed into a syntax tree and evaluated per issue.
//!
//! Supported: clauses on `project`, `key`/`issuekey`, `id`, `labels`, `status`, `statusCategory`,
//! `updated`, `created`, `assignee`, `reporter`, `issuetype`/`type`, `priority`, `summary`,
//! `description`, `text`, `resolution`, `cf[N]`/`customfield_N` and
//! `issue.property[key].path`; operators `= != > >= < <= ~ !~ IN, NOT IN, IS, IS NOT`;
//! `AND`, `OR`, `NOT`, parentheses; `EMPTY`/`NULL`; functions `currentUser()`, `now()`,
//! `startOfDay()`, `endOfDay()`; dates as `"yyyy-MM-dd HH:mm"`, `"yyyy/MM/dd HH:mm"`,
//! `"yyyy-MM-dd"`, epoch milliseconds, or relative periods (`-5d`, `"-1w 2d"`); `ORDER BY`
//! `updated|created|key|id|priority|status|summary` `ASC|DESC`.
//!
//! Invariants: anything outside this subset is a [`JqlError`] carrying Jira's message wording,
//! never a silent match-all; dates are interpreted in UTC (the double's server time zone);
//! evaluation is pure (no state beyond the [`IssueFacts`] it is given).

use std::cmp::Ordering;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;

/// A JQL problem, worded as Jira words it (returned in `errorMessages` with status 400).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct JqlError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    LParen,
    RParen,
    Comma,
    Op(String),
    Word(String),
    Quoted(String),
}

fn lex(input: &str) -> Result<Vec<(Token, usize)>, JqlError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push((Token::LParen, start));
                i += 1;
            }
            ')' => {
                tokens.push((Token::RParen, start));
                i += 1;
            }
            ',' => {
                tokens.push((Token::Comma, start));
                i += 1;
            }
            '=' => {
                tokens.push((Token::Op("=".into()), start));
                i += 1;
            }
            '~' => {
                tokens.push((Token::Op("~".into()), start));
                i += 1;
            }
            '!' | '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let op = match (c, next) {
                    ('!', Some('=')) => "!=",
                    ('!', Some('~')) => "!~",
                    ('<', Some('=')) => "<=",
                    ('>', Some('=')) => ">=",
                    ('<', _) => "<",
                    ('>', _) => ">",
                    _ => {
                        return Err(JqlError(format!(
                            "Error in the JQL Query: The character '!' is a reserved JQL character. You must enclose it in a string or use the escape '\\u0021' instead. (line 1, character {start})"
                        )))
                    }
                };
                tokens.push((Token::Op(op.into()), start));
                i += op.len();
            }
            '"' | '\'' => {
                let quote = c;
                let mut text = String::new();
                i += 1;
                let mut closed = false;
                while i < chars.len() {
                    let ch = chars[i];
                    if ch == '\\' {
                        if let Some(next) = chars.get(i + 1) {
                            text.push(match next {
                                'n' => '\n',
                                't' => '\t',
                                other => *other,
                            });
                            i += 2;
                            continue;
                        }
                    }
                    if ch == quote {
                        closed = true;
                        i += 1;
                        break;
                    }
                    text.push(ch);
                    i += 1;
                }
                if !closed {
                    return Err(JqlError(format!(
                        "Error in the JQL Query: The quoted string '{text}' has not been completed. (line 1, character {start})"
                    )));
                }
                tokens.push((Token::Quoted(text), start));
            }
            _ => {
                let mut word = String::new();
                while i < chars.len() {
                    let ch = chars[i];
                    if ch.is_whitespace() || "()=,!<>~\"'".contains(ch) {
                        break;
                    }
                    word.push(ch);
                    i += 1;
                }
                for reserved in ['{', '}', '%', '^', '&', '|', '+', '?', ';'] {
                    if word.contains(reserved) && !word.starts_with("issue.property[") {
                        return Err(JqlError(format!(
                            "Error in the JQL Query: The character '{reserved}' is a reserved JQL character. You must enclose it in a string or use the escape '\\u{:04x}' instead. (line 1, character {start})",
                            reserved as u32
                        )));
                    }
                }
                tokens.push((Token::Word(word), start));
            }
        }
    }
    Ok(tokens)
}

/// A field a clause can name.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Project,
    Key,
    Id,
    Labels,
    Status,
    StatusCategory,
    Updated,
    Created,
    Assignee,
    Reporter,
    IssueType,
    Priority,
    Summary,
    Description,
    Text,
    Resolution,
    Custom(String),
    Property { key: String, path: Vec<String> },
}

impl Field {
    fn name(&self) -> String {
        match self {
            Field::Project => "project".into(),
            Field::Key => "key".into(),
            Field::Id => "id".into(),
            Field::Labels => "labels".into(),
            Field::Status => "status".into(),
            Field::StatusCategory => "statusCategory".into(),
            Field::Updated => "updated".into(),
            Field::Created => "created".into(),
            Field::Assignee => "assignee".into(),
            Field::Reporter => "reporter".into(),
            Field::IssueType => "issuetype".into(),
            Field::Priority => "priority".into(),
            Field::Summary => "summary".into(),
            Field::Description => "description".into(),
            Field::Text => "text".into(),
            Field::Resolution => "resolution".into(),
            Field::Custom(id) => id.clone(),
            Field::Property { key, path } => format!("issue.property[{key}].{}", path.join(".")),
        }
    }

    fn parse(word: &str) -> Result<Field, JqlError> {
        let lower = word.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("issue.property[") {
            let original = &word["issue.property[".len()..];
            let close = rest.find(']').ok_or_else(|| {
                JqlError(format!(
                    "Error in the JQL Query: Field '{word}' is not valid. (line 1, character 1)"
                ))
            })?;
            let key = original[..close].to_string();
            let after = &original[close + 1..];
            let path: Vec<String> = after
                .strip_prefix('.')
                .unwrap_or(after)
                .split('.')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            if key.is_empty() || path.is_empty() {
                return Err(JqlError(format!(
                    "Field '{word}' does not exist or you do not have permission to view it."
                )));
            }
            return Ok(Field::Property { key, path });
        }
        if let Some(number) = lower.strip_prefix("cf[").and_then(|r| r.strip_suffix(']')) {
            if number.chars().all(|c| c.is_ascii_digit()) && !number.is_empty() {
                return Ok(Field::Custom(format!("customfield_{number}")));
            }
        }
        if let Some(number) = lower.strip_prefix("customfield_") {
            if number.chars().all(|c| c.is_ascii_digit()) && !number.is_empty() {
                return Ok(Field::Custom(lower.clone()));
            }
        }
        Ok(match lower.as_str() {
            "project" => Field::Project,
            "key" | "issuekey" | "issue" => Field::Key,
            "id" => Field::Id,
            "labels" | "label" => Field::Labels,
            "status" => Field::Status,
            "statuscategory" => Field::StatusCategory,
            "updated" | "updateddate" => Field::Updated,
            "created" | "createddate" => Field::Created,
            "assignee" => Field::Assignee,
            "reporter" => Field::Reporter,
            "issuetype" | "type" => Field::IssueType,
            "priority" => Field::Priority,
            "summary" => Field::Summary,
            "description" => Field::Description,
            "text" => Field::Text,
            "resolution" => Field::Resolution,
            _ => {
                return Err(JqlError(format!(
                    "Field '{word}' does not exist or you do not have permission to view it."
                )))
            }
        })
    }

    fn is_date(&self) -> bool {
        matches!(self, Field::Updated | Field::Created)
    }

    fn is_text(&self) -> bool {
        matches!(self, Field::Summary | Field::Description | Field::Text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    NotEq,
    Gt,
    Ge,
    Lt,
    Le,
    In,
    NotIn,
    Is,
    IsNot,
    Contains,
    NotContains,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::NotEq => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Is => "is",
            Op::IsNot => "is not",
            Op::Contains => "~",
            Op::NotContains => "!~",
        }
    }
}

/// A literal operand value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Function(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    One(Literal),
    List(Vec<Literal>),
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub field: Field,
    pub op: Op,
    pub operand: Operand,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Clause(Clause),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SortField {
    Updated,
    Created,
    Key,
    Id,
    Priority,
    Status,
    Summary,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub field: SortField,
    pub descending: bool,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filter: Option<Expr>,
    pub order_by: Vec<OrderBy>,
}

impl Query {
    /// Cloud's `search/jql` refuses queries without any search restriction.
    pub fn is_bounded(&self) -> bool {
        self.filter.is_some()
    }

    /// Every clause in the query (for semantic checks such as unknown project values).
    pub fn clauses(&self) -> Vec<&Clause> {
        fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a Clause>) {
            match e {
                Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| walk(i, out)),
                Expr::Not(inner) => walk(inner, out),
                Expr::Clause(c) => out.push(c),
            }
        }
        let mut out = Vec::new();
        if let Some(f) = &self.filter {
            walk(f, &mut out);
        }
        out
    }
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    pos: usize,
    text_len: usize,
}

fn is_keyword(token: &Token, keyword: &str) -> bool {
    matches!(token, Token::Word(w) if w.eq_ignore_ascii_case(keyword))
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens.get(self.pos + offset).map(|(t, _)| t)
    }

    fn position(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map(|(_, p)| *p)
            .unwrap_or(self.text_len + 1)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).map(|(t, _)| t.clone());
        self.pos += 1;
        token
    }

    fn describe(token: Option<&Token>) -> String {
        match token {
            None => "EOF".into(),
            Some(Token::LParen) => "(".into(),
            Some(Token::RParen) => ")".into(),
            Some(Token::Comma) => ",".into(),
            Some(Token::Op(o)) => o.clone(),
            Some(Token::Word(w)) => w.clone(),
            Some(Token::Quoted(q)) => q.clone(),
        }
    }

    fn at_order_by(&self) -> bool {
        self.peek().is_some_and(|t| is_keyword(t, "order"))
            && self.peek_at(1).is_some_and(|t| is_keyword(t, "by"))
    }

    fn parse_or(&mut self) -> Result<Expr, JqlError> {
        let mut items = vec![self.parse_and()?];
        while self.peek().is_some_and(|t| is_keyword(t, "or")) {
            self.pos += 1;
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Expr, JqlError> {
        let mut items = vec![self.parse_not()?];
        while self.peek().is_some_and(|t| is_keyword(t, "and")) {
            self.pos += 1;
            items.push(self.parse_not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn parse_not(&mut self) -> Result<Expr, JqlError> {
        if self.peek().is_some_and(|t| is_keyword(t, "not")) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.parse_not()?)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Expr, JqlError> {
        match self.peek() {
            Some(Token::LParen) => {
                self.pos += 1;
                let inner = self.parse_or()?;
                match self.next() {
                    Some(Token::RParen) => Ok(inner),
                    other => Err(JqlError(format!(
                        "Error in the JQL Query: Expecting ')' but got '{}'. (line 1, character {})",
                        Self::describe(other.as_ref()),
                        self.position().saturating_sub(1).max(1)
                    ))),
                }
            }
            Some(Token::Word(_)) | Some(Token::Quoted(_)) => self.parse_clause(),
            other => Err(JqlError(format!(
                "Error in the JQL Query: Expecting a field name but got '{}'. (line 1, character {})",
                Self::describe(other),
                self.position()
            ))),
        }
    }

    fn parse_operator(&mut self) -> Result<Op, JqlError> {
        let position = self.position();
        let token = self.next();
        let op = match &token {
            Some(Token::Op(o)) => match o.as_str() {
                "=" => Op::Eq,
                "!=" => Op::NotEq,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                "<" => Op::Lt,
                "<=" => Op::Le,
                "~" => Op::Contains,
                _ => Op::NotContains,
            },
            Some(t) if is_keyword(t, "in") => Op::In,
            Some(t) if is_keyword(t, "is") => {
                if self.peek().is_some_and(|t| is_keyword(t, "not")) {
                    self.pos += 1;
                    Op::IsNot
                } else {
                    Op::Is
                }
            }
            Some(t) if is_keyword(t, "not") => {
                if self.peek().is_some_and(|t| is_keyword(t, "in")) {
                    self.pos += 1;
                    Op::NotIn
                } else {
                    return Err(Self::bad_operator(self.peek(), position));
                }
            }
            other => return Err(Self::bad_operator(other.as_ref(), position)),
        };
        Ok(op)
    }

    fn bad_operator(token: Option<&Token>, position: usize) -> JqlError {
        JqlError(format!(
            "Error in the JQL Query: Expecting operator but got '{}'. The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. (line 1, character {position})",
            Self::describe(token)
        ))
    }

    fn parse_literal(&mut self) -> Result<Literal, JqlError> {
        let position = self.position();
        match self.next() {
            Some(Token::Quoted(q)) => Ok(Literal::Text(q)),
            Some(Token::Word(w)) => {
                if self.peek() == Some(&Token::LParen) {
                    self.pos += 1;
                    // Functions used here take no arguments; skip any.
                    let mut depth = 1;
                    while depth > 0 {
                        match self.next() {
                            Some(Token::LParen) => depth += 1,
                            Some(Token::RParen) => depth -= 1,
                            None => {
                                return Err(JqlError(format!(
                                    "Error in the JQL Query: Expecting ')' but got 'EOF'. (line 1, character {})",
                                    self.text_len + 1
                                )))
                            }
                            _ => {}
                        }
                    }
                    Ok(Literal::Function(w))
                } else {
                    Ok(Literal::Text(w))
                }
            }
            other => Err(JqlError(format!(
                "Error in the JQL Query: Expecting either a value, list or function but got '{}'. (line 1, character {position})",
                Self::describe(other.as_ref())
            ))),
        }
    }

    fn parse_clause(&mut self) -> Result<Expr, JqlError> {
        let position = self.position();
        let field_word = match self.next() {
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => w,
            other => {
                return Err(JqlError(format!(
                    "Error in the JQL Query: Expecting a field name but got '{}'. (line 1, character {position})",
                    Self::describe(other.as_ref())
                )))
            }
        };
        let field = Field::parse(&field_word)?;
        let op = self.parse_operator()?;
        let operand = match op {
            Op::In | Op::NotIn => {
                let position = self.position();
                if self.next() != Some(Token::LParen) {
                    return Err(JqlError(format!(
                        "Error in the JQL Query: Expecting '(' but got '{}'. (line 1, character {position})",
                        Self::describe(self.tokens.get(self.pos - 1).map(|(t, _)| t))
                    )));
                }
                let mut items = vec![self.parse_literal()?];
                loop {
                    match self.next() {
                        Some(Token::Comma) => items.push(self.parse_literal()?),
                        Some(Token::RParen) => break,
                        other => {
                            return Err(JqlError(format!(
                                "Error in the JQL Query: Expecting ')' but got '{}'. (line 1, character {})",
                                Self::describe(other.as_ref()),
                                self.position().saturating_sub(1).max(1)
                            )))
                        }
                    }
                }
                Operand::List(items)
            }
            Op::Is | Op::IsNot => {
                let position = self.position();
                match self.next() {
                    Some(t) if is_keyword(&t, "empty") || is_keyword(&t, "null") => Operand::Empty,
                    other => {
                        return Err(JqlError(format!(
                            "Error in the JQL Query: Expecting 'EMPTY' or 'NULL' but got '{}'. (line 1, character {position})",
                            Self::describe(other.as_ref())
                        )))
                    }
                }
            }
            _ => {
                if self
                    .peek()
                    .is_some_and(|t| is_keyword(t, "empty") || is_keyword(t, "null"))
                {
                    self.pos += 1;
                    Operand::Empty
                } else {
                    Operand::One(self.parse_literal()?)
                }
            }
        };
        check_operator(&field, op)?;
        check_functions(&field, &operand)?;
        Ok(Expr::Clause(Clause { field, op, operand }))
    }

    fn parse_order_by(&mut self) -> Result<Vec<OrderBy>, JqlError> {
        self.pos += 2;
        let mut items = Vec::new();
        loop {
            let position = self.position();
            let word = match self.next() {
                Some(Token::Word(w)) | Some(Token::Quoted(w)) => w,
                other => {
                    return Err(JqlError(format!(
                        "Error in the JQL Query: Expecting a field name but got '{}'. (line 1, character {position})",
                        Self::describe(other.as_ref())
                    )))
                }
            };
            let field = match word.to_ascii_lowercase().as_str() {
                "updated" | "updateddate" => SortField::Updated,
                "created" | "createddate" => SortField::Created,
                "key" | "issuekey" => SortField::Key,
                "id" => SortField::Id,
                "priority" => SortField::Priority,
                "status" => SortField::Status,
                "summary" => SortField::Summary,
                _ => {
                    Field::parse(&word)?;
                    return Err(JqlError(format!("Not able to sort using field '{word}'.")));
                }
            };
            let mut descending = false;
            if self.peek().is_some_and(|t| is_keyword(t, "asc")) {
                self.pos += 1;
            } else if self.peek().is_some_and(|t| is_keyword(t, "desc")) {
                self.pos += 1;
                descending = true;
            }
            items.push(OrderBy { field, descending });
            if self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                continue;
            }
            break;
        }
        if items.len() > 7 {
            return Err(JqlError(
                "The ORDER BY clause can contain a maximum of 7 fields.".into(),
            ));
        }
        Ok(items)
    }
}

/// Functions are resolved when the query is parsed, as Jira does: an unknown function, or one
/// that does not apply to the field, fails the whole query even if no issue would reach it.
fn check_functions(field: &Field, operand: &Operand) -> Result<(), JqlError> {
    let literals: Vec<&Literal> = match operand {
        Operand::One(l) => vec![l],
        Operand::List(items) => items.iter().collect(),
        Operand::Empty => Vec::new(),
    };
    for literal in literals {
        if let Literal::Function(name) = literal {
            let applies = match name.to_ascii_lowercase().as_str() {
                "currentuser" => matches!(field, Field::Assignee | Field::Reporter),
                "now" | "startofday" | "endofday" => field.is_date(),
                _ => false,
            };
            if !applies {
                return Err(JqlError(format!("Unable to find JQL function '{name}()'.")));
            }
        }
    }
    Ok(())
}

fn check_operator(field: &Field, op: Op) -> Result<(), JqlError> {
    let allowed: &[Op] = match field {
        Field::Updated | Field::Created => &[
            Op::Eq,
            Op::NotEq,
            Op::Gt,
            Op::Ge,
            Op::Lt,
            Op::Le,
            Op::Is,
            Op::IsNot,
            Op::In,
            Op::NotIn,
        ],
        Field::Key | Field::Id | Field::Priority => &[
            Op::Eq,
            Op::NotEq,
            Op::Gt,
            Op::Ge,
            Op::Lt,
            Op::Le,
            Op::In,
            Op::NotIn,
            Op::Is,
            Op::IsNot,
        ],
        Field::Summary | Field::Description | Field::Text => {
            &[Op::Contains, Op::NotContains, Op::Is, Op::IsNot]
        }
        Field::Property { .. } | Field::Custom(_) => &[
            Op::Eq,
            Op::NotEq,
            Op::Gt,
            Op::Ge,
            Op::Lt,
            Op::Le,
            Op::In,
            Op::NotIn,
            Op::Is,
            Op::IsNot,
            Op::Contains,
            Op::NotContains,
        ],
        _ => &[Op::Eq, Op::NotEq, Op::In, Op::NotIn, Op::Is, Op::IsNot],
    };
    if allowed.contains(&op) {
        Ok(())
    } else {
        Err(JqlError(format!(
            "The operator '{}' is not supported by the '{}' field.",
            op.symbol(),
            field.name()
        )))
    }
}

/// Parses a JQL string.
pub fn parse(jql: &str) -> Result<Query, JqlError> {
    let tokens = lex(jql)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        text_len: jql.chars().count(),
    };
    let filter = if parser.peek().is_none() || parser.at_order_by() {
        None
    } else {
        Some(parser.parse_or()?)
    };
    let order_by = if parser.at_order_by() {
        parser.parse_order_by()?
    } else {
        Vec::new()
    };
    if let Some(token) = parser.peek() {
        return Err(JqlError(format!(
            "Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{}'. (line 1, character {})",
            Parser::describe(Some(token)),
            parser.position()
        )));
    }
    Ok(Query { filter, order_by })
}

/// A user as JQL can refer to them.
#[derive(Debug, Clone, Default)]
pub struct UserFacts {
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub display_name: String,
}

impl UserFacts {
    fn matches(&self, value: &str) -> bool {
        value == self.account_id
            || value.eq_ignore_ascii_case(&self.name)
            || value.eq_ignore_ascii_case(&self.email)
            || value.eq_ignore_ascii_case(&self.display_name)
    }
}

/// What JQL can see of one issue.
#[derive(Debug, Clone, Default)]
pub struct IssueFacts {
    pub id: u64,
    pub key: String,
    pub number: u64,
    pub project_id: String,
    pub project_key: String,
    pub project_name: String,
    pub labels: Vec<String>,
    pub status_id: String,
    pub status_name: String,
    /// `new`, `indeterminate` or `done`.
    pub status_category: String,
    pub updated_ms: i64,
    pub created_ms: i64,
    pub assignee: Option<UserFacts>,
    pub reporter: Option<UserFacts>,
    pub issue_type_id: String,
    pub issue_type_name: String,
    pub priority_id: Option<String>,
    pub priority_name: Option<String>,
    pub summary: String,
    pub description_text: String,
    pub comments_text: Vec<String>,
    pub resolution: Option<String>,
    pub properties: std::collections::BTreeMap<String, Value>,
    pub custom_fields: std::collections::BTreeMap<String, Value>,
}

/// Evaluation context: the clock and the searching user.
#[derive(Debug, Clone)]
pub struct EvalContext {
    pub now_ms: i64,
    pub current_user: Option<UserFacts>,
}

const MINUTE_MS: i64 = 60_000;

/// Parses a JQL date operand to epoch ms (UTC).
pub fn parse_date(text: &str, now_ms: i64) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return text.parse().ok();
    }
    for format in ["%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(text, format) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    for format in ["%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(text, format) {
            return d
                .and_hms_opt(0, 0, 0)
                .map(|dt| dt.and_utc().timestamp_millis());
        }
    }
    parse_period(text).map(|offset| now_ms + offset)
}

/// `-5d`, `4w 2d`, `+3h`, `-30m` → signed milliseconds.
fn parse_period(text: &str) -> Option<i64> {
    let (sign, body) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let mut total = 0i64;
    let mut any = false;
    for part in body.split_whitespace() {
        let unit = part.chars().last()?;
        let amount: i64 = part[..part.len() - unit.len_utf8()].parse().ok()?;
        let ms = match unit.to_ascii_lowercase() {
            'w' => 7 * 24 * 60 * MINUTE_MS,
            'd' => 24 * 60 * MINUTE_MS,
            'h' => 60 * MINUTE_MS,
            'm' => MINUTE_MS,
            _ => return None,
        };
        total += amount * ms;
        any = true;
    }
    any.then_some(sign * total)
}

fn date_value(field: &Field, literal: &Literal, ctx: &EvalContext) -> Result<i64, JqlError> {
    match literal {
        Literal::Function(name) => match name.to_ascii_lowercase().as_str() {
            "now" => Ok(ctx.now_ms),
            "startofday" => Ok(ctx.now_ms - ctx.now_ms.rem_euclid(24 * 60 * MINUTE_MS)),
            "endofday" => Ok(ctx.now_ms - ctx.now_ms.rem_euclid(24 * 60 * MINUTE_MS) + 24 * 60 * MINUTE_MS - 1),
            _ => Err(JqlError(format!("Unable to find JQL function '{name}()'."))),
        },
        Literal::Text(text) => parse_date(text, ctx.now_ms).ok_or_else(|| {
            JqlError(format!(
                "Date value '{text}' for field '{}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.",
                field.name()
            ))
        }),
    }
}

fn literal_text<'a>(literal: &'a Literal, field: &Field) -> Result<&'a str, JqlError> {
    match literal {
        Literal::Text(t) => Ok(t),
        Literal::Function(name)
            if name.eq_ignore_ascii_case("currentuser")
                && matches!(field, Field::Assignee | Field::Reporter) =>
        {
            Ok("\u{0}currentUser")
        }
        Literal::Function(name) => {
            Err(JqlError(format!("Unable to find JQL function '{name}()'.")))
        }
    }
}

fn compare_numbers(left: f64, right: f64, op: Op) -> bool {
    match op {
        Op::Eq => left == right,
        Op::NotEq => left != right,
        Op::Gt => left > right,
        Op::Ge => left >= right,
        Op::Lt => left < right,
        Op::Le => left <= right,
        _ => false,
    }
}

fn property_value<'a>(issue: &'a IssueFacts, key: &str, path: &[String]) -> Option<&'a Value> {
    let mut value = issue.properties.get(key)?;
    for segment in path {
        value = value.get(segment)?;
    }
    Some(value)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(map) => map.get("value").and_then(scalar_text),
        _ => None,
    }
}

/// Values a field holds for an issue (for equality-style operators). Empty = field is empty.
fn field_values(field: &Field, issue: &IssueFacts) -> Vec<String> {
    match field {
        Field::Labels => issue.labels.clone(),
        Field::Resolution => issue.resolution.iter().cloned().collect(),
        Field::Property { key, path } => match property_value(issue, key, path) {
            Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
            Some(v) => scalar_text(v).into_iter().collect(),
            None => Vec::new(),
        },
        Field::Custom(id) => match issue.custom_fields.get(id) {
            Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
            Some(Value::Null) | None => Vec::new(),
            Some(v) => scalar_text(v).into_iter().collect(),
        },
        _ => Vec::new(),
    }
}

fn single_matches(field: &Field, issue: &IssueFacts, value: &str, ctx: &EvalContext) -> bool {
    let user_matches = |user: &Option<UserFacts>| match user {
        None => false,
        Some(u) if value == "\u{0}currentUser" => ctx
            .current_user
            .as_ref()
            .is_some_and(|c| c.account_id == u.account_id),
        Some(u) => u.matches(value),
    };
    match field {
        Field::Project => {
            value.eq_ignore_ascii_case(&issue.project_key)
                || value == issue.project_id
                || value.eq_ignore_ascii_case(&issue.project_name)
        }
        Field::Key => value.eq_ignore_ascii_case(&issue.key) || value == issue.id.to_string(),
        Field::Id => value == issue.id.to_string() || value.eq_ignore_ascii_case(&issue.key),
        Field::Status => value.eq_ignore_ascii_case(&issue.status_name) || value == issue.status_id,
        Field::StatusCategory => {
            let (id, name) = match issue.status_category.as_str() {
                "new" => ("2", "To Do"),
                "indeterminate" => ("4", "In Progress"),
                _ => ("3", "Done"),
            };
            value.eq_ignore_ascii_case(&issue.status_category)
                || value == id
                || value.eq_ignore_ascii_case(name)
        }
        Field::Assignee => user_matches(&issue.assignee),
        Field::Reporter => user_matches(&issue.reporter),
        Field::IssueType => {
            value.eq_ignore_ascii_case(&issue.issue_type_name) || value == issue.issue_type_id
        }
        Field::Priority => {
            issue
                .priority_name
                .as_deref()
                .is_some_and(|p| value.eq_ignore_ascii_case(p))
                || issue.priority_id.as_deref() == Some(value)
        }
        _ => field_values(field, issue).iter().any(|v| v == value),
    }
}

fn is_empty(field: &Field, issue: &IssueFacts) -> bool {
    match field {
        Field::Assignee => issue.assignee.is_none(),
        Field::Reporter => issue.reporter.is_none(),
        Field::Priority => issue.priority_id.is_none(),
        Field::Summary => issue.summary.is_empty(),
        Field::Description => issue.description_text.is_empty(),
        Field::Project | Field::Key | Field::Id | Field::Status | Field::StatusCategory => false,
        Field::IssueType | Field::Updated | Field::Created | Field::Text => false,
        _ => field_values(field, issue).is_empty(),
    }
}

fn key_order(issue: &IssueFacts) -> (String, u64) {
    (issue.project_key.clone(), issue.number)
}

fn eval_clause(clause: &Clause, issue: &IssueFacts, ctx: &EvalContext) -> Result<bool, JqlError> {
    let field = &clause.field;
    if let Operand::Empty = clause.operand {
        let empty = is_empty(field, issue);
        return Ok(match clause.op {
            Op::Is | Op::Eq => empty,
            Op::IsNot | Op::NotEq => !empty,
            _ => false,
        });
    }
    if field.is_date() {
        let actual = if *field == Field::Updated {
            issue.updated_ms
        } else {
            issue.created_ms
        };
        return match &clause.operand {
            Operand::One(lit) => Ok(compare_numbers(
                actual as f64,
                date_value(field, lit, ctx)? as f64,
                clause.op,
            )),
            Operand::List(items) => {
                let mut hit = false;
                for lit in items {
                    hit |= actual == date_value(field, lit, ctx)?;
                }
                Ok(if clause.op == Op::NotIn { !hit } else { hit })
            }
            Operand::Empty => Ok(false),
        };
    }
    if field.is_text() {
        let needle = match &clause.operand {
            Operand::One(lit) => literal_text(lit, field)?.to_lowercase(),
            _ => String::new(),
        };
        let haystacks: Vec<String> = match field {
            Field::Summary => vec![issue.summary.to_lowercase()],
            Field::Description => vec![issue.description_text.to_lowercase()],
            _ => {
                let mut all = vec![
                    issue.summary.to_lowercase(),
                    issue.description_text.to_lowercase(),
                ];
                all.extend(issue.comments_text.iter().map(|c| c.to_lowercase()));
                all
            }
        };
        let terms: Vec<&str> = needle.split_whitespace().collect();
        let found = !terms.is_empty()
            && terms
                .iter()
                .all(|t| haystacks.iter().any(|h| h.contains(t.trim_matches('*'))));
        return Ok(if clause.op == Op::NotContains {
            !found
        } else {
            found
        });
    }
    let ordering_op = matches!(clause.op, Op::Gt | Op::Ge | Op::Lt | Op::Le);
    if ordering_op {
        let Operand::One(lit) = &clause.operand else {
            return Ok(false);
        };
        let value = literal_text(lit, field)?;
        return Ok(match field {
            Field::Key => {
                let (project, number) = value
                    .rsplit_once('-')
                    .and_then(|(p, n)| Some((p.to_ascii_uppercase(), n.parse::<u64>().ok()?)))
                    .unwrap_or_default();
                let mine = key_order(issue);
                mine.0 == project && compare_numbers(mine.1 as f64, number as f64, clause.op)
            }
            Field::Id => value
                .parse::<f64>()
                .map(|v| compare_numbers(issue.id as f64, v, clause.op))
                .unwrap_or(false),
            Field::Priority => {
                let rank = |id: &str| id.parse::<f64>().unwrap_or(f64::MAX);
                match &issue.priority_id {
                    // Lower id = higher priority in Jira's default scheme.
                    Some(mine) => compare_numbers(-rank(mine), -rank(value), clause.op),
                    None => false,
                }
            }
            _ => field_values(field, issue).iter().any(|v| {
                match (v.parse::<f64>(), value.parse::<f64>()) {
                    (Ok(a), Ok(b)) => compare_numbers(a, b, clause.op),
                    _ => compare_numbers(v.as_str().cmp(value) as i32 as f64, 0.0, clause.op),
                }
            }),
        });
    }
    let matches_any = |items: &[Literal]| -> Result<bool, JqlError> {
        let mut hit = false;
        for lit in items {
            hit |= single_matches(field, issue, literal_text(lit, field)?, ctx);
        }
        Ok(hit)
    };
    Ok(match (&clause.operand, clause.op) {
        (Operand::One(lit), Op::Eq) => matches_any(std::slice::from_ref(lit))?,
        (Operand::One(lit), Op::NotEq) => {
            !matches_any(std::slice::from_ref(lit))? && !is_empty(field, issue)
        }
        (Operand::List(items), Op::In) => matches_any(items)?,
        (Operand::List(items), Op::NotIn) => !matches_any(items)? && !is_empty(field, issue),
        (Operand::One(lit), Op::Contains) => {
            let needle = literal_text(lit, field)?.to_lowercase();
            field_values(field, issue)
                .iter()
                .any(|v| v.to_lowercase().contains(&needle))
        }
        (Operand::One(lit), Op::NotContains) => {
            let needle = literal_text(lit, field)?.to_lowercase();
            !field_values(field, issue)
                .iter()
                .any(|v| v.to_lowercase().contains(&needle))
        }
        _ => false,
    })
}

/// Whether an issue satisfies an expression.
pub fn eval(expr: &Expr, issue: &IssueFacts, ctx: &EvalContext) -> Result<bool, JqlError> {
    Ok(match expr {
        Expr::And(items) => {
            for item in items {
                if !eval(item, issue, ctx)? {
                    return Ok(false);
                }
            }
            true
        }
        Expr::Or(items) => {
            for item in items {
                if eval(item, issue, ctx)? {
                    return Ok(true);
                }
            }
            false
        }
        Expr::Not(inner) => !eval(inner, issue, ctx)?,
        Expr::Clause(clause) => eval_clause(clause, issue, ctx)?,
    })
}

/// Sorts issues per the ORDER BY list (default: key descending); ties break on id ascending.
pub fn sort(issues: &mut [IssueFacts], order_by: &[OrderBy]) {
    let default = [OrderBy {
        field: SortField::Key,
        descending: true,
    }];
    let order = if order_by.is_empty() {
        &default[..]
    } else {
        order_by
    };
    issues.sort_by(|a, b| {
        for item in order {
            let ordering = match item.field {
                SortField::Updated => a.updated_ms.cmp(&b.updated_ms),
                SortField::Created => a.created_ms.cmp(&b.created_ms),
                SortField::Key => key_order(a).cmp(&key_order(b)),
                SortField::Id => a.id.cmp(&b.id),
                SortField::Priority => {
                    let rank = |p: &Option<String>| {
                        p.as_deref()
                            .and_then(|v| v.parse::<i64>().ok())
                            .unwrap_or(i64::MAX)
                    };
                    rank(&b.priority_id).cmp(&rank(&a.priority_id))
                }
                SortField::Status => a.status_name.cmp(&b.status_name),
                SortField::Summary => a.summary.cmp(&b.summary),
            };
            let ordering = if item.descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        a.id.cmp(&b.id)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue() -> IssueFacts {
        IssueFacts {
            id: 10001,
            key: "SEC-1".into(),
            number: 1,
            project_id: "10000".into(),
            project_key: "SEC".into(),
            project_name: "Security".into(),
            labels: vec!["casebridge".into(), "sast".into()],
            status_id: "3".into(),
            status_name: "In Progress".into(),
            status_category: "indeterminate".into(),
            updated_ms: parse_date("2024-03-01 10:30", 0).unwrap(),
            created_ms: 0,
            properties: [(
                "casebridge".to_string(),
                serde_json::json!({"caseId": "c-1", "n": 5}),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        }
    }

    fn matches(jql: &str) -> bool {
        let q = parse(jql).unwrap();
        eval(
            q.filter.as_ref().unwrap(),
            &issue(),
            &EvalContext {
                now_ms: 0,
                current_user: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn evaluates_connector_queries() {
        assert!(matches("project = SEC AND labels = \"casebridge\""));
        assert!(matches("project = sec and status = \"In Progress\""));
        assert!(matches("key in (SEC-1, SEC-2)"));
        assert!(!matches("key = SEC-2"));
        assert!(matches("issue.property[casebridge].caseId = \"c-1\""));
        assert!(matches("issue.property[casebridge].n > 4"));
        assert!(matches("updated >= \"2024-03-01 10:30\""));
        assert!(!matches("updated >= \"2024-03-01 10:31\""));
        let epoch = parse_date("2024-03-01 10:30", 0).unwrap();
        assert!(matches(&format!("updated >= {epoch}")));
        assert!(!matches(&format!("updated > {epoch}")));
        assert!(matches(
            "(project = NOPE OR labels = sast) AND NOT status = Done"
        ));
        assert!(matches("statusCategory = \"In Progress\""));
        assert!(matches("assignee is EMPTY"));
    }

    #[test]
    fn parses_order_by_and_detects_unbounded_queries() {
        let q = parse("project = SEC ORDER BY updated ASC, key DESC").unwrap();
        assert_eq!(q.order_by.len(), 2);
        assert!(!q.order_by[0].descending);
        assert!(q.order_by[1].descending);
        assert!(!parse("order by key desc").unwrap().is_bounded());
        assert!(!parse("").unwrap().is_bounded());
    }

    #[test]
    fn rejects_what_it_does_not_support_with_jira_wording() {
        assert_eq!(
            parse("foo = bar").unwrap_err().0,
            "Field 'foo' does not exist or you do not have permission to view it."
        );
        assert_eq!(
            parse("project ~ SEC").unwrap_err().0,
            "The operator '~' is not supported by the 'project' field."
        );
        assert!(parse("project = ")
            .unwrap_err()
            .0
            .starts_with("Error in the JQL Query"));
        assert!(parse("project = SEC AND").is_err());
        assert!(parse("project = SEC labels = x").is_err());
        assert!(parse("(project = SEC").is_err());
        assert!(parse("project SEC")
            .unwrap_err()
            .0
            .contains("Expecting operator"));
        assert_eq!(
            parse("assignee = nosuch()").unwrap_err().0,
            "Unable to find JQL function 'nosuch()'."
        );
        assert!(parse("assignee = currentUser() AND updated > startOfDay()").is_ok());
        assert_eq!(
            parse("project = SEC ORDER BY votes").unwrap_err().0,
            "Field 'votes' does not exist or you do not have permission to view it."
        );
        let q = parse("updated >= \"yesterday\"").unwrap();
        let err = eval(
            q.filter.as_ref().unwrap(),
            &issue(),
            &EvalContext {
                now_ms: 0,
                current_user: None,
            },
        )
        .unwrap_err();
        assert!(err
            .0
            .starts_with("Date value 'yesterday' for field 'updated' is invalid"));
    }

    #[test]
    fn relative_periods_count_back_from_now() {
        let now = 10 * 24 * 60 * MINUTE_MS;
        assert_eq!(parse_date("-1d", now), Some(now - 24 * 60 * MINUTE_MS));
        assert_eq!(
            parse_date("-1w 2d", now),
            Some(now - 9 * 24 * 60 * MINUTE_MS)
        );
    }

    #[test]
    fn sorts_by_updated_then_id() {
        let mut a = issue();
        a.id = 2;
        a.updated_ms = 5;
        let mut b = issue();
        b.id = 1;
        b.updated_ms = 5;
        let mut c = issue();
        c.id = 3;
        c.updated_ms = 1;
        let mut list = vec![a, b, c];
        sort(
            &mut list,
            &[OrderBy {
                field: SortField::Updated,
                descending: false,
            }],
        );
        assert_eq!(list.iter().map(|i| i.id).collect::<Vec<_>>(), vec![3, 1, 2]);
    }
}
