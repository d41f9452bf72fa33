//! The findings search language: parse a query once, match it against many findings.
//!
//! Why this crate exists: the same language filters the findings API (`filter[query]` on
//! ListSecurityFindings / SearchSecurityFindings), selects findings for ticket-creation and mute
//! rules, and routes findings inside the routing plugin (compiled to `wasm32-wasip2`). One pure
//! implementation — no I/O, only `serde_json` and `thiserror` — keeps the three in agreement.
//!
//! The syntax is the Datadog log-search subset described in §7 of the findings schema notes.
//!
//! # Language reference
//!
//! | Construct | Example | Meaning |
//! |---|---|---|
//! | attribute term | `@status:open`, `@workflow.mute.is_muted:true` | a value at the dotted path into the finding's attributes matches |
//! | tag term | `team:platform`, `env:prod` | some tag `key:value` has this key and a matching value |
//! | free text | `randomness`, `"host namespace"` | case-insensitive substring of `title`, `description` or `resource_name` |
//! | AND | `a AND b`, `a b` | both (juxtaposition is AND) |
//! | OR | `a OR b` | either |
//! | exclusion | `-a`, `NOT a` | not `a` (`NOT` is accepted as a synonym of `-`) |
//! | grouping | `(a OR b) c` | |
//! | value group | `@severity:(critical OR high)`, `env:(prod OR test)` | `(@severity:critical OR @severity:high)`; `AND`, `-`, `NOT` and nesting work too |
//! | phrase | `@title:"Weak Randomness"` | exact value; `*` and `?` are literal inside quotes |
//! | wildcards | `service:*mongo`, `@rule.name:*SSH*`, `@x:hello?world` | `*` any run (possibly empty), `?` exactly one character |
//! | exists / absent | `@advisory.cve:*`, `-@advisory.cve:*` | the field has (has no) non-null value |
//! | everything | `*`, empty or blank query | matches every finding |
//! | comparison | `@exposure_time_seconds:>100`, `>=`, `<`, `<=` | numeric |
//! | range | `@first_seen_at:[1738000000000 TO 1739000000000]` | inclusive; `{ }` for exclusive sides, `*` for an open side |
//! | escape | `owasp_url:https\://owasp.org/*`, `@x:hello\ world` | `\` makes the next character literal |
//!
//! **Precedence**, loosest first: `OR`, then `AND` (explicit or implicit), then `-` / `NOT`.
//! `a OR b c` is `a OR (b AND c)`. Operators are uppercase; `and`, `or`, `not` are ordinary
//! words.
//!
//! **Values.** Attribute and tag values are case-sensitive and must match the whole value (use
//! wildcards for partial matches). A term on a path that reaches an array matches when any
//! element matches; paths cross arrays of objects, so `@workflow.integrations.cases.key:SEC-12`
//! matches when any attached case has that key. `true`/`false` match JSON booleans (and the
//! strings `"true"`/`"false"`); a wildcard-free number matches JSON numbers numerically (`4`
//! matches `4.0`). Comparisons and ranges hold only for JSON numbers — or, for tags, for tag
//! values spelled as numbers (`base_score:>7`). `null` matches nothing, not even `*`.
//!
//! **Tags** are split at their first `:` (`owasp_url:https://…` has key `owasp_url`); a tag
//! with no `:` matches only `key:*`. `team:platform` reads tags only, never an attribute named
//! `team`.
//!
//! **Escaping.** Whitespace and `( ) " : \ * ?` have syntactic meaning inside a value; the other
//! characters that §7 lists (`+ = & | > < ! { } [ ] ^ ~ #` and typographic quotes) are refused
//! unless escaped or quoted, so a query never silently means something else. `-` is literal
//! inside a word (`env:hosted-scan`) and negates only at the start of a term; `/`, `.`, `@`, `_`
//! need no escaping. Inside `"…"` only `"` and `\` need escaping. An operator word as a value must
//! be quoted: `@x:"OR"`.
//!
//! **Limits.** Parentheses, value groups and negations nest at most [`MAX_NESTING`] deep.
//!
//! # Example
//!
//! ```
//! use casebridge_query::{JsonFinding, Query};
//! use serde_json::json;
//!
//! let query = Query::parse("@severity:(critical OR high) @status:open team:platform")?;
//! let attributes = json!({"severity": "high", "status": "open"});
//! let tags = vec!["team:platform".to_owned(), "env:prod".to_owned()];
//! assert!(query.matches(&JsonFinding::new(&attributes, &tags)));
//! assert_eq!(query.to_string(), "@severity:(critical OR high) @status:open team:platform");
//! # Ok::<(), casebridge_query::ParseError>(())
//! ```

mod analysis;
mod ast;
mod display;
mod error;
mod eval;
mod number;
mod parser;
mod pattern;
mod view;

use std::fmt;
use std::str::FromStr;

pub use analysis::EqualityConstraint;
pub use ast::{AttributePath, Bound, CompareOp, Expr, Field, NumericRange, Term, ValueMatch};
pub use error::{ParseError, ParseErrorKind};
pub use parser::MAX_NESTING;
pub use pattern::{FreeTextPattern, Pattern, Segment};
pub use view::{visit_path, FindingView, JsonFinding, FREE_TEXT_ATTRIBUTES};

/// A parsed, ready-to-match findings query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    expr: Expr,
}

impl Query {
    /// Parses query text. An empty or blank query matches everything.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        parser::parse(text).map(|expr| Self { expr })
    }

    /// The query that matches every finding (`*`).
    pub fn match_all() -> Self {
        Self {
            expr: Expr::MatchAll,
        }
    }

    /// Whether `finding` satisfies the query.
    pub fn matches<V: FindingView + ?Sized>(&self, finding: &V) -> bool {
        eval::eval(&self.expr, finding)
    }

    /// The parsed tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether the query is `*` (matches everything without looking at the finding).
    pub fn is_match_all(&self) -> bool {
        matches!(self.expr, Expr::MatchAll)
    }

    /// Every attribute path the query reads (including under `-`), deduplicated, in order of
    /// first appearance. Rule validation uses it to refuse `@workflow.*` and `@status`.
    pub fn attribute_paths(&self) -> Vec<&AttributePath> {
        analysis::field_paths(&self.expr)
            .into_iter()
            .filter_map(|field| match field {
                Field::Attribute(path) => Some(path),
                Field::Tag(_) => None,
            })
            .collect()
    }

    /// Every tag key the query reads, deduplicated, in order of first appearance.
    pub fn tag_keys(&self) -> Vec<&str> {
        analysis::field_paths(&self.expr)
            .into_iter()
            .filter_map(|field| match field {
                Field::Tag(key) => Some(key.as_str()),
                Field::Attribute(_) => None,
            })
            .collect()
    }

    /// Equality constraints every match satisfies, for pushing a pre-filter down to storage:
    /// `@finding_type:secret @severity:(critical OR high) team:x` yields
    /// `finding_type ∈ {secret}`, `severity ∈ {critical, high}` and the tag `team ∈ {x}`.
    /// Sound but not complete: rows failing a constraint can be skipped; rows passing still
    /// need [`Query::matches`]. See [`EqualityConstraint`] for the exact meaning.
    pub fn equality_constraints(&self) -> Vec<EqualityConstraint<'_>> {
        analysis::equality_constraints(&self.expr)
    }

    /// The allowed values of one *scalar* attribute (a plain dotted path such as `"severity"`),
    /// if the query constrains it: the intersection of every constraint on that path, so
    /// `@severity:(high OR low) @severity:high` allows `["high"]`.
    ///
    /// Only for attributes holding one value per finding (`finding_type`, `severity`, `status`):
    /// for an array attribute, `@origin:ci @origin:apm` can match `["ci", "apm"]` although the
    /// intersection is empty — use [`Query::equality_constraints`] there.
    pub fn allowed_values(&self, dotted_path: &str) -> Option<Vec<&str>> {
        let mut allowed: Option<Vec<&str>> = None;
        for constraint in self.equality_constraints() {
            let Some(path) = constraint.attribute() else {
                continue;
            };
            if !path
                .segments()
                .iter()
                .map(String::as_str)
                .eq(dotted_path.split('.'))
            {
                continue;
            }
            allowed = Some(match allowed {
                None => constraint.values,
                Some(previous) => previous
                    .into_iter()
                    .filter(|value| constraint.values.contains(value))
                    .collect(),
            });
        }
        allowed
    }
}

impl fmt::Display for Query {
    /// The canonical form: `Query::parse(&q.to_string()) == Ok(q)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

impl FromStr for Query {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}
