//! Properties: canonical text re-parses to the same query; no input panics the parser.
//!
//! Randomness comes from a fixed-seed SplitMix64 generator, so every run checks the same cases
//! and a failure names the seed and case index that reproduce it.

mod common;

use casebridge_query::{JsonFinding, Query};
use common::attr;

/// SplitMix64: tiny, deterministic, good enough to spread test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

#[track_caller]
fn assert_round_trips(text: &str) {
    let query = Query::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"));
    let canonical = query.to_string();
    let reparsed = Query::parse(&canonical)
        .unwrap_or_else(|e| panic!("canonical {canonical:?} of {text:?} fails to parse: {e}"));
    assert_eq!(reparsed, query, "{text:?} -> {canonical:?}");
    assert_eq!(
        reparsed.to_string(),
        canonical,
        "canonical form of {text:?} is not stable"
    );
}

const CORPUS: &[&str] = &[
    "",
    "*",
    "-*",
    "@status:open",
    "@severity:(critical OR high) @status:open team:platform",
    "@workflow.mute.is_muted:true",
    "@workflow.integrations.cases.key:SEC-12",
    "team:platform OR team:payments",
    "a:1 OR b:2 c:3",
    "(a:1 OR b:2) c:3",
    "-(a:1 OR b:2) -c:3",
    "NOT (a:1 AND b:2)",
    "--a:1",
    "-(-(a:1))",
    "env:(prod OR test)",
    "env:(prod test)",
    "env:(prod OR (test -dev))",
    "@severity:(-low -info)",
    "@severity:(critical OR -low)",
    r#"@title:"Weak Randomness""#,
    r#"@title:"*literal stars*""#,
    r#"@x:"quote \" and backslash \\""#,
    r#"env:"""#,
    r#"@x:"OR""#,
    r#"@x:"NOT" "AND""#,
    "service:*mongo",
    "@rule.name:*SSH*",
    "@my_attribute:hello?world",
    "@x:a*b?c*",
    "@advisory.cve:*",
    "-@advisory.cve:*",
    "@exposure_time_seconds:>100",
    "@x:>=1.5 @y:<-3 @z:<=0",
    "@first_seen_at:[1738000000000 TO 1739000000000]",
    "@x:{1 TO 5} @y:[* TO 2} @z:{-1.5 TO *]",
    r"@my_attribute:hello\:world",
    r"owasp_url:https\://owasp.org/*",
    r"@x:c\+\+ @y:\#sec @z:a\=b",
    r"@x:\(paren\)",
    r"@a\.b.c:v",
    r"tag\ key:v",
    r"\-dash",
    r"\@handle",
    "@delta:-5",
    "randomness",
    r#""host namespace""#,
    "weak randomness OR log4?",
    "équipe:sécurité",
    r#"@title:"héllo wörld""#,
    "* a:1",
    "a:1 AND b:2 AND c:3 OR d:4 AND e:5",
    "(a:1 OR b:2) (c:3 OR d:4)",
    "@s:(a OR b) OR c:1",
    "@s:((a OR b) c)",
    "@x:(>5 OR [1 TO 2] OR * OR v*)",
    "OR:x AND:y NOT:z",
    "ORACLE ANDROID NOTE",
    "a:1\tb:2\nc:3",
];

#[test]
fn canonical_form_of_the_corpus_reparses_to_the_same_query() {
    for text in CORPUS {
        assert_round_trips(text);
    }
}

#[test]
fn canonical_form_examples() {
    let canonical = |t: &str| Query::parse(t).unwrap().to_string();
    assert_eq!(canonical("NOT (a:1 AND b:2)"), "-(a:1 b:2)");
    assert_eq!(
        canonical("a:1 AND b:2 AND c:3 OR d:4 AND e:5"),
        "a:1 b:2 c:3 OR d:4 e:5"
    );
    assert_eq!(canonical("-(-(a:1))"), "--a:1");
    assert_eq!(canonical("@s:(a OR b) OR c:1"), "@s:a OR @s:b OR c:1");
    assert_eq!(canonical("env:(prod test)"), "env:prod env:test");
    assert_eq!(canonical(r#"@x:"NOT" "AND""#), r#"@x:"NOT" "AND""#);
}

/// Random query text from the grammar (always valid).
fn gen_query(rng: &mut Rng, depth: usize) -> String {
    if depth >= 4 || rng.chance(35) {
        return gen_term(rng, depth);
    }
    let n = 2 + rng.below(3);
    let parts: Vec<String> = (0..n).map(|_| gen_query(rng, depth + 1)).collect();
    let joined = match rng.below(3) {
        0 => parts.join(" "),
        1 => parts.join(" AND "),
        _ => parts.join(" OR "),
    };
    match rng.below(4) {
        0 => format!("-({joined})"),
        1 => format!("NOT ({joined})"),
        _ => format!("({joined})"),
    }
}

fn gen_term(rng: &mut Rng, depth: usize) -> String {
    let negation = *rng.pick(&["", "", "-", "NOT "]);
    let field = gen_field(rng);
    let body = match rng.below(10) {
        0 => gen_word(rng),
        1 => "*".to_owned(),
        2 if depth < 4 => {
            let n = 2 + rng.below(2);
            let values: Vec<String> = (0..n)
                .map(|_| format!("{}{}", rng.pick(&["", "-", "NOT "]), gen_value(rng)))
                .collect();
            format!(
                "{field}:({})",
                values.join(*rng.pick(&[" OR ", " ", " AND "]))
            )
        }
        _ => format!("{field}:{}", gen_value(rng)),
    };
    format!("{negation}{body}")
}

fn gen_field(rng: &mut Rng) -> String {
    if rng.chance(50) {
        let segments: Vec<String> = (0..1 + rng.below(3)).map(|_| gen_plain_word(rng)).collect();
        format!("@{}", segments.join("."))
    } else {
        gen_plain_word(rng)
    }
}

fn gen_plain_word(rng: &mut Rng) -> String {
    rng.pick(&[
        "status", "severity", "team", "env", "workflow", "mute", "cases", "key", "x", "é", "a-b",
        "rule_id", "OR1",
    ])
    .to_string()
}

fn gen_value(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => format!("{}{}", rng.pick(&[">", ">=", "<", "<="]), gen_number(rng)),
        1 => format!(
            "{}{} TO {}{}",
            rng.pick(&["[", "{"]),
            rng.pick(&["*", "-3", "0"]),
            rng.pick(&["*", "5", "1e3"]),
            rng.pick(&["]", "}"])
        ),
        2 => "*".to_owned(),
        _ => gen_word(rng),
    }
}

fn gen_number(rng: &mut Rng) -> String {
    rng.pick(&["0", "1", "-2.5", "100", "1738000000000", "1e3", "0.001"])
        .to_string()
}

/// A word: quoted phrase, or unquoted with wildcards and escapes of arbitrary characters.
fn gen_word(rng: &mut Rng) -> String {
    if rng.chance(20) {
        let inner: String = (0..rng.below(8))
            .map(
                |_| match *rng.pick(&['a', ' ', '*', '"', '\\', ':', 'é', '(']) {
                    c @ ('"' | '\\') => format!("\\{c}"),
                    c => c.to_string(),
                },
            )
            .collect();
        return format!("\"{inner}\"");
    }
    let mut word = String::new();
    for i in 0..1 + rng.below(6) {
        let c = *rng.pick(&[
            'a', 'Z', '0', '*', '?', '-', '.', '/', '@', 'é', ':', '+', ' ', '(', '"', '\\', '#',
            '[', '>',
        ]);
        match c {
            '*' | '?' => word.push(c),
            '-' | '@' if i == 0 => {
                word.push('\\');
                word.push(c);
            }
            'a' | 'Z' | '0' | '-' | '.' | '/' | '@' | 'é' => word.push(c),
            other => {
                word.push('\\');
                word.push(other);
            }
        }
    }
    if ["AND", "OR", "NOT"].contains(&word.as_str()) {
        word.insert(0, '\\');
    }
    word
}

#[test]
fn generated_queries_parse_and_round_trip() {
    let mut rng = Rng(0x5EED_CA5E);
    for case in 0..3_000 {
        let text = gen_query(&mut rng, 0);
        let Ok(query) = Query::parse(&text) else {
            panic!(
                "case {case}: generated query {text:?} failed: {:?}",
                Query::parse(&text)
            );
        };
        let canonical = query.to_string();
        assert_eq!(
            Query::parse(&canonical).as_ref(),
            Ok(&query),
            "case {case}: {text:?} -> {canonical:?}"
        );
    }
}

#[test]
fn any_escaped_literal_parses_back_to_itself() {
    let alphabet: Vec<char> =
        " \t!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~aZé\u{201c}\u{201d}\u{1F600}"
            .chars()
            .collect();
    let mut rng = Rng(42);
    for case in 0..2_000 {
        let literal: String = (0..1 + rng.below(10))
            .map(|_| *rng.pick(&alphabet))
            .collect();
        let escaped: String = literal.chars().flat_map(|c| ['\\', c]).collect();
        let text = format!("@x:{escaped}");
        let query = Query::parse(&text).unwrap_or_else(|e| panic!("case {case}: {text:?}: {e}"));
        assert_eq!(query.expr(), &attr("x", &literal), "case {case}: {text:?}");
        assert_round_trips(&text);
    }
}

/// Fragments that exercise every branch of the parser when glued together at random.
const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "-",
    "NOT",
    "AND",
    "OR",
    "TO",
    " ",
    " ",
    "\t",
    "@",
    ".",
    ":",
    "\"",
    "\\",
    "*",
    "?",
    "[",
    "]",
    "{",
    "}",
    ">",
    ">=",
    "<",
    "<=",
    "=",
    "!",
    "&&",
    "||",
    "+",
    "#",
    "~",
    "^",
    "a",
    "team",
    "@status",
    "@a.b",
    "1",
    "-5",
    "1e3",
    "é",
    "\u{201c}",
    "\u{201d}",
    "\u{1F600}",
    "\0",
];

#[test]
fn random_fragment_soup_never_panics_and_valid_results_round_trip() {
    let mut rng = Rng(7);
    let attributes = serde_json::json!({"status": "open", "a": {"b": [1, "x"]}, "title": "T"});
    let tags = vec!["team:a".to_owned(), "a:1".to_owned()];
    let finding = JsonFinding::new(&attributes, &tags);
    let mut accepted = 0;
    for case in 0..20_000 {
        let text: String = (0..rng.below(14)).map(|_| *rng.pick(FRAGMENTS)).collect();
        match Query::parse(&text) {
            Ok(query) => {
                accepted += 1;
                let _ = query.matches(&finding);
                let canonical = query.to_string();
                assert_eq!(
                    Query::parse(&canonical).as_ref(),
                    Ok(&query),
                    "case {case}: {text:?} -> {canonical:?}"
                );
            }
            Err(err) => {
                assert!(err.position <= text.len(), "case {case}: {text:?}: {err}");
                assert!(
                    text.is_char_boundary(err.position),
                    "case {case}: {text:?}: {err}"
                );
            }
        }
    }
    // The soup must reach the accepting paths too, or the round-trip half proves nothing.
    assert!(accepted > 1_000, "only {accepted} fragment soups parsed");
}

#[test]
fn random_bytes_never_panic_the_parser() {
    let mut rng = Rng(0xB17E5);
    for case in 0..20_000 {
        let len = rng.below(40);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        if let Err(err) = Query::parse(&text) {
            assert!(err.position <= text.len(), "case {case}: {text:?}: {err}");
            assert!(text.is_char_boundary(err.position), "case {case}: {text:?}");
        }
    }
}

#[test]
fn random_ascii_never_panics_the_parser() {
    let mut rng = Rng(99);
    for _ in 0..20_000 {
        let len = rng.below(30);
        let text: String = (0..len)
            .map(|_| (32 + rng.below(95)) as u8 as char)
            .collect();
        let _ = Query::parse(&text).map(|q| q.to_string());
    }
}
