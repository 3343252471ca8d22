//! Python's `str()` of numeric literals and pytest's `ascii_escaped` for IDs.

use std::fmt::Write;

/// Python's `repr(float)` (which is also its `str()`): shortest round-trip digits, fixed
/// notation for exponents in `-4..16`, otherwise `1e+20` style with at least two exponent digits.
pub fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let (sign, digits, exponent) = shortest_digits(value);
    let mut out = String::from(sign);
    if !(-4..16).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{exp_sign}{:02}", exponent.unsigned_abs());
        return out;
    }
    let point = exponent + 1; // digits before the decimal point
    if point <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat(point.unsigned_abs() as usize));
        out.push_str(&digits);
    } else {
        let point = point as usize;
        if point >= digits.len() {
            out.push_str(&digits);
            out.push_str(&"0".repeat(point - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

/// Python's `str()` of an imaginary literal such as `2j` or `1.5j`.
pub fn imaginary_repr(value: f64) -> String {
    let mut text = float_repr(value);
    if text.ends_with(".0") {
        text.truncate(text.len() - 2);
    }
    text.push('j');
    text
}

/// Sign, significant digits and decimal exponent of the shortest round-trip form.
fn shortest_digits(value: f64) -> (&'static str, String, i32) {
    // Rust's `{:e}` prints the shortest round-trip digits, e.g. `-1.25e-7`.
    let text = format!("{value:e}");
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (mantissa, exponent) = rest.split_once('e').unwrap_or((rest, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    (sign, digits, exponent.parse().unwrap_or(0))
}

/// pytest's `ascii_escaped` for `str`: `unicode_escape` encoding (so `\` doubles and non-ASCII
/// becomes `\xe9`, `\u2603`, `\U0001f600`), then control characters as `\t`, `\n`, `\r`, `\xNN`.
pub fn ascii_escape_str(value: &str) -> String {
    if value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'\\')
    {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        let code = c as u32;
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ if (0x20..0x7f).contains(&code) => out.push(c),
            _ if code < 0x100 => {
                let _ = write!(out, "\\x{code:02x}");
            }
            _ if code < 0x10000 => {
                let _ = write!(out, "\\u{code:04x}");
            }
            _ => {
                let _ = write!(out, "\\U{code:08x}");
            }
        }
    }
    out
}

/// pytest's `ascii_escaped` for `bytes`: non-ASCII bytes as `\xNN` (backslashes are NOT
/// doubled), then control characters as `\t`, `\n`, `\r`, `\xNN`.
pub fn ascii_escape_bytes(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for &b in value {
        match b {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_follow_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345.6, "123456789012345.6"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e-7, "1.5e-07"),
            (-0.0, "-0.0"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "{value:?}");
        }
        assert_eq!(imaginary_repr(2.0), "2j");
        assert_eq!(imaginary_repr(1.5), "1.5j");
        assert_eq!(imaginary_repr(1e20), "1e+20j");
    }

    #[test]
    fn strings_escape_like_pytest() {
        assert_eq!(ascii_escape_str("plain"), "plain");
        assert_eq!(ascii_escape_str("é\t\\"), "\\xe9\\t\\\\");
        assert_eq!(
            ascii_escape_str("\u{2603}\u{1f600}\x00\x7f"),
            "\\u2603\\U0001f600\\x00\\x7f"
        );
        assert_eq!(ascii_escape_bytes(b"\xff\\\n\x01a"), "\\xff\\\\n\\x01a");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Python's repr is the shortest string that reads back as the same float.
        #[test]
        fn float_repr_round_trips(bits in any::<u64>()) {
            let value = f64::from_bits(bits);
            prop_assume!(value.is_finite());
            let text = float_repr(value);
            prop_assert_eq!(text.parse::<f64>().ok().map(f64::to_bits), Some(bits));
            prop_assert!(text.contains('.') || text.contains('e'), "{}", text);
        }

        /// Escaped IDs are printable ASCII, and ASCII-printable input without backslashes is
        /// left alone.
        #[test]
        fn escaped_ids_are_printable_ascii(text in any::<String>()) {
            let escaped = ascii_escape_str(&text);
            prop_assert!(escaped.bytes().all(|b| (0x20..0x7f).contains(&b)));
            if text.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\\') {
                prop_assert_eq!(escaped, text);
            }
        }
    }
}
