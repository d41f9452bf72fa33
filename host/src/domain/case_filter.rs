//! The `filter` of SearchCases: a small, explicit subset of Datadog's case search syntax.
//!
//! Why: clients page through cases with queries such as `status:closed` or
//! `status:open team:(platform OR security)`; the store turns the parsed form into SQL.
//! Supported (everything else is refused with a message naming what is not supported):
//! - terms separated by spaces are ANDed (`AND` between terms is accepted and ignored);
//! - `field:value`, `field:"quoted value"`, `field:(a OR b OR c)`; `-field:value` or
//!   `NOT field:value` negates a term;
//! - fields `status`, `priority`, `project`, `assignee`, `key`, `type`, `creation_source`,
//!   `archived` (true, false or any); any other field name matches a custom attribute;
//! - a bare word or quoted phrase matches the title, description or key (case-insensitive).
//!
//! Invariants: parsing is total (every input gives a filter or a named error, never a panic);
//! unless the filter says `archived:…`, archived cases are excluded.

use super::case::{CasePriority, CaseStatus, CaseType, CreationSource};

/// Longest filter accepted.
pub const MAX_FILTER_LEN: usize = 2_000;

/// What a term matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterField {
    Status(Vec<CaseStatus>),
    Priority(Vec<CasePriority>),
    /// Project keys or ids.
    Project(Vec<String>),
    /// User ids or handles.
    Assignee(Vec<String>),
    /// Case keys (upper-cased).
    Key(Vec<String>),
    Type(Vec<CaseType>),
    CreationSource(Vec<CreationSource>),
    /// Custom attribute `key` with any of the values.
    Attribute {
        key: String,
        values: Vec<String>,
    },
    /// Free text (lower-cased).
    Text(String),
}

/// One ANDed term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterTerm {
    pub negated: bool,
    pub field: FilterField,
}

/// Which archived state to include.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchivedFilter {
    Exclude,
    Only,
    Any,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFilter {
    pub terms: Vec<FilterTerm>,
    pub archived: ArchivedFilter,
}

impl Default for CaseFilter {
    fn default() -> Self {
        CaseFilter {
            terms: Vec::new(),
            archived: ArchivedFilter::Exclude,
        }
    }
}

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("filter is longer than {MAX_FILTER_LEN} characters")]
    TooLong,
    #[error("filter has an unterminated quote")]
    UnterminatedQuote,
    #[error("filter has an unbalanced parenthesis")]
    UnbalancedParenthesis,
    #[error("OR between terms is not supported; use field:(a OR b)")]
    TopLevelOr,
    #[error("grouping terms in parentheses is not supported; use field:(a OR b)")]
    TopLevelGroup,
    #[error("field {0:?} has no value")]
    MissingValue(String),
    #[error("{field}:{value} is not a valid value (expected one of {expected})")]
    BadValue {
        field: String,
        value: String,
        expected: &'static str,
    },
    #[error(
        "negating archived is not supported; use archived:true, archived:false or archived:any"
    )]
    NegatedArchived,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
}

fn tokenize(input: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            tokens.push(Token::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                flush(&mut word, &mut tokens);
                let mut quoted = String::new();
                let mut closed = false;
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                quoted.push(escaped);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        other => quoted.push(other),
                    }
                }
                if !closed {
                    return Err(FilterError::UnterminatedQuote);
                }
                tokens.push(Token::Quoted(quoted));
            }
            '(' => {
                flush(&mut word, &mut tokens);
                tokens.push(Token::Open);
            }
            ')' => {
                flush(&mut word, &mut tokens);
                tokens.push(Token::Close);
            }
            c if c.is_whitespace() => flush(&mut word, &mut tokens),
            other => word.push(other),
        }
    }
    flush(&mut word, &mut tokens);
    Ok(tokens)
}

/// Parses a SearchCases `filter`.
pub fn parse_filter(input: &str) -> Result<CaseFilter, FilterError> {
    if input.chars().count() > MAX_FILTER_LEN {
        return Err(FilterError::TooLong);
    }
    let tokens = tokenize(input)?;
    let mut filter = CaseFilter::default();
    let mut i = 0;
    let mut negate_next = false;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Word(w) if w == "AND" => i += 1,
            Token::Word(w) if w == "OR" => return Err(FilterError::TopLevelOr),
            Token::Word(w) if w == "NOT" => {
                negate_next = true;
                i += 1;
            }
            Token::Open => return Err(FilterError::TopLevelGroup),
            Token::Close => return Err(FilterError::UnbalancedParenthesis),
            Token::Quoted(text) => {
                push_text(&mut filter, std::mem::take(&mut negate_next), text);
                i += 1;
            }
            Token::Word(w) => {
                let (negated, body) = match w.strip_prefix('-') {
                    Some(rest) if !rest.is_empty() => (true, rest),
                    _ => (false, w.as_str()),
                };
                let negated = negated ^ std::mem::take(&mut negate_next);
                i += 1;
                match body.split_once(':') {
                    Some((field, value)) if !field.is_empty() => {
                        let values = if !value.is_empty() {
                            vec![value.to_string()]
                        } else {
                            take_values(&tokens, &mut i, field)?
                        };
                        apply_field(&mut filter, negated, field, values)?;
                    }
                    _ => push_text(&mut filter, negated, body),
                }
            }
        }
    }
    Ok(filter)
}

fn push_text(filter: &mut CaseFilter, negated: bool, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    filter.terms.push(FilterTerm {
        negated,
        field: FilterField::Text(text.to_lowercase()),
    });
}

/// Values after `field:` when the value is quoted or a parenthesised OR list.
fn take_values(tokens: &[Token], i: &mut usize, field: &str) -> Result<Vec<String>, FilterError> {
    match tokens.get(*i) {
        Some(Token::Quoted(q)) => {
            *i += 1;
            Ok(vec![q.clone()])
        }
        Some(Token::Open) => {
            *i += 1;
            let mut values = Vec::new();
            let mut expect_value = true;
            loop {
                match tokens.get(*i) {
                    None => return Err(FilterError::UnbalancedParenthesis),
                    Some(Token::Close) => {
                        *i += 1;
                        break;
                    }
                    Some(Token::Open) => return Err(FilterError::TopLevelGroup),
                    Some(Token::Word(w)) if w == "OR" && !expect_value => {
                        expect_value = true;
                        *i += 1;
                    }
                    Some(Token::Word(v)) | Some(Token::Quoted(v)) if expect_value => {
                        values.push(v.clone());
                        expect_value = false;
                        *i += 1;
                    }
                    Some(_) => {
                        return Err(FilterError::BadValue {
                            field: field.to_string(),
                            value: "(…)".to_string(),
                            expected: "a list of values separated by OR",
                        })
                    }
                }
            }
            if values.is_empty() {
                return Err(FilterError::MissingValue(field.to_string()));
            }
            Ok(values)
        }
        _ => Err(FilterError::MissingValue(field.to_string())),
    }
}

fn parse_each<T>(
    field: &str,
    values: &[String],
    expected: &'static str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, FilterError> {
    values
        .iter()
        .map(|v| {
            parse(v).ok_or_else(|| FilterError::BadValue {
                field: field.to_string(),
                value: v.clone(),
                expected,
            })
        })
        .collect()
}

fn apply_field(
    filter: &mut CaseFilter,
    negated: bool,
    field: &str,
    values: Vec<String>,
) -> Result<(), FilterError> {
    let parsed = match field.to_ascii_lowercase().as_str() {
        "status" => FilterField::Status(parse_each(
            field,
            &values,
            "open, in_progress, closed",
            CaseStatus::parse_filter,
        )?),
        "priority" => FilterField::Priority(parse_each(
            field,
            &values,
            "P1, P2, P3, P4, P5, NOT_DEFINED",
            |v| CasePriority::parse(&v.to_ascii_uppercase()).ok(),
        )?),
        "project" => FilterField::Project(values),
        "assignee" => FilterField::Assignee(values),
        "key" => FilterField::Key(values.iter().map(|v| v.to_ascii_uppercase()).collect()),
        "type" => FilterField::Type(parse_each(
            field,
            &values,
            "security, standard",
            CaseType::parse,
        )?),
        "creation_source" => FilterField::CreationSource(parse_each(
            field,
            &values,
            "MANUAL, CS_SECURITY_FINDING",
            |v| CreationSource::parse(&v.to_ascii_uppercase()),
        )?),
        "archived" => {
            if negated {
                return Err(FilterError::NegatedArchived);
            }
            let [value] = values.as_slice() else {
                return Err(FilterError::BadValue {
                    field: field.to_string(),
                    value: values.join(" OR "),
                    expected: "true, false, any",
                });
            };
            filter.archived = match value.to_ascii_lowercase().as_str() {
                "true" => ArchivedFilter::Only,
                "false" => ArchivedFilter::Exclude,
                "any" | "*" => ArchivedFilter::Any,
                _ => {
                    return Err(FilterError::BadValue {
                        field: field.to_string(),
                        value: value.clone(),
                        expected: "true, false, any",
                    })
                }
            };
            return Ok(());
        }
        _ => FilterField::Attribute {
            key: field.to_string(),
            values,
        },
    };
    filter.terms.push(FilterTerm {
        negated,
        field: parsed,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_status_filter_parses() {
        let filter = parse_filter("status:closed").unwrap();
        assert_eq!(
            filter.terms,
            vec![FilterTerm {
                negated: false,
                field: FilterField::Status(vec![CaseStatus::Closed])
            }]
        );
        assert_eq!(filter.archived, ArchivedFilter::Exclude);
    }

    #[test]
    fn or_lists_become_one_term_and_unknown_fields_are_attributes() {
        let filter =
            parse_filter("status:open team:(case-management OR event-management)").unwrap();
        assert_eq!(filter.terms.len(), 2);
        assert_eq!(
            filter.terms[1].field,
            FilterField::Attribute {
                key: "team".into(),
                values: vec!["case-management".into(), "event-management".into()]
            }
        );
    }

    #[test]
    fn negation_and_text_terms() {
        let filter = parse_filter("-priority:p1 NOT type:security \"memory leak\" api").unwrap();
        assert!(filter.terms[0].negated);
        assert!(filter.terms[1].negated);
        assert_eq!(
            filter.terms[2].field,
            FilterField::Text("memory leak".into())
        );
        assert_eq!(filter.terms[3].field, FilterField::Text("api".into()));
    }

    #[test]
    fn unsupported_syntax_is_named() {
        assert_eq!(
            parse_filter("status:open OR status:closed"),
            Err(FilterError::TopLevelOr)
        );
        assert_eq!(
            parse_filter("(status:open)"),
            Err(FilterError::TopLevelGroup)
        );
        assert_eq!(
            parse_filter("status:\"open"),
            Err(FilterError::UnterminatedQuote)
        );
        assert!(matches!(
            parse_filter("status:done"),
            Err(FilterError::BadValue { .. })
        ));
        assert_eq!(
            parse_filter("status:"),
            Err(FilterError::MissingValue("status".into()))
        );
    }

    #[test]
    fn archived_switches_the_archive_filter() {
        assert_eq!(
            parse_filter("archived:true").unwrap().archived,
            ArchivedFilter::Only
        );
        assert_eq!(
            parse_filter("archived:any").unwrap().archived,
            ArchivedFilter::Any
        );
        assert_eq!(
            parse_filter("-archived:true"),
            Err(FilterError::NegatedArchived)
        );
    }

    #[test]
    fn parsing_never_panics_on_odd_input() {
        for input in [
            "", ":", "-", "a:(", "a:()", "a:(b OR)", ")", "\"", "NOT", "x:y:z", "-:",
        ] {
            let _ = parse_filter(input);
        }
    }
}
