//! An INI parser with the semantics of the `iniconfig` package pytest uses for `pytest.ini`,
//! `tox.ini` and `setup.cfg`: whole-line `#`/`;` comments, indented continuation lines, no
//! inline-comment stripping in values (pytest parses without it), duplicate names are errors.

use std::collections::BTreeMap;

/// A parse failure: 0-based line number (displayed 1-based, like iniconfig) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniParseError {
    pub line: usize,
    pub message: String,
}

/// Sections in file order, each mapping names to (possibly multi-line) values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IniDocument {
    pub sections: Vec<(String, BTreeMap<String, String>)>,
}

impl IniDocument {
    pub fn section(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

enum Line {
    Blank,
    Section(String),
    Value(String, String),
    Continuation(String),
}

fn is_comment_line(line: &str) -> bool {
    matches!(line.trim_start().chars().next(), Some('#' | ';'))
}

/// Python's `str.strip()` strips Unicode whitespace; Rust's `trim` uses the same property.
fn classify(line: &str, lineno: usize) -> Result<Line, IniParseError> {
    let line = if is_comment_line(line) {
        ""
    } else {
        line.trim_end()
    };
    if line.is_empty() {
        return Ok(Line::Blank);
    }
    if line.starts_with('[') {
        // Section headers may carry a trailing comment.
        let mut head = line;
        for c in ['#', ';'] {
            head = head.split(c).next().unwrap_or("").trim_end();
        }
        if let Some(inner) = head.strip_suffix(']') {
            return Ok(Line::Section(inner[1..].to_string()));
        }
        // iniconfig treats a bracket line without a closing bracket as a continuation.
        return Ok(Line::Continuation(line.trim().to_string()));
    }
    if line.starts_with(char::is_whitespace) {
        return Ok(Line::Continuation(line.trim().to_string()));
    }
    let split = match line.split_once('=') {
        Some((name, value)) if !name.contains(':') => Some((name, value)),
        _ => line.split_once(':'),
    };
    match split {
        Some((name, value)) => Ok(Line::Value(
            name.trim().to_string(),
            value.trim().to_string(),
        )),
        None => Err(IniParseError {
            line: lineno,
            message: format!("unexpected line: {}", py_repr(line)),
        }),
    }
}

/// Python's `repr()` of a string, as iniconfig puts it in messages.
pub(crate) fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Parse INI text. A leading UTF-8 BOM is ignored.
pub fn parse(text: &str) -> Result<IniDocument, IniParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut doc = IniDocument::default();
    // The value being built: (section index, name, lines).
    let mut pending: Option<(usize, String, Vec<String>)> = None;
    let flush = |doc: &mut IniDocument, pending: &mut Option<(usize, String, Vec<String>)>| {
        if let Some((section, name, lines)) = pending.take() {
            if let Some((_, values)) = doc.sections.get_mut(section) {
                values.insert(name, lines.join("\n"));
            }
        }
    };
    for (lineno, raw) in split_lines(text).enumerate() {
        match classify(raw, lineno)? {
            Line::Blank => {}
            Line::Section(name) => {
                flush(&mut doc, &mut pending);
                if name.is_empty() {
                    return Err(IniParseError {
                        line: lineno,
                        message: "empty section name".into(),
                    });
                }
                if doc.section(&name).is_some() {
                    return Err(IniParseError {
                        line: lineno,
                        message: format!("duplicate section {}", py_repr(&name)),
                    });
                }
                doc.sections.push((name, BTreeMap::new()));
            }
            Line::Value(name, value) => {
                flush(&mut doc, &mut pending);
                let Some(section) = doc.sections.len().checked_sub(1) else {
                    return Err(IniParseError {
                        line: lineno,
                        message: "no section header defined".into(),
                    });
                };
                if doc.sections[section].1.contains_key(&name) {
                    return Err(IniParseError {
                        line: lineno,
                        message: format!("duplicate name {}", py_repr(&name)),
                    });
                }
                let lines = if value.is_empty() {
                    Vec::new()
                } else {
                    vec![value]
                };
                // Insert now so a duplicate later in the section is detected even before flush.
                doc.sections[section].1.insert(name.clone(), String::new());
                pending = Some((section, name, lines));
            }
            Line::Continuation(data) => match pending.as_mut() {
                Some((_, _, lines)) => lines.push(data),
                None => {
                    return Err(IniParseError {
                        line: lineno,
                        message: "unexpected value continuation".into(),
                    });
                }
            },
        }
    }
    flush(&mut doc, &mut pending);
    Ok(doc)
}

/// Python's `str.splitlines()` line boundaries for the characters that occur in config files.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find([
            '\n', '\r', '\u{0b}', '\u{0c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}',
            '\u{2029}',
        ]);
        match end {
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
            Some(i) => {
                let line = &rest[..i];
                let sep_len = if rest[i..].starts_with("\r\n") {
                    2
                } else {
                    rest[i..].chars().next().map_or(1, char::len_utf8)
                };
                rest = &rest[i + sep_len..];
                Some(line)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_join_with_newlines_and_keep_inline_comments() {
        let doc =
            parse("[pytest]\naddopts = -q # note\n  -k foo\n\n# full comment\n  ; also\n  more\n")
                .expect("parses");
        let section = doc.section("pytest").expect("section");
        assert_eq!(section["addopts"], "-q # note\n-k foo\nmore");
    }

    #[test]
    fn empty_first_value_line_is_dropped() {
        let doc = parse("[s]\nmarkers =\n    slow: slow\n    fast\n").expect("parses");
        assert_eq!(doc.section("s").expect("s")["markers"], "slow: slow\nfast");
    }

    #[test]
    fn colon_separator_and_equals_precedence() {
        let doc = parse("[s]\na: b=c\nd = e:f\n").expect("parses");
        let s = doc.section("s").expect("s");
        assert_eq!(s["a"], "b=c");
        assert_eq!(s["d"], "e:f");
    }

    #[test]
    fn section_header_comment_is_stripped() {
        let doc = parse("[tool:pytest] # hi\nx=1\n").expect("parses");
        assert!(doc.section("tool:pytest").is_some());
    }

    #[test]
    fn errors_match_iniconfig() {
        assert_eq!(
            parse("x = 1\n").expect_err("invalid"),
            IniParseError {
                line: 0,
                message: "no section header defined".into()
            }
        );
        assert_eq!(
            parse("[a]\n  cont\n").expect_err("invalid").message,
            "unexpected value continuation"
        );
        assert_eq!(
            parse("[a]\nnovalue\n").expect_err("invalid"),
            IniParseError {
                line: 1,
                message: "unexpected line: 'novalue'".into()
            }
        );
        assert_eq!(
            parse("[a]\nx=1\nx=2\n").expect_err("invalid").message,
            "duplicate name 'x'"
        );
        assert_eq!(
            parse("[a]\n[a]\n").expect_err("invalid").message,
            "duplicate section 'a'"
        );
        assert_eq!(
            parse("[]\n").expect_err("invalid").message,
            "empty section name"
        );
    }

    #[test]
    fn bom_and_crlf() {
        let doc = parse("\u{feff}[s]\r\nx = 1\r\n  2\r\n").expect("parses");
        assert_eq!(doc.section("s").expect("s")["x"], "1\n2");
    }
}
