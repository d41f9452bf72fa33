//! Numbers in queries and in tag values.
//!
//! Why: `str::parse::<f64>` also accepts `inf`, `NaN`, `+5` and `.5`; a query language needs one
//! strict spelling so that `@x:>NaN` is refused and `Display` output re-parses to the same value.
//! Invariants: [`parse_number`] accepts exactly `-?DIGITS(.DIGITS)?([eE][+-]?DIGITS)?` and only
//! returns finite values; [`with_json_number_text`] never allocates for ordinary numbers.

use std::fmt::Write as _;

/// Parses a number in the query grammar's strict spelling; `None` for anything else.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    if !is_strict_number(text) {
        return None;
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn is_strict_number(text: &str) -> bool {
    let mut rest = text.as_bytes();
    eat_if(&mut rest, |b| b == b'-');
    if eat_digits(&mut rest) == 0 {
        return false;
    }
    if eat_if(&mut rest, |b| b == b'.') && eat_digits(&mut rest) == 0 {
        return false;
    }
    if eat_if(&mut rest, |b| b == b'e' || b == b'E') {
        eat_if(&mut rest, |b| b == b'+' || b == b'-');
        if eat_digits(&mut rest) == 0 {
            return false;
        }
    }
    rest.is_empty()
}

/// Consumes the first byte of `rest` if `wanted` accepts it.
fn eat_if(rest: &mut &[u8], wanted: impl Fn(u8) -> bool) -> bool {
    match rest.split_first() {
        Some((first, tail)) if wanted(*first) => {
            *rest = tail;
            true
        }
        _ => false,
    }
}

/// Consumes leading ASCII digits and returns how many there were.
fn eat_digits(rest: &mut &[u8]) -> usize {
    let mut count = 0;
    while eat_if(rest, |b| b.is_ascii_digit()) {
        count += 1;
    }
    count
}

/// Formats a number for canonical query text. `f64`'s `Display` is the shortest form that
/// round-trips and never uses an exponent, so the result always satisfies [`parse_number`].
pub(crate) fn format_number(n: f64) -> String {
    format!("{n}")
}

/// A small stack buffer for rendering JSON numbers without allocating.
struct StackText {
    buf: [u8; 48],
    len: usize,
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Calls `f` with the JSON text of `n` (as serde_json prints it), using a stack buffer when it
/// fits and a heap string otherwise.
pub(crate) fn with_json_number_text<R>(n: &serde_json::Number, f: impl FnOnce(&str) -> R) -> R {
    let mut text = StackText {
        buf: [0; 48],
        len: 0,
    };
    if write!(text, "{n}").is_ok() {
        if let Some(Ok(s)) = text.buf.get(..text.len).map(std::str::from_utf8) {
            return f(s);
        }
    }
    f(&n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_integers_decimals_negatives_and_exponents() {
        assert_eq!(parse_number("100"), Some(100.0));
        assert_eq!(parse_number("-2.5"), Some(-2.5));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number("1.5E-2"), Some(0.015));
        assert_eq!(parse_number("1738000000000"), Some(1_738_000_000_000.0));
    }

    #[test]
    fn refuses_non_finite_and_loose_spellings() {
        for text in [
            "", "-", "inf", "NaN", "infinity", "+5", ".5", "5.", "1e", "1e+", "0x10", "1_000",
            "5 ", "1e999",
        ] {
            assert_eq!(parse_number(text), None, "{text:?} must be refused");
        }
    }

    #[test]
    fn formatted_numbers_parse_back_to_the_same_value() {
        for n in [0.0, -0.5, 9.5, 1e21, 1e-7, 1_738_000_000_000.0, 123_456.789] {
            assert_eq!(parse_number(&format_number(n)), Some(n), "{n}");
        }
    }

    #[test]
    fn json_number_text_matches_serde_json_display() {
        let n: serde_json::Number = serde_json::from_str("6.4").unwrap();
        assert_eq!(with_json_number_text(&n, str::to_owned), "6.4");
        let n: serde_json::Number = serde_json::from_str("-17").unwrap();
        assert_eq!(with_json_number_text(&n, str::to_owned), "-17");
    }
}
