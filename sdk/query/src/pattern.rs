//! Value patterns: literals with optional `*` / `?` wildcards, compiled once.
//!
//! Why: every finding is matched against every rule at ingest, so value comparison must be
//! cheap. A pattern is compiled at parse time into the cheapest matcher that decides it (exact,
//! prefix, suffix, contains, or a general glob) and matching never allocates.
//! Invariants:
//! - segments are normalised: no empty literals, adjacent literals merged, runs of `*`
//!   collapsed; equality and `Display` work on these segments, so the compiled form is always a
//!   function of them;
//! - attribute and tag values match case-sensitively and must match the *whole* value;
//! - free-text search ([`FreeTextPattern`]) is case-insensitive and unanchored (a substring
//!   search in which `*` and `?` keep their wildcard meaning).

use crate::number::parse_number;

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Characters that must appear exactly.
    Literal(String),
    /// `*`: any run of characters, possibly empty.
    AnyRun,
    /// `?`: exactly one character.
    AnyChar,
}

/// A value pattern as written in a query (`critical`, `log4j*`, `"Weak Randomness"`).
#[derive(Debug, Clone)]
pub struct Pattern {
    segments: Vec<Segment>,
    matcher: Matcher,
    /// The literal read as a number, when the pattern is a wildcard-free number (`4`, `9.5`).
    literal_number: Option<f64>,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.segments == other.segments
    }
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Everything,
    Glob(Vec<GlobToken>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GlobToken {
    Char(char),
    AnyChar,
    AnyRun,
}

impl Pattern {
    /// Builds a pattern from segments, normalising them.
    pub fn from_segments(segments: impl IntoIterator<Item = Segment>) -> Self {
        let segments = normalise(segments);
        let matcher = compile(&segments);
        let literal_number = match segments.as_slice() {
            [Segment::Literal(text)] => parse_number(text),
            _ => None,
        };
        Self {
            segments,
            matcher,
            literal_number,
        }
    }

    /// A wildcard-free pattern matching exactly `text`.
    pub fn literal(text: impl Into<String>) -> Self {
        Self::from_segments([Segment::Literal(text.into())])
    }

    /// The normalised segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The text, when the pattern has no wildcards (the empty pattern is the literal `""`).
    pub fn as_literal(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [] => Some(""),
            [Segment::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// Whether the pattern contains `*` or `?`.
    pub fn has_wildcards(&self) -> bool {
        self.as_literal().is_none()
    }

    /// Whether the pattern is a lone `*`.
    pub fn is_any_run(&self) -> bool {
        matches!(self.segments.as_slice(), [Segment::AnyRun])
    }

    pub(crate) fn literal_number(&self) -> Option<f64> {
        self.literal_number
    }

    /// Case-sensitive whole-value match.
    pub fn matches(&self, text: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(s) => text == s,
            Matcher::Prefix(s) => text.starts_with(s.as_str()),
            Matcher::Suffix(s) => text.ends_with(s.as_str()),
            Matcher::Contains(s) => text.contains(s.as_str()),
            Matcher::Everything => true,
            Matcher::Glob(tokens) => glob_match(tokens, text, false),
        }
    }
}

fn normalise(segments: impl IntoIterator<Item = Segment>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for segment in segments {
        match (out.last_mut(), segment) {
            (_, Segment::Literal(text)) if text.is_empty() => {}
            (Some(Segment::Literal(prev)), Segment::Literal(text)) => prev.push_str(&text),
            (Some(Segment::AnyRun), Segment::AnyRun) => {}
            (_, segment) => out.push(segment),
        }
    }
    out
}

fn compile(segments: &[Segment]) -> Matcher {
    use Segment::{AnyRun, Literal};
    match segments {
        [] => Matcher::Exact(String::new()),
        [Literal(s)] => Matcher::Exact(s.clone()),
        [AnyRun] => Matcher::Everything,
        [Literal(s), AnyRun] => Matcher::Prefix(s.clone()),
        [AnyRun, Literal(s)] => Matcher::Suffix(s.clone()),
        [AnyRun, Literal(s), AnyRun] => Matcher::Contains(s.clone()),
        _ => Matcher::Glob(glob_tokens(segments, false)),
    }
}

fn glob_tokens(segments: &[Segment], fold: bool) -> Vec<GlobToken> {
    let mut tokens = Vec::new();
    for segment in segments {
        match segment {
            Segment::Literal(text) => tokens.extend(
                text.chars()
                    .map(|c| GlobToken::Char(if fold { fold_char(c) } else { c })),
            ),
            Segment::AnyRun => tokens.push(GlobToken::AnyRun),
            Segment::AnyChar => tokens.push(GlobToken::AnyChar),
        }
    }
    tokens
}

/// Simple case folding: ASCII fast path, otherwise the first char of the lowercase mapping.
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

/// Iterative glob match with single-star backtracking: O(pattern × text) worst case, no
/// recursion, no allocation.
fn glob_match(tokens: &[GlobToken], text: &str, fold: bool) -> bool {
    let mut ti = 0usize; // byte index into text
    let mut pi = 0usize; // index into tokens
    let mut resume: Option<(usize, usize)> = None; // (token after the last `*`, text index it covers up to)
    loop {
        let next_char = text[ti..].chars().next();
        let advanced = match (tokens.get(pi), next_char) {
            (Some(GlobToken::AnyRun), _) => {
                resume = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            (Some(GlobToken::AnyChar), Some(c)) => {
                ti += c.len_utf8();
                true
            }
            (Some(GlobToken::Char(want)), Some(c)) => {
                let got = if fold { fold_char(c) } else { c };
                if got == *want {
                    ti += c.len_utf8();
                    true
                } else {
                    false
                }
            }
            (None, None) => return true,
            _ => false,
        };
        if advanced {
            pi += 1;
            continue;
        }
        // Mismatch: let the last `*` swallow one more character and retry.
        match resume {
            Some((star_next, covered)) => match text[covered..].chars().next() {
                Some(c) => {
                    let covered = covered + c.len_utf8();
                    resume = Some((star_next, covered));
                    pi = star_next;
                    ti = covered;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

/// A bare search term (no field): a case-insensitive, unanchored pattern.
#[derive(Debug, Clone)]
pub struct FreeTextPattern {
    pattern: Pattern,
    folded: Vec<GlobToken>,
}

impl PartialEq for FreeTextPattern {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl FreeTextPattern {
    /// Wraps a pattern for free-text search.
    pub fn new(pattern: Pattern) -> Self {
        let mut folded = vec![GlobToken::AnyRun];
        folded.extend(glob_tokens(pattern.segments(), true));
        folded.push(GlobToken::AnyRun);
        folded.dedup_by(|a, b| *a == GlobToken::AnyRun && *b == GlobToken::AnyRun);
        Self { pattern, folded }
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// Whether the pattern occurs anywhere in `text`, ignoring case.
    pub fn matches(&self, text: &str) -> bool {
        glob_match(&self.folded, text, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::{AnyChar, AnyRun, Literal};

    fn lit(s: &str) -> Segment {
        Literal(s.to_owned())
    }

    #[test]
    fn normalisation_merges_literals_and_collapses_star_runs() {
        let p = Pattern::from_segments([lit("a"), lit(""), lit("b"), AnyRun, AnyRun, AnyChar]);
        assert_eq!(p.segments(), &[lit("ab"), AnyRun, AnyChar]);
    }

    #[test]
    fn literal_matches_whole_value_case_sensitively() {
        let p = Pattern::literal("critical");
        assert!(p.matches("critical"));
        assert!(!p.matches("Critical"));
        assert!(!p.matches("critical "));
        assert!(!p.matches("critica"));
    }

    #[test]
    fn prefix_suffix_and_infix_stars() {
        let prefix = Pattern::from_segments([lit("log4j"), AnyRun]);
        assert!(
            prefix.matches("log4j-core") && prefix.matches("log4j") && !prefix.matches("xlog4j")
        );
        let suffix = Pattern::from_segments([AnyRun, lit("mongo")]);
        assert!(suffix.matches("my-mongo") && !suffix.matches("mongo-db"));
        let infix = Pattern::from_segments([AnyRun, lit("SSH"), AnyRun]);
        assert!(infix.matches("Restrict SSH access") && !infix.matches("restrict ssh"));
        let middle = Pattern::from_segments([lit("a"), AnyRun, lit("z")]);
        assert!(middle.matches("az") && middle.matches("abcz") && !middle.matches("abc"));
    }

    #[test]
    fn question_mark_matches_exactly_one_character_including_multibyte() {
        let p = Pattern::from_segments([lit("hello"), AnyChar, lit("world")]);
        assert!(p.matches("hello world"));
        assert!(p.matches("hello:world"));
        assert!(p.matches("helloéworld"));
        assert!(!p.matches("helloworld"));
        assert!(!p.matches("hello  world"));
    }

    #[test]
    fn glob_backtracks_over_repeated_prefixes() {
        let p = Pattern::from_segments([AnyRun, lit("ab"), AnyChar, lit("c"), AnyRun]);
        assert!(p.matches("aaababxc"));
        assert!(!p.matches("aaababx"));
    }

    #[test]
    fn empty_pattern_matches_only_the_empty_string() {
        let p = Pattern::from_segments([]);
        assert_eq!(p.as_literal(), Some(""));
        assert!(p.matches(""));
        assert!(!p.matches("x"));
    }

    #[test]
    fn literal_numbers_are_recognised() {
        assert_eq!(Pattern::literal("9.5").literal_number(), Some(9.5));
        assert_eq!(Pattern::literal("v9").literal_number(), None);
        assert_eq!(
            Pattern::from_segments([lit("9"), AnyRun]).literal_number(),
            None
        );
    }

    #[test]
    fn free_text_is_case_insensitive_and_unanchored() {
        let p = FreeTextPattern::new(Pattern::literal("RANDOM"));
        assert!(p.matches("Weak Randomness"));
        assert!(!p.matches("Weak Rand0mness"));
        let wild = FreeTextPattern::new(Pattern::from_segments([lit("log"), AnyChar, lit("j")]));
        assert!(wild.matches("Apache Log4J RCE"));
        let unicode = FreeTextPattern::new(Pattern::literal("ÉTÉ"));
        assert!(unicode.matches("un été chaud"));
    }
}
