//! Every construct of the language parses to the tree it means, and prints canonically.

mod common;

use casebridge_query::{Bound, CompareOp, Expr, Field, Query, ValueMatch};
use common::*;

fn canonical(text: &str) -> String {
    Query::parse(text).unwrap().to_string()
}

#[test]
fn empty_and_blank_queries_match_all() {
    assert_eq!(parse(""), Expr::MatchAll);
    assert_eq!(parse("  \t\n "), Expr::MatchAll);
    assert_eq!(parse("*"), Expr::MatchAll);
    assert_eq!(parse("**"), Expr::MatchAll);
    assert_eq!(canonical(""), "*");
}

#[test]
fn attribute_term_with_dotted_path() {
    assert_eq!(parse("@status:open"), attr("status", "open"));
    assert_eq!(
        parse("@workflow.mute.is_muted:true"),
        attr("workflow.mute.is_muted", "true")
    );
    assert_eq!(
        canonical("@workflow.mute.is_muted:true"),
        "@workflow.mute.is_muted:true"
    );
}

#[test]
fn tag_term_has_no_at_sign() {
    assert_eq!(parse("team:platform"), tag("team", "platform"));
    assert_eq!(
        parse("availability-zone:us-east-1e"),
        tag("availability-zone", "us-east-1e")
    );
}

#[test]
fn hyphens_inside_words_are_literal() {
    assert_eq!(parse("env:hosted-scan"), tag("env", "hosted-scan"));
    assert_eq!(parse("@status:in-progress"), attr("status", "in-progress"));
    assert_eq!(
        parse("@rule.id:def-000-bh2"),
        attr("rule.id", "def-000-bh2")
    );
}

#[test]
fn slashes_and_dots_need_no_escaping() {
    assert_eq!(
        parse("@rule.id:csharp-security/ensure-secure-logging"),
        attr("rule.id", "csharp-security/ensure-secure-logging")
    );
    assert_eq!(
        parse("@package.name:org.apache.logging.log4j"),
        attr("package.name", "org.apache.logging.log4j")
    );
}

#[test]
fn juxtaposition_and_explicit_and_are_the_same_conjunction() {
    let expected = and(vec![attr("status", "open"), tag("team", "platform")]);
    assert_eq!(parse("@status:open team:platform"), expected);
    assert_eq!(parse("@status:open AND team:platform"), expected);
    assert_eq!(parse("@status:open   AND\tteam:platform"), expected);
    assert_eq!(
        canonical("@status:open AND team:platform"),
        "@status:open team:platform"
    );
}

#[test]
fn or_is_a_disjunction() {
    assert_eq!(
        parse("team:platform OR team:payments"),
        or(vec![tag("team", "platform"), tag("team", "payments")])
    );
}

#[test]
fn or_binds_looser_than_and() {
    assert_eq!(
        parse("a:1 OR b:2 c:3"),
        or(vec![tag("a", "1"), and(vec![tag("b", "2"), tag("c", "3")])])
    );
    assert_eq!(
        parse("a:1 b:2 OR c:3"),
        or(vec![and(vec![tag("a", "1"), tag("b", "2")]), tag("c", "3")])
    );
    assert_eq!(canonical("a:1 OR b:2 AND c:3"), "a:1 OR b:2 c:3");
}

#[test]
fn negation_binds_tighter_than_and() {
    assert_eq!(
        parse("-a:1 b:2"),
        and(vec![not(tag("a", "1")), tag("b", "2")])
    );
    assert_eq!(
        parse("env:prod AND -version:beta"),
        and(vec![tag("env", "prod"), not(tag("version", "beta"))])
    );
}

#[test]
fn not_keyword_is_a_synonym_for_minus() {
    assert_eq!(parse("NOT @status:muted"), parse("-@status:muted"));
    assert_eq!(parse("NOT(a:1 OR b:2)"), parse("-(a:1 OR b:2)"));
    assert_eq!(canonical("NOT @status:muted"), "-@status:muted");
}

#[test]
fn double_negation_is_kept_and_prints_back() {
    assert_eq!(parse("--a:1"), not(not(tag("a", "1"))));
    assert_eq!(parse("NOT -a:1"), not(not(tag("a", "1"))));
    assert_eq!(canonical("NOT NOT a:1"), "--a:1");
}

#[test]
fn parentheses_group_and_flatten() {
    assert_eq!(
        parse("(a:1 OR b:2) c:3"),
        and(vec![or(vec![tag("a", "1"), tag("b", "2")]), tag("c", "3")])
    );
    // Nested groups of the same operator flatten; a group of one is its element.
    assert_eq!(
        parse("(a:1 (b:2 c:3))"),
        and(vec![tag("a", "1"), tag("b", "2"), tag("c", "3")])
    );
    assert_eq!(parse("((a:1))"), tag("a", "1"));
    assert_eq!(parse("(a:1)(b:2)"), and(vec![tag("a", "1"), tag("b", "2")]));
    assert_eq!(canonical("(a:1 OR b:2) c:3"), "(a:1 OR b:2) c:3");
    assert_eq!(canonical("-(a:1 b:2)"), "-(a:1 b:2)");
}

#[test]
fn lowercase_operators_are_plain_words() {
    assert_eq!(
        parse("a:1 or b:2"),
        and(vec![tag("a", "1"), free_literal("or"), tag("b", "2")])
    );
    assert_eq!(parse("ORACLE"), free_literal("ORACLE"));
    assert_eq!(parse("OR:x"), tag("OR", "x"));
}

#[test]
fn value_group_desugars_to_terms_on_the_same_field() {
    assert_eq!(
        parse("@severity:(critical OR high)"),
        or(vec![attr("severity", "critical"), attr("severity", "high")])
    );
    assert_eq!(
        parse("@severity:(critical OR high)"),
        parse("(@severity:critical OR @severity:high)")
    );
    assert_eq!(
        parse("env:(prod OR test)"),
        or(vec![tag("env", "prod"), tag("env", "test")])
    );
    assert_eq!(
        canonical("(@severity:critical OR @severity:high)"),
        "@severity:(critical OR high)"
    );
}

#[test]
fn value_group_supports_and_negation_and_nesting() {
    assert_eq!(
        parse("env:(prod staging)"),
        and(vec![tag("env", "prod"), tag("env", "staging")])
    );
    assert_eq!(
        parse("@severity:(-low -info)"),
        and(vec![
            not(attr("severity", "low")),
            not(attr("severity", "info"))
        ])
    );
    assert_eq!(parse("@severity:(NOT low)"), not(attr("severity", "low")));
    assert_eq!(
        parse("@s:((a OR b) c)"),
        and(vec![
            or(vec![attr("s", "a"), attr("s", "b")]),
            attr("s", "c")
        ])
    );
    assert_eq!(
        parse("@x:(>5 OR [1 TO 2] OR * OR v*)"),
        or(vec![
            term(attr_field("x"), compare(CompareOp::Greater, 5.0)),
            term(
                attr_field("x"),
                range(Bound::Inclusive(1.0), Bound::Inclusive(2.0))
            ),
            term(attr_field("x"), ValueMatch::Exists),
            term(attr_field("x"), ValueMatch::Text(glob("v*"))),
        ])
    );
}

#[test]
fn canonical_example_from_the_spec() {
    let text = "@severity:(critical OR high) @status:open team:platform";
    assert_eq!(
        parse(text),
        and(vec![
            or(vec![attr("severity", "critical"), attr("severity", "high")]),
            attr("status", "open"),
            tag("team", "platform"),
        ])
    );
    assert_eq!(canonical(text), text);
}

#[test]
fn quoted_phrase_is_one_literal_value() {
    assert_eq!(
        parse(r#"@title:"Weak Randomness""#),
        attr("title", "Weak Randomness")
    );
    assert_eq!(
        canonical(r#"@title:"Weak Randomness""#),
        r#"@title:"Weak Randomness""#
    );
    assert_eq!(
        parse(r#"@title:Weak\ Randomness"#),
        attr("title", "Weak Randomness")
    );
}

#[test]
fn wildcards_inside_quotes_are_literal() {
    assert_eq!(parse(r#"@rule.name:"*SSH*""#), attr("rule.name", "*SSH*"));
    assert_eq!(canonical(r#"@rule.name:"*SSH*""#), r"@rule.name:\*SSH\*");
    assert_eq!(parse(r#"@x:"a?b""#), attr("x", "a?b"));
}

#[test]
fn quoted_values_keep_escaped_quotes_and_backslashes() {
    assert_eq!(
        parse(r#"@x:"say \"hi\" \\ bye""#),
        attr("x", r#"say "hi" \ bye"#)
    );
    assert_eq!(
        canonical(r#"@x:"say \"hi\" \\ bye""#),
        r#"@x:"say \"hi\" \\ bye""#
    );
}

#[test]
fn empty_quoted_value_is_the_empty_string() {
    assert_eq!(parse(r#"env:"""#), tag("env", ""));
    assert_eq!(canonical(r#"env:"""#), r#"env:"""#);
}

#[test]
fn wildcards_prefix_suffix_infix_and_single_character() {
    assert_eq!(
        parse("service:*mongo"),
        term(
            Field::Tag("service".into()),
            ValueMatch::Text(glob("*mongo"))
        )
    );
    assert_eq!(
        parse("@rule.name:*SSH*"),
        term(attr_field("rule.name"), ValueMatch::Text(glob("*SSH*")))
    );
    assert_eq!(
        parse("@package.name:log4j*"),
        term(attr_field("package.name"), ValueMatch::Text(glob("log4j*")))
    );
    assert_eq!(
        parse("@x:a*z"),
        term(attr_field("x"), ValueMatch::Text(glob("a*z")))
    );
    assert_eq!(
        parse("@my_attribute:hello?world"),
        term(
            attr_field("my_attribute"),
            ValueMatch::Text(glob("hello?world"))
        )
    );
    assert_eq!(canonical("@rule.name:*SSH*"), "@rule.name:*SSH*");
}

#[test]
fn star_value_means_exists_and_minus_star_means_absent() {
    assert_eq!(
        parse("@advisory.cve:*"),
        term(attr_field("advisory.cve"), ValueMatch::Exists)
    );
    assert_eq!(
        parse("-@advisory.cve:*"),
        not(term(attr_field("advisory.cve"), ValueMatch::Exists))
    );
    assert_eq!(
        parse("team:*"),
        term(Field::Tag("team".into()), ValueMatch::Exists)
    );
    // A quoted star is the literal character, not existence.
    assert_eq!(parse(r#"@x:"*""#), attr("x", "*"));
}

#[test]
fn bare_words_and_phrases_are_free_text() {
    assert_eq!(parse("randomness"), free_literal("randomness"));
    assert_eq!(parse(r#""host namespace""#), free_literal("host namespace"));
    assert_eq!(parse("log4?"), free("log4?"));
    assert_eq!(
        parse("weak randomness"),
        and(vec![free_literal("weak"), free_literal("randomness")])
    );
    assert_eq!(canonical(r#""host namespace""#), r#""host namespace""#);
}

#[test]
fn numeric_comparisons() {
    let x = || attr_field("exposure_time_seconds");
    assert_eq!(
        parse("@exposure_time_seconds:>100"),
        term(x(), compare(CompareOp::Greater, 100.0))
    );
    assert_eq!(
        parse("@exposure_time_seconds:>=100"),
        term(x(), compare(CompareOp::GreaterOrEqual, 100.0))
    );
    assert_eq!(
        parse("@exposure_time_seconds:<1.5"),
        term(x(), compare(CompareOp::Less, 1.5))
    );
    assert_eq!(
        parse("@exposure_time_seconds:<=-2"),
        term(x(), compare(CompareOp::LessOrEqual, -2.0))
    );
    assert_eq!(
        canonical("@exposure_time_seconds:>=1e3"),
        "@exposure_time_seconds:>=1000"
    );
}

#[test]
fn inclusive_exclusive_and_open_ranges() {
    let f = || attr_field("first_seen_at");
    assert_eq!(
        parse("@first_seen_at:[1738000000000 TO 1739000000000]"),
        term(
            f(),
            range(
                Bound::Inclusive(1_738_000_000_000.0),
                Bound::Inclusive(1_739_000_000_000.0)
            )
        )
    );
    assert_eq!(
        parse("@first_seen_at:{1 TO 5]"),
        term(f(), range(Bound::Exclusive(1.0), Bound::Inclusive(5.0)))
    );
    assert_eq!(
        parse("@first_seen_at:[ 1 TO * }"),
        term(f(), range(Bound::Inclusive(1.0), Bound::Unbounded))
    );
    assert_eq!(
        canonical("@first_seen_at:[1738000000000 TO 1739000000000]"),
        "@first_seen_at:[1738000000000 TO 1739000000000]"
    );
    assert_eq!(canonical("@x:{1 TO *]"), "@x:{1 TO *]");
}

#[test]
fn escapes_make_special_characters_literal() {
    assert_eq!(
        parse(r"@my_attribute:hello\:world"),
        attr("my_attribute", "hello:world")
    );
    assert_eq!(
        parse(r#"@my_attribute:"hello:world""#),
        attr("my_attribute", "hello:world")
    );
    assert_eq!(parse(r"@x:a\*b"), attr("x", "a*b"));
    assert_eq!(parse(r"@x:\>5"), attr("x", ">5"));
    assert_eq!(parse(r"@x:c\+\+"), attr("x", "c++"));
    assert_eq!(parse(r"@x:\(x\)"), attr("x", "(x)"));
    assert_eq!(parse(r"\-leading"), free_literal("-leading"));
    assert_eq!(parse(r"tag\ key:v"), tag("tag key", "v"));
    assert_eq!(
        canonical(r"@my_attribute:hello\:world"),
        r"@my_attribute:hello\:world"
    );
    assert_eq!(canonical(r"@x:c\+\+"), r"@x:c\+\+");
}

#[test]
fn escaped_dot_keeps_a_dot_inside_one_path_segment() {
    let expected = term(
        casebridge_query::Field::Attribute(
            casebridge_query::AttributePath::new(vec!["a.b".into(), "c".into()]).unwrap(),
        ),
        text("v"),
    );
    assert_eq!(parse(r"@a\.b.c:v"), expected);
    assert_eq!(canonical(r"@a\.b.c:v"), r"@a\.b.c:v");
}

#[test]
fn leading_minus_in_a_direct_value_is_literal() {
    assert_eq!(parse("@delta:-5"), attr("delta", "-5"));
    assert_eq!(canonical("@delta:-5"), r"@delta:\-5");
}

#[test]
fn operator_words_as_values_must_be_quoted_and_print_quoted() {
    assert_eq!(parse(r#"@x:"OR""#), attr("x", "OR"));
    assert_eq!(canonical(r#"@x:"OR""#), r#"@x:"OR""#);
    assert_eq!(parse(r#""AND""#), free_literal("AND"));
}

#[test]
fn free_text_starting_with_at_sign_is_escaped_in_canonical_form() {
    assert_eq!(parse(r"\@handle"), free_literal("@handle"));
    assert_eq!(canonical(r"\@handle"), r"\@handle");
}

#[test]
fn unicode_values_and_keys() {
    assert_eq!(parse("équipe:sécurité"), tag("équipe", "sécurité"));
    assert_eq!(
        parse(r#"@title:"héllo wörld""#),
        attr("title", "héllo wörld")
    );
}

#[test]
fn match_all_inside_expressions_is_kept() {
    assert_eq!(parse("* a:1"), and(vec![Expr::MatchAll, tag("a", "1")]));
    assert_eq!(parse("-*"), not(Expr::MatchAll));
}
