//! Every refusal names its cause and the byte position where it was found.

use casebridge_query::{ParseErrorKind as Kind, Query, MAX_NESTING};

#[track_caller]
fn refused(text: &str) -> (Kind, usize) {
    match Query::parse(text) {
        Ok(q) => panic!("{text:?} parsed as {q} but should be refused"),
        Err(err) => (err.kind, err.position),
    }
}

#[test]
fn unclosed_parenthesis_points_at_the_open_paren() {
    assert_eq!(refused("a:1 (b:2 OR c:3"), (Kind::UnclosedParenthesis, 4));
    assert_eq!(refused("("), (Kind::UnclosedParenthesis, 0));
    assert_eq!(refused("@s:(a OR b"), (Kind::UnclosedParenthesis, 3));
    assert_eq!(refused("((a:1)"), (Kind::UnclosedParenthesis, 0));
}

#[test]
fn unmatched_closing_parenthesis_points_at_it() {
    assert_eq!(refused("a:1)"), (Kind::UnmatchedParenthesis, 3));
    assert_eq!(refused(")"), (Kind::UnmatchedParenthesis, 0));
    assert_eq!(refused("(a:1))"), (Kind::UnmatchedParenthesis, 5));
}

#[test]
fn error_messages_read_as_cause_at_position() {
    let err = Query::parse("@severity:(critical OR high").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unbalanced parenthesis: '(' is never closed at 10"
    );
    let err = Query::parse("@workflow:").unwrap_err();
    assert_eq!(err.to_string(), "expected a value after ':' at 9");
}

#[test]
fn empty_parentheses_are_refused() {
    assert_eq!(refused("()"), (Kind::EmptyGroup, 0));
    assert_eq!(refused("a:1 (  )"), (Kind::EmptyGroup, 4));
    assert_eq!(refused("@s:()"), (Kind::EmptyGroup, 3));
}

#[test]
fn missing_value_after_colon_points_at_the_colon() {
    assert_eq!(refused("@status:"), (Kind::MissingValue, 7));
    assert_eq!(refused("@status: open"), (Kind::MissingValue, 7));
    assert_eq!(refused("team:"), (Kind::MissingValue, 4));
    assert_eq!(refused("(team:)"), (Kind::MissingValue, 5));
}

#[test]
fn missing_field_name_before_colon() {
    assert_eq!(refused(":open"), (Kind::MissingFieldName, 0));
    assert_eq!(refused("a:1 :x"), (Kind::MissingFieldName, 4));
}

#[test]
fn dangling_operators_name_the_operator() {
    assert_eq!(refused("a:1 OR"), (Kind::MissingOperand("OR"), 4));
    assert_eq!(refused("a:1 OR )"), (Kind::MissingOperand("OR"), 4));
    assert_eq!(refused("a:1 AND"), (Kind::MissingOperand("AND"), 4));
    assert_eq!(refused("NOT"), (Kind::MissingOperand("NOT"), 0));
    assert_eq!(refused("a:1 -"), (Kind::MissingOperand("'-'"), 4));
    assert_eq!(refused("- a:1"), (Kind::MissingOperand("'-'"), 0));
    assert_eq!(refused("@s:(a OR)"), (Kind::MissingOperand("OR"), 6));
}

#[test]
fn operators_where_a_term_should_start_are_misplaced() {
    assert_eq!(refused("OR a:1"), (Kind::MisplacedOperator("OR"), 0));
    assert_eq!(refused("AND a:1"), (Kind::MisplacedOperator("AND"), 0));
    assert_eq!(refused("a:1 OR OR b:2"), (Kind::MisplacedOperator("OR"), 7));
    assert_eq!(
        refused("a:1 AND OR b:2"),
        (Kind::MisplacedOperator("OR"), 8)
    );
    assert_eq!(refused("-OR"), (Kind::MisplacedOperator("OR"), 1));
    assert_eq!(refused("@s:(OR a)"), (Kind::MisplacedOperator("OR"), 4));
}

#[test]
fn operator_words_directly_after_colon_are_refused() {
    assert_eq!(refused("@x:OR"), (Kind::OperatorAsValue("OR"), 3));
    assert_eq!(
        refused("@severity:NOT high"),
        (Kind::OperatorAsValue("NOT"), 10)
    );
}

#[test]
fn unterminated_quote_points_at_the_opening_quote() {
    assert_eq!(refused(r#"@title:"Weak"#), (Kind::UnterminatedQuote, 7));
    assert_eq!(refused(r#"""#), (Kind::UnterminatedQuote, 0));
    assert_eq!(
        refused(r#"@x:"ends with escape\"#),
        (Kind::UnterminatedQuote, 3)
    );
}

#[test]
fn dangling_escape_at_end_of_query() {
    assert_eq!(refused(r"@x:abc\"), (Kind::DanglingEscape, 6));
    assert_eq!(refused(r"\"), (Kind::DanglingEscape, 0));
}

#[test]
fn reserved_characters_must_be_escaped() {
    assert_eq!(refused("@x:a+b"), (Kind::UnescapedSpecial('+'), 4));
    assert_eq!(refused("@x:a=b"), (Kind::UnescapedSpecial('='), 4));
    assert_eq!(refused("@x:#sec"), (Kind::UnescapedSpecial('#'), 3));
    assert_eq!(refused("@x:a~"), (Kind::UnescapedSpecial('~'), 4));
    assert_eq!(refused("@x:a^2"), (Kind::UnescapedSpecial('^'), 4));
    assert_eq!(refused("@x:a]"), (Kind::UnescapedSpecial(']'), 4));
    assert_eq!(refused("@x:a{"), (Kind::UnescapedSpecial('{'), 4));
    assert_eq!(refused("@x:a>b"), (Kind::UnescapedSpecial('>'), 4));
    assert_eq!(refused("@x:a&b"), (Kind::UnescapedSpecial('&'), 4));
    assert_eq!(refused("@x:a!"), (Kind::UnescapedSpecial('!'), 4));
}

#[test]
fn unescaped_colon_inside_a_value_is_refused() {
    assert_eq!(
        refused("owasp_url:https://owasp.org"),
        (Kind::UnescapedSpecial(':'), 15)
    );
    assert_eq!(refused("a:b:c"), (Kind::UnescapedSpecial(':'), 3));
}

#[test]
fn quote_inside_an_unquoted_word_is_refused() {
    assert_eq!(refused(r#"@x:ab"c""#), (Kind::UnescapedSpecial('"'), 5));
}

#[test]
fn foreign_operators_suggest_the_native_one() {
    assert_eq!(
        refused("a:1 && b:2"),
        (Kind::ForeignOperator("&&", "AND"), 4)
    );
    assert_eq!(
        refused("a:1 || b:2"),
        (Kind::ForeignOperator("||", "OR"), 4)
    );
    assert_eq!(
        refused("!a:1"),
        (Kind::ForeignOperator("!", "'-' or NOT"), 0)
    );
}

#[test]
fn typographic_quotes_are_refused_with_advice() {
    assert_eq!(
        refused("@title:\u{201c}Weak\u{201d}"),
        (Kind::TypographicQuote('\u{201c}'), 7)
    );
    // Positions are byte offsets: the 3-byte quote ends at 11.
    assert_eq!(refused("@title:\u{201c}Weak\u{201d}").1, "@title:".len());
    let err = Query::parse("a:\u{201c}x").unwrap_err();
    assert!(err.to_string().contains("straight double quote"), "{err}");
}

#[test]
fn empty_attribute_names_and_segments() {
    assert_eq!(refused("@:x"), (Kind::EmptyAttributeName, 0));
    assert_eq!(refused("@"), (Kind::EmptyAttributeName, 0));
    assert_eq!(refused("@a..b:x"), (Kind::EmptyPathSegment, 3));
    assert_eq!(refused("@.a:x"), (Kind::EmptyPathSegment, 1));
    assert_eq!(refused("@a.:x"), (Kind::EmptyPathSegment, 3));
}

#[test]
fn wildcards_in_field_names_are_refused() {
    assert_eq!(refused("@risk.*:true"), (Kind::WildcardInFieldName, 6));
    assert_eq!(refused("te*m:x"), (Kind::WildcardInFieldName, 0));
}

#[test]
fn quoted_field_names_are_refused() {
    assert_eq!(refused(r#""team":x"#), (Kind::QuotedFieldName, 0));
    assert_eq!(refused(r#"@"title":x"#), (Kind::QuotedFieldName, 1));
}

#[test]
fn attribute_without_value_is_refused() {
    assert_eq!(
        refused("@title"),
        (Kind::AttributeWithoutValue("title".into()), 0)
    );
    assert_eq!(
        refused("a:1 @risk.is_production"),
        (Kind::AttributeWithoutValue("risk.is_production".into()), 4)
    );
}

#[test]
fn comparisons_need_a_number() {
    assert_eq!(refused("@x:>"), (Kind::ExpectedNumber(">"), 4));
    assert_eq!(refused("@x:>=abc"), (Kind::ExpectedNumber(">="), 5));
    assert_eq!(refused("@x:<NaN"), (Kind::ExpectedNumber("<"), 4));
    assert_eq!(refused("@x:<=inf"), (Kind::ExpectedNumber("<="), 5));
    assert_eq!(refused("@x:> 5"), (Kind::ExpectedNumber(">"), 4));
}

#[test]
fn malformed_ranges_are_refused() {
    assert_eq!(refused("@x:[a TO 5]"), (Kind::ExpectedNumber("["), 4));
    assert_eq!(refused("@x:[1 TO b]"), (Kind::ExpectedNumber("TO"), 9));
    assert_eq!(refused("@x:[1 to 5]"), (Kind::MalformedRange, 6));
    assert_eq!(refused("@x:[1 5]"), (Kind::MalformedRange, 6));
    assert_eq!(refused("@x:[1 TO 5 6]"), (Kind::MalformedRange, 11));
    assert_eq!(refused("@x:[1TO 5]"), (Kind::ExpectedNumber("["), 4));
}

#[test]
fn unterminated_ranges_point_at_the_bracket() {
    assert_eq!(refused("@x:[1 TO 5"), (Kind::UnterminatedRange, 3));
    assert_eq!(refused("@x:[1 TO"), (Kind::UnterminatedRange, 3));
    assert_eq!(refused("@x:["), (Kind::UnterminatedRange, 3));
    assert_eq!(refused("@x:[1"), (Kind::UnterminatedRange, 3));
}

#[test]
fn inverted_range_is_refused() {
    assert_eq!(refused("@x:[10 TO 1]"), (Kind::InvertedRange, 3));
}

#[test]
fn text_glued_after_a_term_is_refused() {
    assert_eq!(refused(r#""a"b"#), (Kind::UnexpectedAfterTerm('b'), 3));
    assert_eq!(refused("foo(bar)"), (Kind::UnexpectedAfterTerm('('), 3));
    assert_eq!(
        refused("@x:[1 TO 2]y"),
        (Kind::UnexpectedAfterTerm('y'), 11)
    );
    assert_eq!(refused("@x:>5("), (Kind::UnexpectedAfterTerm('('), 5));
}

#[test]
fn nesting_deeper_than_the_limit_is_refused() {
    let deep_parens = format!(
        "{}a:1{}",
        "(".repeat(MAX_NESTING + 1),
        ")".repeat(MAX_NESTING + 1)
    );
    assert!(matches!(
        refused(&deep_parens).0,
        Kind::TooDeep(MAX_NESTING)
    ));
    let deep_negation = format!("{}a:1", "-".repeat(MAX_NESTING + 1));
    assert!(matches!(
        refused(&deep_negation).0,
        Kind::TooDeep(MAX_NESTING)
    ));
    // Very deep input is refused, not a stack overflow.
    let very_deep = "(".repeat(100_000);
    assert!(matches!(refused(&very_deep).0, Kind::TooDeep(MAX_NESTING)));
    // Just inside the limit is fine.
    let ok = format!(
        "{}a:1{}",
        "(".repeat(MAX_NESTING - 2),
        ")".repeat(MAX_NESTING - 2)
    );
    assert!(Query::parse(&ok).is_ok());
}

#[test]
fn error_positions_are_char_boundaries_in_unicode_queries() {
    let text = "équipe:é (";
    let err = Query::parse(text).unwrap_err();
    assert_eq!(err.kind, Kind::UnclosedParenthesis);
    assert!(text.is_char_boundary(err.position));
    assert_eq!(&text[err.position..], "(");
}
